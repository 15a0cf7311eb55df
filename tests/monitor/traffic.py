"""Prediction logs in the serving runtime's format, written from records scored by the real model.

`write_traffic` stands in for `mlship serve` until the serving runtime writes the logs itself; it writes
exactly the documented line format, one request per line, rotated files named like the server's.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def log_lines(
    records: list[dict[str, Any]],
    outputs: list[Any],
    *,
    model_version: str = "0.1.0+test",
    start: datetime | None = None,
    batch: int = 1,
    step: timedelta = timedelta(seconds=1),
) -> list[str]:
    start = start or datetime.now(timezone.utc) - timedelta(minutes=30)
    lines = []
    for i in range(0, len(records), batch):
        inputs = [{k: _clean(v) for k, v in r.items()} for r in records[i : i + batch]]
        entry = {
            "ts": (start + step * (i // batch)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": uuid.uuid4().hex,
            "model_version": model_version,
            "endpoint": "/predict",
            "status": 200,
            "latency_ms": 3.5 + (i % 7),
            "inputs": inputs,
            "outputs": [_clean(o) for o in outputs[i : i + batch]],
            "error": None,
        }
        lines.append(json.dumps(entry))
    return lines


def failed_line(record: dict[str, Any], *, status: int = 422, ts: datetime | None = None) -> str:
    ts = ts or datetime.now(timezone.utc)
    return json.dumps(
        {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": uuid.uuid4().hex,
            "model_version": "0.1.0+test",
            "endpoint": "/predict",
            "status": status,
            "latency_ms": 1.0,
            "inputs": [record],
            "outputs": None,
            "error": "preprocess rejected the input",
        }
    )


def write_log(log_dir: Path, lines: list[str], *, stamp: str = "20240101T000000", pid: int = 4242) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"predictions-{stamp}-{pid}.jsonl"
    with path.open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
