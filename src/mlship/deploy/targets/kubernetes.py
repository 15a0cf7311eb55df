"""The `kubernetes` target: Deployment + Service rendered from templates/deploy, applied with kubectl.

Readiness is the pods' readinessProbe on /readyz; a canary is a second Deployment (same Service
selector, so its share of traffic is its share of ready pods) held for the monitor period before the
stable Deployment follows. A failed rollout is undone with `kubectl rollout undo`. Release records
live in the Deployment's annotations, so `status`/`history` read the cluster, not this machine.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from typing import Any

from mlship import proc
from mlship.deploy.images import ImageInfo
from mlship.deploy.state import Release, TargetState, read_labels, release_labels
from mlship.deploy.targets.base import RolloutResult, Target
from mlship.errors import DeployError, InputError, ProcessError, UnreachableError


class KubernetesTarget(Target):
    kind = "kubernetes"

    @property
    def namespace(self) -> str:
        return self.ctx.env.namespace or "default"

    def check_image(self, image: ImageInfo) -> None:
        if "@" not in image.ref:
            raise InputError(
                f"kubernetes pulls images from a registry; {image.ref[:19]} is only on this engine",
                hint=f"set environments.{self.ctx.environment}.registry in mlship.yaml",
            )

    # -- rendering (pure: tested offline against the Kubernetes schemas) --------------------------

    def render(
        self, release: Release, strategy: str, history: list[Release], track: str = "stable"
    ) -> list[str]:
        """The manifests (YAML text): Deployment for `track`, and the Service."""
        import jinja2

        from mlship.templates_dir import templates_dir

        env = self.ctx.env
        loader = jinja2.FileSystemLoader(str(templates_dir() / "deploy"))
        jinja = jinja2.Environment(
            loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        )
        canary = track == "canary"
        values = {
            "name": self.ctx.name,
            "deployment": f"{self.ctx.name}-canary" if canary else self.ctx.name,
            "namespace": self.namespace,
            "environment": _label_value(self.ctx.environment),
            "track": track,
            "release": {**release.to_dict(), "version": _label_value(release.version)},
            "annotations": release_labels(self.ctx.project, self.ctx.environment, release, history),
            "replicas": self._canary_replicas() if canary else env.replicas,
            "strategy": strategy,
            "container_port": self.ctx.container_port,
            "port": self.ctx.public_port,
            "env": {"PORT": str(self.ctx.container_port), "MLSHIP_ENVIRONMENT": self.ctx.environment},
            "gpus": env.resources.gpus,
            "node_selector": self._node_selector(),
            "requests": self._resources(limits=False),
            "limits": self._resources(limits=True),
            "min_ready_seconds": int(env.gate.monitor_seconds) if canary else 0,
            "progress_deadline": max(60, int(env.rollout_timeout)),
            "startup_failures": max(3, int(env.gate.readiness_timeout / 2)),
        }
        deployment = jinja.get_template("deployment.yaml.j2").render(**values)
        return [deployment, jinja.get_template("service.yaml.j2").render(**values)]

    def _canary_replicas(self) -> int:
        return max(1, round(self.ctx.env.replicas * self.ctx.env.canary_weight / 100))

    def _node_selector(self) -> dict[str, str]:
        selector = dict(self.ctx.env.node_selector)
        if self.ctx.env.resources.gpus:
            # GPU nodes carry this label from NVIDIA's GPU feature discovery / GPU operator.
            selector.setdefault("nvidia.com/gpu.present", "true")
        return selector

    def _resources(self, *, limits: bool) -> dict[str, Any]:
        res = self.ctx.env.resources
        out: dict[str, Any] = {}
        if res.cpu:
            out["cpu"] = f"{int(res.cpu * 1000)}m"
        if res.memory:
            out["memory"] = res.memory
        if res.gpus and limits:
            out["nvidia.com/gpu"] = res.gpus  # extended resources go in limits (requests default to them)
        return out

    # -- the cluster ---------------------------------------------------------------------------------

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60) -> str:
        binary = shutil.which("kubectl")
        if binary is None:
            raise UnreachableError("kubectl is not installed", hint="install kubectl and configure a context")
        argv = [binary, "--namespace", self.namespace]
        if self.ctx.env.context:
            argv += ["--context", self.ctx.env.context]
        argv += list(args)
        try:
            done = proc.run(argv, stdin=stdin, timeout=timeout, check=False)
        except ProcessError as exc:
            message = f"`kubectl {' '.join(args)}`: {exc.message}"
            raise UnreachableError(message, details=exc.details) from None
        if check and done.returncode != 0:
            output = done.stderr or done.stdout
            if "Unable to connect" in output or "connection refused" in output:
                raise UnreachableError(
                    "cannot reach the Kubernetes API server", details=output.strip()[-500:]
                )
            raise ProcessError.from_process(argv, done.returncode, output)
        return done.stdout

    def _deployment(self, name: str) -> dict[str, Any] | None:
        out = self.kubectl("get", "deployment", name, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None

    def state(self) -> TargetState:
        found = self._deployment(self.ctx.name)
        if found is None:
            return TargetState(self.ctx.environment, self.kind, None, detail="nothing deployed")
        current, history = read_labels(found["metadata"].get("annotations"))
        status = found.get("status", {})
        return TargetState(
            environment=self.ctx.environment,
            target=self.kind,
            current=current,
            history=history,
            url=self.ctx.env.host
            and self.ctx.url
            or f"http://{self.ctx.name}.{self.namespace}.svc:{self.ctx.public_port}",
            replicas_running=status.get("readyReplicas", 0),
            replicas_desired=found["spec"].get("replicas", 0),
            detail=f"deployment {self.ctx.name} in {self.namespace}",
        )

    def _apply(self, manifests: list[str]) -> None:
        self.kubectl("apply", "-f", "-", stdin="---\n".join(manifests))

    def _wait(self, deployment: str) -> str | None:
        timeout = f"{int(self.ctx.env.rollout_timeout)}s"
        try:
            self.kubectl(
                "rollout",
                "status",
                f"deployment/{deployment}",
                f"--timeout={timeout}",
                timeout=self.ctx.env.rollout_timeout + 30,
            )
        except ProcessError as exc:
            return exc.details or exc.message
        return None

    def _preflight(self, image: ImageInfo, release: Release, previous, history, result) -> None:  # type: ignore[no-untyped-def]
        """The contract examples and latency on a local candidate container, when an engine is here:
        the cluster's probes only cover readiness."""
        from mlship.deploy.targets.containers import gate_candidate
        from mlship.engine import docker_client

        if not self.ctx.env.gate.preflight:
            return
        try:
            client = docker_client()
            from mlship.deploy.images import local_image

            local_image(client, image.ref)
        except (UnreachableError, InputError) as exc:
            result.notes.append(f"preflight gate skipped: {exc.message}")
            return
        values = release_labels(self.ctx.project, self.ctx.environment, release, history)
        gate = gate_candidate(client, self.ctx, image.ref, values)
        result.gates.append(gate)
        if not gate.passed:
            raise _failed(release, previous, gate.failure(), "the cluster was not touched")

    def rollout(self, image: ImageInfo, release: Release, strategy: str) -> RolloutResult:
        found = self._deployment(self.ctx.name)
        previous, history = read_labels(found["metadata"].get("annotations") if found else None)
        result = RolloutResult(release=release, url=self.ctx.url, replaced=previous)
        self._preflight(image, release, previous, history, result)
        try:
            problem = self._roll_out(release, strategy, history, found is not None)
        except BaseException as exc:
            # A kubectl that failed (or hung, or Ctrl-C) mid-rollout: no canary left, the old ReplicaSet back.
            self._undo(previous)
            if not isinstance(exc, Exception):
                raise
            problem = _problem(exc)
            raise _failed(release, previous, problem, "the rollout was undone") from exc
        if problem is not None:
            self._undo(previous)
            raise _failed(release, previous, problem, "kubectl rolled the Deployment back")
        return result

    def _roll_out(self, release: Release, strategy: str, history: list[Release], existed: bool) -> str | None:
        """The canary first (when asked and something runs), then the stable Deployment; the problem."""
        if strategy == "canary" and existed:
            self.ctx.report(f"canary: {self._canary_replicas()} pod(s) of {release.version}")
            self._apply(self.render(release, strategy, history, track="canary")[:1])
            problem = self._wait(f"{self.ctx.name}-canary")
            if problem is None:
                time.sleep(self.ctx.env.gate.monitor_seconds)
                problem = self._wait(f"{self.ctx.name}-canary")
            if problem is not None:
                return f"the canary: {problem}"
        self._apply(self.render(release, strategy, history))
        problem = self._wait(self.ctx.name)
        self.kubectl("delete", "deployment", f"{self.ctx.name}-canary", "--ignore-not-found")
        return problem

    def _undo(self, previous: Release | None) -> None:
        """Remove the canary; a stable Deployment that holds the new release goes back one revision
        (a first deploy: removed). Every step runs even when one fails, and none hides the cause."""

        def step(*args: str) -> Any:
            try:
                return self.kubectl(*args)
            except Exception as exc:
                self.ctx.report(f"`kubectl {' '.join(args)}` failed too: {_problem(exc)}")
                return None

        step("delete", "deployment", f"{self.ctx.name}-canary", "--ignore-not-found")
        if previous is None:
            step("delete", "deployment,service", self.ctx.name, "--ignore-not-found")
            return
        try:
            found = self._deployment(self.ctx.name)
        except Exception:
            found = None  # cannot tell: undo, which is right whenever the new release was applied
        current, _ = read_labels(found["metadata"].get("annotations") if found else None)
        if current is not None and current.digest == previous.digest:
            return  # the stable Deployment was never changed
        if step("rollout", "undo", f"deployment/{self.ctx.name}") is not None:
            self._wait(self.ctx.name)


def _problem(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    details = getattr(exc, "details", None)
    return f"{message}: {details.strip().splitlines()[-1]}" if details else message


def _label_value(text: str) -> str:
    """Kubernetes label values: at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63].strip("-_.") or "unknown"


def _failed(release: Release, previous: Release | None, problem: str, what: str) -> DeployError:
    keeps = f"version {previous.version} keeps serving" if previous else "nothing was serving before"
    return DeployError(
        f"version {release.version} did not become ready ({problem.strip()[-300:]}); {what}, {keeps}",
        hint="`kubectl describe deployment` shows why; `mlship status` shows what runs",
    )
