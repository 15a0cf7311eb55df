"""Helpers shared by every test area: the real `mlship` command, docker availability."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def run_mlship(*args: str, cwd: Path | None = None, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """The real `mlship` command in a subprocess (the same interpreter as the tests)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlship", *args], cwd=cwd, capture_output=True, text=True, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mlship {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:
        return False


def require_docker() -> None:
    """Skip docker tests only off CI; in CI a missing engine is a failure."""
    if docker_available():
        return
    if IN_CI:
        pytest.fail("the docker engine is not reachable, and CI requires docker tests to run")
    pytest.skip("no docker engine here (outside CI)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
