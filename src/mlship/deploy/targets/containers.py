"""Plain containers on a docker engine: run one, watch it, gate a candidate beside the live one."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
import uuid
from pathlib import Path
from typing import Any

from mlship.config import Resources
from mlship.deploy.gate import GateResult, run_gate
from mlship.deploy.targets.base import Context
from mlship.engine import remote_engine
from mlship.errors import DeployError, UsageError

LOG_MOUNT = "/var/log/mlship"
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def memory_bytes(text: str | None) -> int | None:
    """`512Mi`, `1G`, `2gi`, `1000000` -> bytes (Kubernetes and docker spellings)."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*", text.lower())
    if not match:
        raise DeployError(f"cannot read memory size {text!r}", hint="write it like 512Mi or 2G")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def resource_kwargs(resources: Resources) -> dict[str, Any]:
    from docker.types import DeviceRequest

    kwargs: dict[str, Any] = {}
    if resources.cpu:
        kwargs["nano_cpus"] = int(resources.cpu * 1e9)
    if resources.memory:
        kwargs["mem_limit"] = memory_bytes(resources.memory)
    if resources.gpus:
        kwargs["device_requests"] = [DeviceRequest(count=resources.gpus, capabilities=[["gpu"]])]
    return kwargs


def prepare_log_dir(client: Any, ctx: Context, image_ref: str) -> None:
    """Make the environment's log directory usable by the image's (non-root) user before anything
    changes; the image is pulled here when the engine lacks it (so a missing one stops nothing).

    A missing directory is created for that user (given to it when mlship runs as root, else opened
    to every user: mlship cannot chown); an existing one it cannot write to is an error, so the
    running version is never replaced by one that cannot log. A remote engine's paths are not ours.
    """
    image = image_for(client, image_ref)
    if not ctx.log_dir or remote_engine():
        return
    user = str((image.attrs.get("Config") or {}).get("User") or "0")
    uid = int(user.split(":")[0]) if user.split(":")[0].isdigit() else None
    directory = Path(ctx.log_dir)
    if not directory.exists():
        directory.mkdir(parents=True)
        if uid and os.geteuid() == 0:
            os.chown(directory, uid, uid)
        elif uid and os.geteuid() != uid:
            directory.chmod(0o777)
        return
    info = directory.stat()
    if uid and info.st_uid != uid and not info.st_mode & stat.S_IWOTH:
        raise UsageError(
            f"environments.{ctx.environment}.log_dir {directory} is not writable"
            f" by the image's user (uid {uid})",
            hint=f"chown {uid} {directory}, or name a directory that does not exist yet (mlship creates it)",
        )


def image_for(client: Any, ref: str) -> Any:
    """The image on this engine, pulled from its registry when missing; DeployError when neither."""
    from docker.errors import APIError, ImageNotFound

    try:
        return client.images.get(ref)
    except ImageNotFound:
        pass
    if "@" not in ref and "/" not in ref.split(":")[0]:
        raise DeployError(f"the image {ref[:40]} is not on this engine any more, and in no registry")
    try:
        return client.images.pull(ref)
    except APIError as exc:
        raise DeployError(
            f"the image {ref} is not on this engine and could not be pulled: {exc.explanation}"
        ) from None


def runtime_env(ctx: Context) -> dict[str, str]:
    env = {"PORT": str(ctx.container_port), "MLSHIP_ENVIRONMENT": ctx.environment}
    if ctx.log_dir:
        env["MLSHIP_LOG_DIR"] = LOG_MOUNT
    return env


def run_container(
    client: Any,
    ctx: Context,
    image_ref: str,
    *,
    name: str,
    labels: dict[str, str],
    port: int | None,
    network: str | None = None,
    restart: bool | None = None,
) -> Any:
    """Start `image_ref`; `port` None publishes the service port on an ephemeral loopback port.
    `restart` (default: when `port` is given) restarts it when it crashes."""
    from docker.errors import APIError

    prepare_log_dir(client, ctx, image_ref)
    bind = ("127.0.0.1", None) if port is None and ctx.host in ("127.0.0.1", "localhost") else port
    volumes = {ctx.log_dir: {"bind": LOG_MOUNT, "mode": "rw"}} if ctx.log_dir else None
    try:
        return client.containers.run(
            image_ref,
            name=name,
            detach=True,
            labels=labels,
            environment=runtime_env(ctx),
            ports={f"{ctx.container_port}/tcp": bind},
            restart_policy={"Name": "unless-stopped" if (port if restart is None else restart) else "no"},
            volumes=volumes,
            network=network,
            **resource_kwargs(ctx.env.resources),
        )
    except APIError as exc:
        _remove_named(client, name)  # a container that could not start must not linger as `Created`
        if "port is already allocated" in str(exc) or "address already in use" in str(exc):
            raise DeployError(
                f"port {port} is already taken on the docker host",
                hint=f"free it or set environments.{ctx.environment}.port in mlship.yaml",
            ) from None
        raise DeployError(f"docker could not start {image_ref}: {exc.explanation}") from None


def _remove_named(client: Any, name: str) -> None:
    for container in client.containers.list(all=True, filters={"name": f"^/{name}$"}):
        remove(container)


def published_url(container: Any, ctx: Context) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        container.reload()
        ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        bound = ports.get(f"{ctx.container_port}/tcp") or []
        if bound:
            return f"http://{ctx.host}:{bound[0]['HostPort']}"
        if container.status == "exited":
            break
        time.sleep(0.1)
    raise DeployError(f"container {container.name} published no port", details=logs_tail(container))


def alive_check(container: Any):  # type: ignore[no-untyped-def]
    """A callable for the gate: the reason the container died, or None while it runs."""

    def check() -> str | None:
        from docker.errors import NotFound

        try:
            container.reload()
        except NotFound:
            return "the container disappeared"
        if container.status in ("exited", "dead"):
            code = container.attrs.get("State", {}).get("ExitCode")
            return f"the container exited with code {code}: {logs_tail(container, 3)}"
        return None

    return check


def logs_tail(container: Any, lines: int = 15) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").strip()
    except Exception:  # the logs are only a courtesy in an error message
        return ""


def remove(container: Any) -> None:
    from docker.errors import APIError, NotFound

    with contextlib.suppress(NotFound, APIError):
        container.remove(force=True)


def gate_candidate(client: Any, ctx: Context, image_ref: str, labels: dict[str, str]) -> GateResult:
    """Run `image_ref` beside whatever serves now, put it through the whole gate, then remove it."""
    name = f"{ctx.name}-candidate-{uuid.uuid4().hex[:6]}"
    ctx.report(f"gating a candidate container {name}")
    container = run_container(client, ctx, image_ref, name=name, labels=labels, port=None)
    try:
        url = published_url(container, ctx)
        return run_gate(url, ctx.env.gate, ctx.examples, alive=alive_check(container))
    finally:
        remove(container)
