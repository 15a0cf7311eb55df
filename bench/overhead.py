"""mlship's own cost per request, without the network or the load generator's noise.

    .venv/bin/python bench/overhead.py [--project DIR] [--requests 2000]

Calls the mlship ASGI app and a bare Starlette app (same project code, same model) in-process,
alternating, and prints the median time per request for each and the difference: what the
runtime adds (validation, metrics, request id, prediction log hand-off) on top of the model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import prepare_project, sample_records, write_spec  # noqa: E402


def bare_app(spec: dict[str, Any]) -> Any:
    import pandas as pd
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from mlship.serving.pipeline import resolve

    eps = spec["entrypoints"]
    load, pre, pred = (resolve(eps[k], spec["source_dir"]) for k in ("load", "preprocess", "predict"))
    model = load(spec["artifact_dir"])

    async def predict(request: Any) -> Any:
        body = await request.json()
        frame = pd.DataFrame.from_records(body["records"])
        return JSONResponse({"predictions": [float(v) for v in pred(model, pre(frame, model))]})

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


async def call(app: Any, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def compare(apps: dict[str, Any], body: bytes, requests: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(requests):
        for name, app in apps.items():
            started = time.perf_counter()
            assert await call(app, body) == 200
            times[name].append((time.perf_counter() - started) * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


async def main_async(args: argparse.Namespace) -> None:
    from mlship.serving.app import create_app
    from mlship.serving.pipeline import RuntimeSpec
    from mlship.serving.settings import resolve

    work = Path(tempfile.mkdtemp(prefix="mlship-overhead-"))
    project = prepare_project(args.project, work)
    spec_data = json.loads(write_spec(project, work).read_text())
    spec = RuntimeSpec.from_dict(spec_data)
    ours = create_app(spec, resolve(spec, log_dir=str(work / "predlog")))
    service = ours.state.service
    service.log.start()
    await service.runtime.start()
    apps = {"mlship": ours, "bare-starlette": bare_app(spec_data)}
    for rows in (1, 100):
        body = json.dumps({"records": sample_records(project, rows)}).encode()
        await compare(apps, body, 50)  # warm-up
        medians = await compare(apps, body, args.requests)
        added = medians["mlship"] - medians["bare-starlette"]
        print(
            f"rows={rows:<4} median per request: mlship {medians['mlship']:.0f} us, "
            f"bare {medians['bare-starlette']:.0f} us, mlship adds {added:+.0f} us "
            f"({medians['bare-starlette'] / medians['mlship']:.2f}x the bare throughput)"
        )
    service.log.close()
    print(f"prediction log lines: {service.log.written}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
