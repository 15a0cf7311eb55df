"""The records the checks send: a sample of the training data, records the schema allows, and
small helpers that judge an answer and print a record so a failure names its fields and values."""

from __future__ import annotations

import json
import math
from typing import Any

from mlship.config import FieldSpec

MAX_SHOWN = 120


def show(value: Any) -> str:
    """A value as a failure message prints it: NaN and huge numbers readable, long text cut."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}"
    text = json.dumps(value, default=str, allow_nan=True)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def show_record(record: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {show(v)}" for k, v in record.items()) + "}"


def frame_records(frame: Any) -> list[dict[str, Any]]:
    """JSON-safe records (NaN -> None), the same for an in-process call and an HTTP body."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def input_columns(project: Any, frame: Any) -> list[str]:
    """The training data's columns less the target (params.target), which no request carries."""
    target = project.config.params.get("target")
    return [c for c in frame.columns if c != target]


def request_data(project: Any) -> str | None:
    """The data role whose records look like requests: `predict` (new records, as a client sends them;
    a converted notebook's are the rows it scored) when the project has that file, else `train`."""
    for role in ("predict", "train"):
        if role in project.config.data and project.data_path(role).is_file():
            return role
    return None


def sample_records(project: Any, n: int) -> list[dict[str, Any]]:
    """Base records to vary: a fixed sample of the request-like data (`request_data`), else the
    golden inputs."""
    from mlship.datafiles import read_table

    cfg = project.config
    role = request_data(project)
    if role is not None:
        frame = read_table(project.data_path(role))
        frame = frame[input_columns(project, frame)]
        if len(frame) > n:
            frame = frame.sample(n=n, random_state=0).sort_index()
        return frame_records(frame)
    records = [dict(example.input) for example in cfg.contract.examples][:n]
    if not records and cfg.contract.schema_:
        records = [typical_record(cfg.contract.schema_)]
    return records


def typical_record(schema: dict[str, FieldSpec]) -> dict[str, Any]:
    """One record the schema allows: the middle of each range, the first allowed value."""
    record: dict[str, Any] = {}
    for name, spec in schema.items():
        if spec.values:
            record[name] = spec.values[0]
        elif spec.type == "boolean":
            record[name] = False
        elif spec.type in ("number", "integer"):
            low = spec.min if spec.min is not None else (spec.max if spec.max is not None else 0)
            high = spec.max if spec.max is not None else low
            middle = (low + high) / 2
            record[name] = int(round(middle)) if spec.type == "integer" else middle
        else:
            record[name] = "x"
    return record


def bad_prediction(value: Any) -> str | None:
    """Why one prediction is not a valid answer (NaN, infinite, not JSON), or None when it is."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"prediction {show(value)} is not a finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = bad_prediction(item)
            if problem:
                return f"{key}: {problem}"
        return None
    if isinstance(value, list):
        return next((p for p in map(bad_prediction, value) if p), None)
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    return f"prediction of type {type(value).__name__} is not a JSON value"


def answer_problem(outcome: Any, count: int) -> str | None:
    """Why an outcome is not a valid answer for `count` records, or None when it is."""
    if outcome.kind != "answer":
        return f"{outcome.kind}: {outcome.message}"
    if len(outcome.predictions) != count:
        return f"{len(outcome.predictions)} predictions for {count} records"
    return next((p for p in map(bad_prediction, outcome.predictions) if p), None)


def numeric(value: Any, key: str | None) -> float | None:
    """The number a prediction stands for (`key` picks it out of a mapping)."""
    if key is not None and isinstance(value, dict):
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
