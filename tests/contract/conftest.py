"""Fixtures for the contract tests: the template project, trained once, and ways to break it.

Projects whose code a test changes are only ever run in a subprocess (`mlship test`): in this
process the project's package is imported once, and a changed copy would not be re-imported.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .contract_support import free_port, mlship


@pytest.fixture(scope="session")
def trained_demand(tmp_path_factory) -> Path:
    """`mlship init --no-input` + `mlship train`, once; tests copy it before changing it."""
    root = tmp_path_factory.mktemp("contract") / "demand-model"
    for args in (("init", str(root), "--no-input"), ("train", str(root))):
        proc = mlship(*args)
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def demand(trained_demand, tmp_path) -> Path:
    dest = tmp_path / "demand-model"
    shutil.copytree(trained_demand, dest)
    return dest


@pytest.fixture
def service(http_service) -> Iterator[Any]:
    """The shared test server, its predictions unshifted again after the test."""
    yield http_service
    http_service.set_offset(0.0)


@pytest.fixture(scope="session")
def http_service(trained_demand) -> Iterator[Any]:
    """A real HTTP server in this process around the real model (`load_pipeline`), answering
    `POST /predict` as the serving API does. `service.offset` shifts every prediction, to stand
    for a deployed model that differs from the candidate. Test-only: `mlship serve` is issue 5's."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from threadpoolctl import threadpool_limits

    from mlship.project import Project, load_pipeline
    from mlship.serving.pipeline import RecordError

    pipeline = load_pipeline(Project.load(trained_demand))
    state = {"offset": 0.0}

    async def predict(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            records = body["records"]
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad request body: {exc}"}, status_code=400)
        try:
            with threadpool_limits(1):  # see contract_support.ENV: no OpenMP stalls on a busy host
                predictions = pipeline.predict_records(records)
        except RecordError as exc:
            return JSONResponse({"error": f"{exc.__cause__ or exc}"}, status_code=422)
        except Exception as exc:
            return JSONResponse({"error": repr(exc)}, status_code=500)
        shifted = [p + state["offset"] for p in predictions]
        return JSONResponse({"predictions": shifted, "model_version": pipeline.spec.model_version})

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)

    class Service:
        url = f"http://127.0.0.1:{port}"

        def set_offset(self, value: float) -> None:
            state["offset"] = value

    yield Service()
    server.should_exit = True
    thread.join(timeout=10)
