"""The one seam to the docker engine: every docker SDK call in mlship goes through a client from here."""

from __future__ import annotations

from typing import Any

from mlship.errors import UnreachableError

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


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
