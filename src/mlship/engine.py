"""The one seam to the docker engine: every docker SDK call in mlship goes through a client from here."""

from __future__ import annotations

import re
from typing import Any

from mlship.errors import UnreachableError, UsageError

START_HINT = (
    "start the docker engine (`sudo systemctl start docker`, or Docker Desktop), "
    "or point DOCKER_HOST at a running one"
)


def docker_client(timeout: int = 120) -> Any:
    """A connected `docker.DockerClient`; exit code 3 with how to start one when the engine is down."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise UnreachableError(f"cannot reach the docker engine ({_short(exc)})", hint=START_HINT) from None
    return client


def remote_engine() -> bool:
    """DOCKER_HOST names another machine: paths on this one mean nothing to the engine."""
    import os

    return os.environ.get("DOCKER_HOST", "").startswith(("tcp://", "http://", "https://", "ssh://"))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# The docker reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest].
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?:{_HOST}/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


def check_image_ref(ref: str, option: str) -> None:
    """Refuse a malformed image reference before any work (docker would only refuse it at the end)."""
    if not _REFERENCE.fullmatch(ref) or len(ref.split("@")[0].rsplit(":", 1)[0]) > 255:
        raise UsageError(
            f"{option} {ref!r} is not a valid image reference",
            hint="lower case [REGISTRY/]NAME[:TAG], e.g. 127.0.0.1:5000/demand:0.1.0",
        )


def split_tag(ref: str) -> tuple[str, str]:
    """'host:5000/a/b:tag' -> ('host:5000/a/b', 'tag'); no tag -> 'latest'."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"
