"""Fixtures: the example project rendered from the template and trained once per session."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# One native thread per process, as the runtime sets for itself: a busy 2-core host otherwise
# spends tens of milliseconds waking OpenMP threads for each tiny prediction.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import warnings  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    import starlette.testclient  # noqa: F401

from mlship.serving.pipeline import RuntimeSpec  # noqa: E402

ROW = {"price": 8.25, "promo": 1, "day_of_week": "sat", "store": "city", "temperature": 29.3}


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    directory = tmp_path_factory.mktemp("serving") / "demo"
    init_project(directory=directory, no_input=True)
    train(Project.load(directory))
    return directory


@pytest.fixture(scope="session")
def spec(project_dir: Path) -> RuntimeSpec:
    from mlship.project import Project
    from mlship.serve import serving_spec

    return serving_spec(Project.load(project_dir))


def spec_with(
    spec: RuntimeSpec, log_dir: Path, logging: dict[str, Any] | None = None, **serving: Any
) -> RuntimeSpec:
    extra = json.loads(json.dumps(dict(spec.extra)))
    extra["logging"].update({"path": str(log_dir), **(logging or {})})
    extra["serving"].update(serving)
    return dataclasses.replace(spec, extra=extra)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[Any] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not ready within {timeout}s")


class Server:
    """`python -m mlship.serving` as a real subprocess on a free loopback port."""

    def __init__(self, spec: RuntimeSpec, tmp: Path, *args: str, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        spec_file = tmp / f"runtime-{self.port}.json"
        spec_file.write_text(json.dumps(spec.to_dict()))
        self.stderr = tmp / f"server-{self.port}.log"
        argv = [sys.executable, "-m", "mlship.serving", "--spec", str(spec_file), "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--log-level", "warning", *args]
        full_env = {**os.environ, **(env or {})}
        full_env.pop("PORT", None)
        full_env.pop("MLSHIP_LOG_DIR", None)
        full_env.update(env or {})
        with self.stderr.open("wb") as err:
            self.process = subprocess.Popen(argv, stdout=err, stderr=err, env=full_env)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=timeout)

    def log_text(self) -> str:
        return self.stderr.read_text(errors="replace")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Server] = []

    def start(spec: RuntimeSpec, *args: str, env: dict[str, str] | None = None) -> Server:
        server = Server(spec, tmp_path, *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)
