"""Where a prediction request's time goes, stage by stage, in microseconds (in-process).

    .venv/bin/python bench/request_cost.py [--project DIR] [--repeats 2000] [--profile]

Times each stage of mlship's request path alone on the same records (one row and 100 rows):
JSON decode, validation, DataFrame construction, the project's preprocess and predict, JSON
encode, the prediction log hand-off and its line encoding (done later, on the writer thread),
metrics and the request id; and, for comparison, the standard library's json for the same body.
The whole ASGI request in-process is timed too, so what the stages leave out (the ASGI calls,
the batch queue's turns of the event loop) shows as the difference. `--profile` adds a
pyinstrument profile of 3,000 one-row requests. The HTTP server (uvicorn, httptools) is measured
by bench/serve.py instead, and profiled under load by bench/profile_serve.py.
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
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import call  # noqa: E402
from serve import prepare_project, sample_records, write_spec  # noqa: E402


def median_us(function: Callable[[], Any], repeats: int) -> float:
    for _ in range(min(100, repeats)):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def stages(service: Any, records: list[dict[str, Any]], repeats: int) -> dict[str, float]:
    import pandas as pd

    from mlship.serving import jsonio
    from mlship.serving.app import Head, Outcome, record_keys
    from mlship.serving.pipeline import records_frame
    from mlship.serving.validate import parse_json

    pipeline = service.runtime.pipeline
    body = json.dumps({"records": records}).encode()
    frame = records_frame(records, pipeline.columns)
    features = pipeline._preprocess(frame, pipeline.model)
    outputs = pipeline.predict_frame(frame)
    answer = {"predictions": outputs, "model_version": service.version, "request_id": "r" * 32}
    keyed = {**answer, "keys": record_keys("r" * 32, len(outputs))}
    row = {"ts": "2026-01-01T00:00:00.000Z", "request_id": "r" * 32, "model_version": service.version}
    row.update({"endpoint": "/predict", "status": 200, "latency_ms": 1.0, "inputs": records})
    row.update({"outputs": outputs, "error": None})
    metrics, log = service.metrics, service.log
    scope = {"headers": [(b"host", b"x"), (b"content-type", b"application/json"), (b"content-length", b"99")]}
    outcome = Outcome(200, b"{}", "r" * 32, "/predict", 0.001, len(records), None)

    def observe() -> None:  # what a request records: in flight, count, latency, rows, batch
        metrics.request_started()
        service.finished(outcome)
        metrics.observe_batch(len(records), 0.001)

    return {
        "request head (3 headers)": median_us(lambda: Head.of(scope), repeats),
        "JSON decode (msgspec)": median_us(lambda: parse_json(body), repeats),
        "  same, stdlib json.loads": median_us(lambda: json.loads(body), repeats),
        "validation": median_us(lambda: service.validator.check(records), repeats),
        "DataFrame (columns, schema order)": median_us(
            lambda: records_frame(records, pipeline.columns), repeats
        ),
        "  same, DataFrame.from_records": median_us(lambda: pd.DataFrame.from_records(records), repeats),
        "preprocess (project)": median_us(lambda: pipeline._preprocess(frame, pipeline.model), repeats),
        "predict (project)": median_us(lambda: pipeline._predict(pipeline.model, features), repeats),
        "JSON encode answer": median_us(lambda: jsonio.encode(answer), repeats),
        "  record keys (REQUEST_ID:INDEX)": median_us(lambda: record_keys("r" * 32, len(outputs)), repeats),
        "  JSON encode answer with keys": median_us(lambda: jsonio.encode(keyed), repeats),
        "log hand-off (request path)": median_us(
            lambda: log.record("r", "/predict", 200, 1.0, records, outputs, None), repeats
        ),
        "log line encode (writer thread)": median_us(lambda: jsonio.encode(row), repeats),
        "  same, stdlib json.dumps": median_us(lambda: json.dumps(row, separators=(",", ":")), repeats),
        "metrics (after the answer)": median_us(observe, repeats),
        "request id": median_us(lambda: service.request_ids(None), repeats),
        "  same, uuid4().hex": median_us(lambda: uuid.uuid4().hex, repeats),
        "response head": median_us(outcome.headers, repeats),
    }


async def whole(app: Any, body: bytes, repeats: int) -> float:
    for _ in range(100):
        await call(app, body)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        assert await call(app, body) == 200
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


async def main_async(args: argparse.Namespace) -> None:
    from mlship.serving.app import create_app
    from mlship.serving.pipeline import RuntimeSpec
    from mlship.serving.settings import resolve

    work = Path(tempfile.mkdtemp(prefix="mlship-cost-"))
    project = prepare_project(args.project, work)
    spec = RuntimeSpec.from_dict(json.loads(write_spec(project, work).read_text()))
    app = create_app(spec, resolve(spec, log_dir=str(work / "predlog")))
    service = app.state.service
    service.log.start()
    await service.runtime.start()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores {os.cpu_count()}; median us")
    for rows in (1, 100):
        records = sample_records(project, rows)
        figures = stages(service, records, args.repeats)
        body = json.dumps({"records": records}).encode()
        total = await whole(app, body, args.repeats)
        counted = sum(v for k, v in figures.items() if not k.startswith(" ") and "writer" not in k)
        print(f"\nrows={rows}")
        for name, value in figures.items():
            print(f"  {name:34} {value:8.1f}")
        print(f"  {'whole ASGI request, in-process':34} {total:8.1f}")
        rest = total - counted
        print(f"  {'  not in the stages above':34} {rest:8.1f}  (ASGI calls, the batch queue's loop turns)")
    if args.profile:
        from pyinstrument import Profiler

        body = json.dumps({"records": sample_records(project, 1)}).encode()
        profiler = Profiler(interval=0.0002, async_mode="enabled")
        profiler.start()
        for _ in range(3000):
            await call(app, body)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))
    service.log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="also a pyinstrument profile (one row)")
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
