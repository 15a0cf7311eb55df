"""The `docker` target: model containers on one engine behind an HAProxy container that never drops a request.

rolling: the new version starts beside the old one and is gated on its own loopback port; then the
proxy adds it (only once its /readyz answers), drains the old one (the requests in flight finish),
and the old container stops. canary: the proxy first sends `canary_weight`% of live traffic to the
new version for `gate.monitor_seconds`, compares its error rate and latency with the stable one's,
then promotes or rolls back. recreate: the old container stops first (for hosts where two copies
do not fit, e.g. one GPU), so requests wait or fail until the new one is ready. Whatever fails after
the first change (the gate, the engine, the proxy, a bug), `_restore` puts the old containers back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from typing import Any

from mlship import labels
from mlship.deploy.gate import GateResult, run_gate
from mlship.deploy.images import ImageInfo
from mlship.deploy.state import ROLE, Release, TargetState, read_labels, release_labels
from mlship.deploy.targets import containers
from mlship.deploy.targets.base import RolloutResult, Target
from mlship.deploy.targets.proxy import BACKEND, Proxy, Server, network_name
from mlship.engine import docker_client
from mlship.errors import DeployError, UsageError

DRAIN_SECONDS = 30.0
# The canary fails when its error rate is this much above the stable one's (fractions), or when its
# mean response time is more than LATENCY_FACTOR times the stable one's (and LATENCY_SLACK_MS more).
ERROR_MARGIN = 0.01
LATENCY_FACTOR = 2.0
LATENCY_SLACK_MS = 20


class DockerTarget(Target):
    kind = "docker"

    def __init__(self, context):  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.client = docker_client()
        self.proxy = Proxy(self.client, context)

    def _models(self) -> list[Any]:
        """This environment's model containers, newest first."""
        found = self.client.containers.list(
            all=True,
            filters={
                "label": [
                    f"{labels.PROJECT}={self.ctx.project}",
                    f"{labels.ENVIRONMENT}={self.ctx.environment}",
                    f"{ROLE}=live",
                ]
            },
        )
        found.sort(key=lambda c: c.attrs.get("Created", ""), reverse=True)
        return found

    def _routed(self) -> dict[str, Server]:
        """The proxy's servers by name; empty when there is no running proxy."""
        proxy = self.proxy.container()
        if proxy is None or proxy.status != "running":
            return {}
        try:
            return {s.name: s for s in self.proxy.servers()}
        except DeployError:
            return {}

    def state(self) -> TargetState:
        models = self._models()
        routed = self._routed()
        serving = [m for m in models if m.name in routed and routed[m.name].weight > 0]
        live = serving[0] if serving else (models[0] if models else None)
        if len(serving) > 1:  # a canary is running: report the split by the release each serves
            canary, stable = serving[0], serving[-1]
            share = round(100 * routed[canary.name].weight / sum(routed[m.name].weight for m in serving))
            current, history = read_labels(stable.labels)
            version = canary.labels.get(labels.VERSION, "?")
            detail = (
                f"canary {version} takes {share}% of requests, {current.version if current else '?'} the rest"
            )
        else:
            current, history = read_labels(live.labels if live is not None else None)
            detail = f"container {live.name} {live.status}" if live is not None else "nothing deployed"
        ready = sum(1 for m in serving if m.status == "running" and routed[m.name].status.startswith("UP"))
        if live is not None and not routed:
            detail += "; the proxy is not running"
        return TargetState(
            environment=self.ctx.environment,
            target=self.kind,
            current=current,
            history=history,
            url=self.ctx.url if live is not None else None,
            replicas_running=min(ready, 1),
            replicas_desired=1 if live is not None else 0,
            detail=detail,
        )

    def preflight(self) -> None:
        """The service port must be ours (our proxy or an older container of ours) or free."""
        if self.proxy.container() is not None:
            return
        port = self.ctx.public_port
        ours = {c.id for c in self._models()}
        for container in self.client.containers.list():
            if container.id in ours:
                continue
            for bindings in ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).values():
                if any(str(b.get("HostPort")) == str(port) for b in bindings or []):
                    raise _port_taken(self.ctx.environment, port, f"by the container {container.name}")
        if self.ctx.host in ("127.0.0.1", "localhost") and not os.environ.get("DOCKER_HOST"):
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("0.0.0.0", port))
                except OSError:
                    if not ours:
                        raise _port_taken(self.ctx.environment, port, "by another process") from None

    def check_image(self, image: ImageInfo) -> None:
        """The image is here (or pulled) and its user can write the log directory: before anything stops."""
        containers.prepare_log_dir(self.client, self.ctx, image.ref)

    def rollout(self, image: ImageInfo, release: Release, strategy: str) -> RolloutResult:
        models = self._models()
        routed = self._routed()
        olds = [m for m in models if not routed or m.name in routed]
        for leftover in (m for m in models if m not in olds):  # of a deploy that was interrupted
            containers.remove(leftover)
        previous, history = read_labels(self._stable(olds, routed).labels if olds else None)
        values = {**release_labels(self.ctx.project, self.ctx.environment, release, history), ROLE: "live"}
        result = RolloutResult(release=release, url=self.ctx.url, replaced=previous)
        try:
            if strategy == "recreate":
                self._recreate(olds, image, values, result)
            else:
                self._replace(olds, image, values, result, strategy)
        except BaseException as exc:
            # Whatever broke (the engine, the proxy, a bug, Ctrl-C): the previous release serves again.
            restored = self._restore(olds)
            if getattr(exc, "explained", False) or not isinstance(exc, Exception):
                raise
            problem = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            raise _failed(release, previous, problem, restored, getattr(exc, "hint", None)) from exc
        return result

    def _replace(
        self, olds: list[Any], image: ImageInfo, values: dict[str, str], result: RolloutResult, strategy: str
    ) -> None:
        """rolling and canary: the new version is gated beside the old one before it takes traffic."""
        release, previous = result.release, result.replaced
        new, gate = self._start_gated(image, values)
        result.gates.append(gate)
        if not gate.passed:
            raise _failed(release, previous, gate.failure(), "its container was removed", gated=True)
        try:
            self._take_over(olds)
            if strategy == "canary" and olds:
                self._canary(new, olds, result)
            else:
                self.proxy.add(new.name, _address(new, self.ctx), 100)
        except DeployError as exc:
            containers.remove(new)
            raise _failed(release, previous, exc.message, "its container was removed", exc.hint) from None
        self._retire(new, olds, result)

    def _restore(self, olds: list[Any]) -> str:
        """Remove what this rollout started; the old containers run and take all traffic again."""
        keep = {m.id for m in olds}
        try:
            for container in self._models():
                if container.id not in keep:
                    with contextlib.suppress(DeployError):
                        self.proxy.remove(container.name, drain_timeout=0)
                    containers.remove(container)
            if not olds:
                return "its container was removed"
            routed = self._routed()
            proxied = bool(routed) or not any(_publishes(m, self.ctx.public_port) for m in olds)
            for old in olds:
                old.reload()
                if old.status != "running":
                    self.ctx.report(f"starting {old.name} again")
                    old.start()
                if not proxied:
                    continue
                if old.name in routed:
                    self.proxy.set_weight(old.name, 100)
                    self.proxy.command(f"set server {BACKEND}/{old.name} state ready")
                else:
                    wait = self.ctx.env.gate.readiness_timeout
                    self.proxy.add(old.name, _address(old, self.ctx), 100, timeout=wait)
        except Exception as exc:  # the restore must never hide the failure that caused it
            self.ctx.report(f"could not fully restore the previous version: {exc}")
            return f"restoring the previous version failed too ({exc}); `mlship status` shows what runs"
        return "the previous version was put back"

    # -- steps ------------------------------------------------------------------------------------

    def _start_gated(self, image: ImageInfo, values: dict[str, str]) -> tuple[Any, GateResult]:
        """The new version's container, on the proxy's network and a loopback port, through the gate."""
        name = f"{self.ctx.name}-{image.digest.split(':')[-1][:12]}-{uuid.uuid4().hex[:4]}"
        self.ctx.report(f"starting {name} beside the running version")
        network = self.proxy.ensure_network()
        new = containers.run_container(
            self.client,
            self.ctx,
            image.ref,
            name=name,
            labels=values,
            port=None,
            network=network,
            restart=True,
        )
        try:
            url = containers.published_url(new, self.ctx)
            gate = run_gate(url, self.ctx.env.gate, self.ctx.examples, alive=containers.alive_check(new))
        except DeployError as exc:
            gate = GateResult(False, "", [{"check": "start", "passed": False, "detail": exc.message}])
        if not gate.passed:
            containers.remove(new)
        return new, gate

    def _take_over(self, olds: list[Any]) -> None:
        """The running proxy; containers of an older mlship that published the port themselves stop."""
        legacy = [m for m in olds if _publishes(m, self.ctx.public_port)]
        for container in legacy:
            self.ctx.report(f"stopping {container.name}, which published the port without a proxy")
            container.stop(timeout=10)
        try:
            self.proxy.ensure(self.ctx.proxy_base)
        except DeployError:
            for container in legacy:
                container.start()
            raise

    def _canary(self, new: Any, olds: list[Any], result: RolloutResult) -> None:
        weight = self.ctx.env.canary_weight
        hold = self.ctx.env.gate.monitor_seconds
        stable = [m for m in olds if m.name in self._routed()]
        before = self._routed()
        # The stable side first: while it is alone its weight changes nothing, and `status` never sees a
        # split other than the configured one.
        for old in stable:
            self.proxy.set_weight(old.name, 100 - weight)
        self.proxy.add(new.name, _address(new, self.ctx), weight)
        self.ctx.report(f"canary: {weight}% of requests to the new version for {hold:g}s")
        time.sleep(hold)
        after = self._routed()
        check = compare(before, after, new.name, [m.name for m in stable])
        result.gates.append(GateResult(check["passed"], self.ctx.url, [check]))
        if not check["passed"]:
            for old in stable:
                self.proxy.set_weight(old.name, 100)
            self.proxy.remove(new.name, DRAIN_SECONDS)
            raise DeployError(f"the canary did worse than the stable version: {check['detail']}")
        self.proxy.set_weight(new.name, 100)

    def _retire(self, new: Any, olds: list[Any], result: RolloutResult) -> None:
        """Drain the old versions out of the proxy, check the service URL, then stop them."""
        for old in olds:
            self.proxy.remove(old.name, DRAIN_SECONDS)
        quick = self.ctx.env.gate.model_copy(update={"latency_p99_ms": None})
        gate = run_gate(
            self.ctx.url, quick, self.ctx.examples, alive=containers.alive_check(new), ready_timeout=10
        )
        result.gates.append(gate)
        if not gate.passed:
            for old in olds:
                with contextlib.suppress(DeployError):
                    self.proxy.add(old.name, _address(old, self.ctx), 100)
            self.proxy.remove(new.name, DRAIN_SECONDS)
            containers.remove(new)
            raise _failed(
                result.release,
                result.replaced,
                gate.failure(),
                "the previous version was put back",
                gated=True,
            )
        for old in olds:
            self.ctx.report(f"stopping {old.name}")
            with contextlib.suppress(Exception):
                old.stop(timeout=10)
            containers.remove(old)

    def _recreate(
        self, olds: list[Any], image: ImageInfo, values: dict[str, str], result: RolloutResult
    ) -> None:
        """The old version stops first; any failure after that starts it again (rollout's restore)."""
        self._take_over(olds)
        for old in olds:
            self.proxy.remove(old.name, DRAIN_SECONDS)
            self.ctx.report(f"stopping {old.name}")
            old.stop(timeout=10)
        new, gate = self._start_gated(image, values)
        result.gates.append(gate)
        if not gate.passed:
            removed = "its container was removed"
            raise _failed(result.release, result.replaced, gate.failure(), removed, gated=True)
        self.proxy.add(new.name, _address(new, self.ctx), 100)
        for old in olds:
            containers.remove(old)

    @staticmethod
    def _stable(olds: list[Any], routed: dict[str, Server]) -> Any:
        """The release that serves most: the one with the highest weight in the proxy (else the newest)."""
        return max(olds, key=lambda m: routed[m.name].weight if m.name in routed else -1)


def compare(before: dict[str, Server], after: dict[str, Server], canary: str, stable: list[str]) -> dict:
    """The canary's error rate and mean response time against the stable servers' over the hold."""

    def delta(names: list[str]) -> tuple[int, int, float]:
        requests = sum(
            after[n].requests - (before[n].requests if n in before else 0) for n in names if n in after
        )
        errors = sum(after[n].errors - (before[n].errors if n in before else 0) for n in names if n in after)
        times = [after[n].response_ms for n in names if n in after]
        return requests, errors, (sum(times) / len(times) if times else 0.0)

    c_req, c_err, c_ms = delta([canary])
    s_req, s_err, s_ms = delta(stable)
    c_rate = c_err / c_req if c_req else 0.0
    s_rate = s_err / s_req if s_req else 0.0
    problems = []
    if c_err and c_rate > s_rate + ERROR_MARGIN:
        problems.append(f"error rate {c_rate:.1%} vs {s_rate:.1%}")
    if c_req and c_ms > LATENCY_FACTOR * s_ms + LATENCY_SLACK_MS:
        problems.append(f"mean response {c_ms:.0f} ms vs {s_ms:.0f} ms")
    detail = (
        f"canary {c_req} requests, {c_err} errors, {c_ms:.0f} ms mean; "
        f"stable {s_req} requests, {s_err} errors, {s_ms:.0f} ms mean"
    )
    return {
        "check": "canary",
        "passed": not problems,
        "detail": "; ".join(problems) + f" ({detail})" if problems else detail,
        "canary": {"requests": c_req, "errors": c_err, "mean_ms": c_ms},
        "stable": {"requests": s_req, "errors": s_err, "mean_ms": s_ms},
    }


def _address(container: Any, ctx: Any) -> str:
    container.reload()
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    ip = (networks.get(network_name(ctx)) or {}).get("IPAddress")
    if not ip:
        raise DeployError(f"{container.name} is not on the proxy's network {network_name(ctx)}")
    return f"{ip}:{ctx.container_port}"


def _publishes(container: Any, port: int) -> bool:
    ports = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
    return any(str(b.get("HostPort")) == str(port) for bindings in ports.values() for b in bindings or [])


def _port_taken(environment: str, port: int, by: str) -> UsageError:
    return UsageError(
        f"port {port} is already taken on the docker host {by}",
        hint=f"free it or set environments.{environment}.port in mlship.yaml",
    )


def _failed(
    release: Release,
    previous: Release | None,
    problem: str,
    what: str,
    hint: str | None = None,
    gated: bool = False,
) -> DeployError:
    keeps = f"version {previous.version} keeps serving" if previous else "nothing was serving before"
    failed = "failed the health gate" if gated else "failed"
    error = DeployError(
        f"version {release.version} {failed} ({problem}); {what}, {keeps}",
        hint=hint or "fix the model or image and deploy again; `mlship status` shows what runs",
    )
    error.explained = True  # type: ignore[attr-defined]  # says what was restored: raised as it is
    return error
