"""The `docker` target: one container on one engine, replaced only after its successor passed the gate.

rolling / canary: the new version first runs beside the old one on a loopback port and is gated;
then the old container stops, the new one takes the service port and must answer again, and only
then is the old one removed - if the switch fails, the old container is started again.
recreate: the old container stops first (for hosts where two copies do not fit, e.g. one GPU).
"""

from __future__ import annotations

from typing import Any

from mlship import labels
from mlship.deploy.gate import GateResult, run_gate
from mlship.deploy.images import ImageInfo
from mlship.deploy.state import ROLE, Release, TargetState, read_labels, release_labels
from mlship.deploy.targets import containers
from mlship.deploy.targets.base import RolloutResult, Target
from mlship.engine import docker_client
from mlship.errors import DeployError


class DockerTarget(Target):
    kind = "docker"

    def __init__(self, context):  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.client = docker_client()

    def _live(self) -> Any | None:
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
        # Several can exist only if a previous mlship was killed mid-switch: the newest is the truth.
        found.sort(key=lambda c: c.attrs.get("Created", ""), reverse=True)
        return found[0] if found else None

    def state(self) -> TargetState:
        live = self._live()
        current, history = read_labels(live.labels if live else None)
        running = 1 if live is not None and live.status == "running" else 0
        return TargetState(
            environment=self.ctx.environment,
            target=self.kind,
            current=current,
            history=history,
            url=self.ctx.url if live is not None else None,
            replicas_running=running,
            replicas_desired=1 if live is not None else 0,
            detail=f"container {live.name} {live.status}" if live is not None else "nothing deployed",
        )

    def rollout(self, image: ImageInfo, release: Release, strategy: str) -> RolloutResult:
        old = self._live()
        previous, history = read_labels(old.labels if old else None)
        values = release_labels(self.ctx.project, self.ctx.environment, release, history)
        result = RolloutResult(release=release, url=self.ctx.url, replaced=previous)
        if strategy != "recreate":
            gate = containers.gate_candidate(self.client, self.ctx, image.ref, values)
            result.gates.append(gate)
            if not gate.passed:
                raise _failed(release, previous, gate, "the candidate container was removed")
        self._switch(old, image, values, result, full_gate=strategy == "recreate")
        return result

    def _switch(
        self, old: Any, image: ImageInfo, values: dict, result: RolloutResult, full_gate: bool
    ) -> None:
        """Stop the old container, start the new one on the service port, gate it; undo on failure."""
        if old is not None:
            self.ctx.report(f"stopping {old.name}")
            old.stop(timeout=10)
        name = f"{self.ctx.name}-{image.digest.split(':')[-1][:12]}"
        stale = self.client.containers.list(all=True, filters={"name": f"^/{name}$"})
        for container in stale:  # a leftover of an interrupted deploy of this very image
            containers.remove(container)
        new = None
        try:
            new = containers.run_container(
                self.client,
                self.ctx,
                image.ref,
                name=name,
                labels={**values, ROLE: "live"},
                port=self.ctx.public_port,
            )
            gate = self._gate_live(new, full_gate)
        except DeployError as exc:
            gate = GateResult(
                False, self.ctx.url, [{"check": "start", "passed": False, "detail": exc.message}]
            )
        result.gates.append(gate)
        if not gate.passed:
            if new is not None:
                containers.remove(new)
            if old is not None:
                old.start()
                run_gate(self.ctx.url, self.ctx.env.gate, [])
            raise _failed(result.release, result.replaced, gate, "the new container was removed")
        if old is not None:
            containers.remove(old)

    def _gate_live(self, container: Any, full_gate: bool) -> GateResult:
        gate = self.ctx.env.gate
        if full_gate:
            return run_gate(self.ctx.url, gate, self.ctx.examples, alive=containers.alive_check(container))
        # Already gated as a candidate: readiness and the examples again, no second latency run.
        quick = gate.model_copy(update={"latency_p99_ms": None})
        return run_gate(self.ctx.url, quick, self.ctx.examples, alive=containers.alive_check(container))


def _failed(release: Release, previous: Release | None, gate: GateResult, what: str) -> DeployError:
    keeps = f"version {previous.version} keeps serving" if previous else "nothing was serving before"
    return DeployError(
        f"version {release.version} failed the health gate ({gate.failure()}); {what}, {keeps}",
        hint="fix the model or image and deploy again; `mlship status` shows what runs",
    )
