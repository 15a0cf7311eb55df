"""Helpers shared by every test area: the real `mlship` command, docker availability."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The real `mlship` command (the same interpreter as the tests): run_mlship runs it to completion;
# a test that must start it in the background (a server, a run it stops) spells it with this.
MLSHIP = (sys.executable, "-m", "mlship")


def run_mlship(*args: str, cwd: Path | None = None, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """The real `mlship` command in a subprocess (the same interpreter as the tests)."""
    proc = subprocess.run([*MLSHIP, *args], cwd=cwd, capture_output=True, text=True, **kw)
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


@contextlib.contextmanager
def served(project: Path, *, log_dir: Path, timeout: float = 60) -> Iterator[str]:
    """The real runtime, `mlship serve PROJECT`, on a free loopback port; yields its base URL."""
    import urllib.request

    port = free_port()
    argv = [*MLSHIP, "serve", str(project), "--port", str(port)]
    argv += ["--log-dir", str(log_dir), "--log-level", "warning"]
    # One native thread per process, as a serving worker has (a busy host stalls OpenMP pools).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MLSHIP_LOG_DIR", None)
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                errors.seek(0)
                raise AssertionError(f"mlship serve exited {process.returncode}: {errors.read()[-2000:]!r}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"mlship serve not ready within {timeout:g}s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        errors.close()


@contextlib.contextmanager
def stuck_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung index or registry); yields it."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for sock in held:
            sock.close()
