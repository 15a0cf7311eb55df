"""The `swarm` target: a replicated service, start-first rolling updates that swarm itself rolls back.

Readiness is the tasks' health check (a task takes traffic only when /readyz answers); the update
monitor holds each new task (the first one is the canary) and `failure_action: rollback` undoes a
failing update. Before that, the candidate is gated as a plain container on the manager (examples,
latency), and after it the service URL is checked again; a failure there puts the previous release back.
"""

from __future__ import annotations

import time
from typing import Any

from mlship import labels
from mlship.deploy.gate import run_gate
from mlship.deploy.images import ImageInfo
from mlship.deploy.state import ROLE, Release, TargetState, read_labels, release_labels
from mlship.deploy.targets import containers, proxy
from mlship.deploy.targets.base import RolloutResult, Target
from mlship.engine import docker_client
from mlship.errors import DeployError, UnreachableError

# The edge proxy's config, hashed: a proxy with another one is replaced.
EDGE_CONFIG = "io.mlship.edge-config"
SECOND = 1_000_000_000
HEALTH = (
    "python3 -c 'import os,urllib.request;"
    'urllib.request.urlopen("http://127.0.0.1:%s/readyz" % os.environ.get("PORT","8080"),timeout=3)\''
)


class SwarmTarget(Target):
    kind = "swarm"

    def __init__(self, context):  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.client = docker_client()
        if not self.client.info().get("Swarm", {}).get("ControlAvailable"):
            raise UnreachableError(
                "the docker engine is not a swarm manager",
                hint="run `docker swarm init` (one node is enough) or point DOCKER_HOST at a manager",
            )

    def _service(self) -> Any | None:
        from docker.errors import NotFound

        try:
            return self.client.services.get(self.ctx.name)
        except NotFound:
            return None

    def state(self) -> TargetState:
        service = self._service()
        if service is None:
            return TargetState(self.ctx.environment, self.kind, None, detail="nothing deployed")
        spec = service.attrs["Spec"]
        current, history = read_labels(spec.get("Labels"))
        tasks = service.tasks(filters={"desired-state": "running"})
        running = sum(1 for t in tasks if t["Status"]["State"] == "running")
        update = (service.attrs.get("UpdateStatus") or {}).get("State", "")
        return TargetState(
            environment=self.ctx.environment,
            target=self.kind,
            current=current,
            history=history,
            url=self.ctx.url,
            replicas_running=running,
            replicas_desired=spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0),
            detail=f"service {service.name}" + (f", update {update}" if update else ""),
        )

    def check_image(self, image: ImageInfo) -> None:
        """The log directory the tasks mount is ready for the image's user: before the service changes.
        The default directory (under the project) exists on this machine only: on a swarm of several
        nodes the tasks keep their log unless environments.X.log_dir names storage every node has."""
        nodes = self.client.info().get("Swarm", {}).get("Nodes") or 1
        if self.ctx.env.log_dir is None and nodes > 1:
            self.ctx.report(
                f"{nodes} swarm nodes: set environments.{self.ctx.environment}.log_dir to keep the log"
            )
            self.ctx.log_dir = None
        containers.prepare_log_dir(self.client, self.ctx, image.ref)

    def rollout(self, image: ImageInfo, release: Release, strategy: str) -> RolloutResult:
        service = self._service()
        previous, history = read_labels(service.attrs["Spec"].get("Labels") if service else None)
        values = release_labels(self.ctx.project, self.ctx.environment, release, history)
        result = RolloutResult(release=release, url=self.ctx.url, replaced=previous)
        if self.ctx.env.gate.preflight:
            gate = containers.gate_candidate(self.client, self.ctx, image.ref, values)
            result.gates.append(gate)
            if not gate.passed:
                raise _failed(release, previous, gate.failure(), "the service was not touched")
        try:
            problem = self._roll_service(service, image, values, strategy, result)
        except BaseException as exc:
            # The engine refused the spec, the edge proxy did not start, a bug, Ctrl-C: restore first.
            self._restore(self._service(), previous, history)
            if not isinstance(exc, Exception):
                raise
            problem = getattr(exc, "message", None) or _engine_problem(exc)
        if problem is not None:
            self._restore(self._service(), previous, history)
            raise _failed(release, previous, problem, "swarm rolled the service back")
        return result

    def _roll_service(
        self, service: Any, image: ImageInfo, values: dict[str, str], strategy: str, result: RolloutResult
    ) -> str | None:
        """Create or update the service and gate its URL; the problem, or None when it serves."""
        if self.ctx.env.publish == "edge":
            self._ensure_edge()
        spec = self._spec(image.ref, values, strategy)
        if service is None:
            self.ctx.report(f"creating service {self.ctx.name} ({self.ctx.env.replicas} replicas)")
            service = self.client.services.create(**spec)
            problem = self._wait_created(service)
        else:
            self.ctx.report(f"updating service {self.ctx.name} ({strategy})")
            problem = self._update(service, spec)
        if problem is None:
            gate = run_gate(self.ctx.url, self.ctx.env.gate, self.ctx.examples, ready_timeout=30)
            result.gates.append(gate)
            problem = None if gate.passed else gate.failure()
        return problem

    def _spec(self, ref: str, values: dict[str, str], strategy: str) -> dict[str, Any]:
        from docker.types import (
            EndpointSpec,
            Healthcheck,
            Mount,
            Resources,
            RestartPolicy,
            RollbackConfig,
            ServiceMode,
            UpdateConfig,
        )

        env, gate = self.ctx.env, self.ctx.env.gate
        # The canary is the first task updated, held for the whole monitor period under traffic;
        # a rolling update only waits long enough to catch a task that crashes right after start.
        monitor = gate.monitor_seconds if strategy == "canary" else min(gate.monitor_seconds, 2.0)
        order = "stop-first" if strategy == "recreate" else "start-first"
        update = UpdateConfig(
            parallelism=1,
            delay=int(env.update_delay * SECOND),
            failure_action="rollback",
            monitor=int(monitor * SECOND),
            max_failure_ratio=0,
            order=order,
        )
        rollback = RollbackConfig(parallelism=1, failure_action="pause", monitor=SECOND, order=order)
        res = env.resources
        resources = Resources(
            cpu_limit=int(res.cpu * SECOND) if res.cpu else None,
            mem_limit=containers.memory_bytes(res.memory),
            generic_resources={"NVIDIA-GPU": res.gpus} if res.gpus else None,
        )
        if env.publish == "edge":
            endpoint = EndpointSpec(mode="dnsrr")
        else:
            endpoint = EndpointSpec(ports={self.ctx.public_port: self.ctx.container_port})
        mounts = [Mount(containers.LOG_MOUNT, self.ctx.log_dir, type="bind")] if self.ctx.log_dir else []
        return dict(
            image=ref,
            name=self.ctx.name,
            labels=values,
            # deployed-at on the tasks makes every deploy a task update, so the update status moves.
            container_labels={k: values[k] for k in (labels.PROJECT, labels.ENVIRONMENT, labels.DEPLOYED_AT)},
            env=[f"{k}={v}" for k, v in containers.runtime_env(self.ctx).items()],
            mode=ServiceMode("replicated", replicas=env.replicas),
            update_config=update,
            rollback_config=rollback,
            healthcheck=Healthcheck(
                test=["CMD-SHELL", HEALTH],
                interval=SECOND,
                timeout=3 * SECOND,
                retries=3,
                start_period=int(gate.readiness_timeout * SECOND),
            ),
            restart_policy=RestartPolicy(condition="any", delay=SECOND),
            resources=resources,
            endpoint_spec=endpoint,
            networks=[self._network_name()] if env.publish == "edge" else [],
            mounts=mounts,
            stop_grace_period=10 * SECOND,
        )

    def _update(self, service: Any, spec: dict[str, Any]) -> str | None:
        before = (service.attrs.get("UpdateStatus") or {}).get("StartedAt")
        spec = {k: v for k, v in spec.items() if k != "name"}
        service.update(**spec)
        deadline = time.monotonic() + self.ctx.env.rollout_timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            service.reload()
            status = service.attrs.get("UpdateStatus") or {}
            if status.get("StartedAt") == before:
                continue
            state = status.get("State")
            self.ctx.report(f"update {state}: {status.get('Message', '')}")
            if state == "completed":
                return None
            if state in ("rollback_completed", "rollback_paused", "paused"):
                return f"swarm stopped the update ({status.get('Message', state)})"
        return f"the update did not finish within {self.ctx.env.rollout_timeout:g}s"

    def _wait_created(self, service: Any) -> str | None:
        deadline = time.monotonic() + self.ctx.env.rollout_timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            tasks = service.tasks()
            running = [
                t for t in tasks if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
            ]
            failed = [t for t in tasks if t["Status"]["State"] in ("failed", "rejected")]
            self.ctx.report(f"{len(running)}/{self.ctx.env.replicas} tasks running")
            if len(running) >= self.ctx.env.replicas:
                return None
            if len(failed) >= 2 * self.ctx.env.replicas:
                last = failed[-1]["Status"]
                return f"tasks keep failing: {last.get('Err') or last.get('Message')}"
        return f"the service did not start within {self.ctx.env.rollout_timeout:g}s"

    def _restore(self, service: Any | None, previous: Release | None, history: list[Release]) -> None:
        """Put the previous release back (swarm may already have; a refused update changed nothing);
        a first deploy leaves nothing. A restore that fails is reported, never raised over the cause."""
        try:
            if service is None:
                return
            if previous is None:
                service.remove()
                return
            service.reload()
            if service.attrs["Spec"].get("Labels", {}).get(labels.IMAGE_DIGEST) == previous.digest:
                return  # swarm's own failure_action already rolled back, or the update never applied
            values = release_labels(self.ctx.project, self.ctx.environment, previous, history[:-1])
            self._update(service, self._spec(previous.image, values, "rolling"))
        except Exception as exc:
            self.ctx.report(f"could not restore the previous release: {_engine_problem(exc)}")

    def _network_name(self) -> str:
        return f"{self.ctx.name}-net"

    def _ensure_edge(self) -> None:
        """The edge proxy (HAProxy, the docker target's image) and the overlay network it shares with
        the tasks. A proxy whose config no longer fits (replicas changed, an older mlship's edge) is
        replaced: the only moment this proxy itself is not answering."""
        import hashlib

        from docker.errors import APIError, NotFound

        network = self._network_name()
        if not self.client.networks.list(names=[network]):
            self.client.networks.create(
                network,
                driver="overlay",
                attachable=True,
                labels={labels.PROJECT: self.ctx.project, labels.ENVIRONMENT: self.ctx.environment},
            )
        slots = 2 * self.ctx.env.replicas + 2  # a start-first update runs one task more than replicas
        config = proxy.render_config(self.ctx, [], service=self.ctx.name, slots=slots)
        image = proxy.ensure_image(self.client, self.ctx.proxy_base, self.ctx.report)
        digest = hashlib.sha256(f"{image}\n{config}".encode()).hexdigest()[:16]
        name = f"{self.ctx.name}-edge"
        try:
            edge = self.client.containers.get(name)
            if edge.labels.get(EDGE_CONFIG) == digest:
                if edge.status != "running":
                    edge.start()
                return
            self.ctx.report(f"replacing the edge proxy {name} (its config changed)")
            edge.remove(force=True)
        except NotFound:
            pass
        self.ctx.report(f"starting the edge proxy (HAProxy) on port {self.ctx.public_port}")
        edge = self.client.containers.create(
            image,
            name=name,
            detach=True,
            network=network,
            ports={f"{proxy.LISTEN_PORT}/tcp": self.ctx.public_port},
            labels={
                labels.PROJECT: self.ctx.project,
                labels.ENVIRONMENT: self.ctx.environment,
                ROLE: "edge",
                EDGE_CONFIG: digest,
            },
            restart_policy={"Name": "unless-stopped"},
        )
        try:
            proxy.write_config(edge, config)
            edge.start()
        except APIError as exc:
            edge.remove(force=True)  # a container that never started must not linger as `Created`
            raise proxy.port_error(self.ctx, str(exc)) from None


def _engine_problem(exc: BaseException) -> str:
    """An engine refusal in its own words (docker's explanation), else the exception."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation) if explanation else f"{type(exc).__name__}: {exc}"


def _failed(release: Release, previous: Release | None, problem: str, what: str) -> DeployError:
    keeps = f"version {previous.version} keeps serving" if previous else "nothing was serving before"
    return DeployError(
        f"version {release.version} failed ({problem}); {what}, {keeps}",
        hint="`mlship status` shows what runs; `mlship history` shows the attempt",
    )
