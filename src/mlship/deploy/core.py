"""deploy, promote, rollback, status, history: the core the CLI calls (keyword-only, returns data)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlship import service_http
from mlship.deploy import journal
from mlship.deploy.images import ImageInfo, build_record_image, describe, local_image, push
from mlship.deploy.registry import copy_image, repository_ref
from mlship.deploy.state import Release, TargetState, deployed_by, now_iso
from mlship.deploy.targets import choose_target, make_target
from mlship.deploy.targets.base import Context, RolloutResult, Target
from mlship.engine import check_image_ref, docker_client, remote_engine
from mlship.errors import DeployError, InputError, MlshipError, UsageError
from mlship.image.dockerfile import BASE_ENV
from mlship.project import Project

Report = Callable[[str], None]
FAILED = ("failed", "rolled-back")


@dataclass
class DeployResult:
    environment: str
    target: str
    action: str
    rollout: RolloutResult

    @property
    def url(self) -> str:
        return self.rollout.url

    @property
    def release(self) -> Release:
        return self.rollout.release

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "target": self.target,
            "action": self.action,
            **self.rollout.to_dict(),
        }


@dataclass
class StatusResult:
    environments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def degraded(self) -> list[str]:
        """Environments with something deployed but fewer ready replicas than desired."""
        return [
            e["environment"]
            for e in self.environments
            if e.get("current")
            and (e["replicas"]["running"] < e["replicas"]["desired"] or e["ready"] is False)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"environments": self.environments, "degraded": self.degraded}


@dataclass
class HistoryResult:
    environment: str
    target: str
    entries: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "target": self.target, "entries": self.entries}


def _target(project: Project, environment: str, target: str | None, report: Report) -> Target:
    env = project.config.environment(environment)
    kind = choose_target(target, env)
    context = Context(
        project=project.config.name,
        environment=environment,
        env=env,
        container_port=project.config.serving.port,
        examples=list(project.config.contract.examples),
        report=report,
        proxy_base=project.config.image.base or os.environ.get(BASE_ENV) or Context.proxy_base,
        log_dir=_log_dir(project, environment, env),
    )
    return make_target(kind, context)


def _log_dir(project: Project, environment: str, env: Any) -> str | None:
    """environments.X.log_dir as given (relative: under the project); without one, the project's
    logs/environments/X when the engine is this machine (a remote engine's paths are not ours)."""
    if env.log_dir or not remote_engine():
        return str(project.log_dir(environment))
    return None


def deploy(
    *,
    directory: Path,
    environment: str,
    image: str | None = None,
    strategy: str | None = None,
    target: str | None = None,
    report: Report = lambda _t: None,
) -> DeployResult:
    """Push the image by digest to the environment's registry, roll it out through the gate."""
    project = Project.load(directory)
    env = project.config.environment(environment)  # unknown environment: exit 2 before anything else
    chosen = strategy or env.strategy
    if image is not None:
        check_image_ref(image, "--image")
    client = docker_client()
    default_ref = f"{project.config.name}:{project.config.version}"
    ref = image or build_record_image(project.last_build_file) or default_ref
    info = describe(local_image(client, ref), ref, project.config.version)
    _target(project, environment, target, report).preflight()  # a taken port: before pushing 500 MB
    if env.registry:
        repository = env.repository or project.config.name
        report(f"pushing {ref} to {env.registry}/{repository}")
        pinned = push(
            client,
            local_image(client, ref),
            registry=env.registry,
            repository=repository,
            tag=info.version,
            report=report,
        )
        info = replace(info, ref=pinned, digest=pinned.split("@", 1)[1])
    return _roll(project, environment, info, chosen, target, "deploy", report)


def promote(
    *, directory: Path, source: str, dest: str, strategy: str | None = None, report: Report = lambda _t: None
) -> DeployResult:
    """The exact digest running in `source` goes to `dest` (copied between registries if they differ)."""
    project = Project.load(directory)
    if source == dest:
        raise UsageError("promote needs two different environments")
    dest_env = project.config.environment(dest)
    current = _target(project, source, None, report).state().current
    if current is None:
        raise InputError(f"nothing is deployed in {source!r}", hint=f"run `mlship deploy {source}` first")
    ref = current.image
    if dest_env.registry and "@" not in ref:
        raise DeployError(
            f"{source} runs a local image ({ref[:19]}) that is in no registry",
            hint=f"give {source} a registry in mlship.yaml and deploy it again",
        )
    if dest_env.registry:
        wanted = repository_ref(dest_env.registry, dest_env.repository or project.config.name)
        if ref.split("@")[0] != wanted:
            report(f"copying {ref} to {wanted}")
            ref = copy_image(
                ref, dest_env.registry, dest_env.repository or project.config.name, current.version, report
            )
    if ref.split("@")[-1] != current.digest:
        raise DeployError(f"the copy has digest {ref.split('@')[-1]}, expected {current.digest}")
    info = ImageInfo(
        ref=ref,
        digest=current.digest,
        version=current.version,
        model_sha256=current.model_sha256,
        image_id="",
    )
    return _roll(project, dest, info, strategy or dest_env.strategy, None, "promote", report)


def rollback(
    *, directory: Path, environment: str, to: str | None = None, report: Report = lambda _t: None
) -> DeployResult:
    """Put an earlier release (the previous one, or version `to`) back into service, through the gate."""
    project = Project.load(directory)
    state = _target(project, environment, None, report).state()
    if state.current is None:
        raise InputError(f"nothing is deployed in {environment!r}; there is nothing to roll back")
    earlier = [r for r in state.history[:-1] if r.digest != state.current.digest]
    if to is not None:
        earlier = [r for r in earlier if r.version == to]
    if not earlier:
        known = ", ".join(sorted({r.version for r in state.history})) or "none"
        wanted = f"version {to!r}" if to else "an earlier release"
        raise InputError(f"{environment} has no record of {wanted} to return to (versions seen: {known})")
    chosen = earlier[-1]
    info = ImageInfo(
        ref=chosen.image,
        digest=chosen.digest,
        version=chosen.version,
        model_sha256=chosen.model_sha256,
        image_id="",
    )
    env = project.config.environment(environment)
    return _roll(project, environment, info, env.strategy, None, "rollback", report)


def _roll(
    project: Project,
    environment: str,
    info: ImageInfo,
    strategy: str,
    target: str | None,
    action: str,
    report: Report,
) -> DeployResult:
    tgt = _target(project, environment, target, report)
    release = Release(
        version=info.version,
        image=info.ref,
        digest=info.digest,
        model_sha256=info.model_sha256,
        deployed_at=now_iso(),
        deployed_by=deployed_by(),
        strategy=strategy if action == "deploy" else f"{action}:{strategy}",
    )
    try:  # nothing has changed yet: the error keeps its own exit code (a taken port is a usage error)
        tgt.check_image(info)
        tgt.preflight()
    except MlshipError as exc:
        journal.record(project.state_dir, environment, tgt.kind, release, "failed", reason=exc.message)
        raise
    report(f"rolling out {info.version} to {environment} ({tgt.kind}, {strategy})")
    try:
        rolled = tgt.rollout(info, release, strategy)
    except BaseException as exc:  # noqa: BLE001 - recorded, then raised again
        # Every failure inside a rollout (an engine error, a bug, Ctrl-C) is the journal's "failed";
        # the target has already put the previous release back. Anything but a DeployError says so.
        reason = exc.message if isinstance(exc, MlshipError) else f"{type(exc).__name__}: {exc}"
        journal.record(project.state_dir, environment, tgt.kind, release, "failed", reason=reason)
        if isinstance(exc, DeployError) or not isinstance(exc, Exception):
            raise
        raise DeployError(
            f"version {release.version} failed while rolling out to {environment} ({reason[:300]})",
            hint=getattr(exc, "hint", None) or "`mlship status` shows what runs; `mlship history` why",
            details=getattr(exc, "details", None),
        ) from exc
    journal.record(project.state_dir, environment, tgt.kind, release, "live")
    return DeployResult(environment=environment, target=tgt.kind, action=action, rollout=rolled)


def status(*, directory: Path, environment: str | None = None) -> StatusResult:
    """What runs in each environment (or one), read from the targets; probes /readyz."""
    project = Project.load(directory)
    names = [environment] if environment else sorted({"local", *project.config.environments})
    result = StatusResult()
    for name in names:
        try:
            state = _target(project, name, None, lambda _t: None).state()
            entry = state.to_dict()
            entry["ready"] = _probe(state)
        except MlshipError as exc:
            if environment:
                raise
            entry = {"environment": name, "error": exc.message}
        result.environments.append(entry)
    return result


def _probe(state: TargetState) -> bool | None:
    if state.current is None or not state.url:
        return None
    return service_http.is_ready(state.url, timeout=3.0)


def history(*, directory: Path, environment: str) -> HistoryResult:
    """Releases newest first: from the target's labels, plus failed attempts from the local journal."""
    project = Project.load(directory)
    tgt = _target(project, environment, None, lambda _t: None)
    state = tgt.state()
    entries = [
        {**r.to_dict(), "result": "live" if i == 0 else "superseded", "source": "target"}
        for i, r in enumerate(reversed(state.history))
    ]
    seen = {(e["digest"], e["deployed_at"]) for e in entries}
    for item in journal.read(project.state_dir, environment):
        # "rolled-back" is what mlship before 0.2 wrote for a failed attempt.
        if item.get("result") in FAILED and (item.get("digest"), item.get("deployed_at")) not in seen:
            entries.append({**item, "result": "failed", "source": "journal"})
    entries.sort(key=lambda e: e.get("deployed_at", ""), reverse=True)
    return HistoryResult(environment=environment, target=tgt.kind, entries=entries)


def service_url(project: Project, environment: str) -> str | None:
    """The URL the environment serves on, read from its target; None when nothing is deployed there."""
    state = _target(project, environment, None, lambda _t: None).state()
    return state.url if state.current is not None and state.url else None
