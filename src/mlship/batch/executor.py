"""The executors' side of `mlship predict --engine spark`: each Spark python worker unpacks nothing and
loads the model once (the project's bundle was shipped once per executor by SparkContext.addArchive),
then scores its partitions' Arrow batches through the same chunk scorer as the local engine.

Rejected rows do not go into the output: each task reports its partition's count of scored rows and
its rejects (at most max_errors + 1 of them) through a Spark accumulator keyed by partition, so a
retried task replaces its earlier report instead of adding to it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyspark.accumulators import AccumulatorParam

from mlship.batch.score import score_chunk
from mlship.serving.pipeline import Pipeline, RuntimeSpec

# One pipeline (and one batch log) per python worker: Spark reuses its workers across tasks.
_pipelines: dict[str, Pipeline] = {}
_logs: dict[str, Any] = {}


@dataclass(frozen=True)
class Job:
    """What every task needs, pickled once into the job's closure (small: no model, no data)."""

    bundle: str  # the archive's name, as SparkFiles knows it
    spec: dict[str, Any]  # the RuntimeSpec, its paths relative to the unpacked bundle
    prediction_type: str  # "double", "long", "boolean", "string" or "json" (written as JSON text)
    max_errors: int | None
    id_column: str | None
    report: Any  # the accumulator of {partition: (scored, rejects)}
    log: dict[str, Any] | None = None  # LogSettings as a dict, with an absolute path (--log)
    run_id: str = ""


def pipeline_for(job: Job) -> Pipeline:
    from pyspark import SparkFiles

    pipeline = _pipelines.get(job.bundle)
    if pipeline is None:
        root = SparkFiles.get(job.bundle)
        spec = dict(job.spec)
        spec["source_dir"] = os.path.join(root, spec["source_dir"])
        spec["artifact_dir"] = os.path.join(root, spec["artifact_dir"])
        pipeline = _pipelines[job.bundle] = Pipeline(RuntimeSpec.from_dict(spec))
    return pipeline


def _batch_log(job: Job, model_version: str) -> Any:
    if job.log is None:
        return None
    if job.run_id not in _logs:
        from mlship.batch.logged import BatchLog
        from mlship.serving.settings import LogSettings

        _logs[job.run_id] = BatchLog(LogSettings(**job.log), model_version, job.run_id)
    return _logs[job.run_id]


def score_partition(job: Job, batches: Iterator[Any]) -> Iterator[Any]:
    """mapInPandas' function: a partition's batches in, its scored rows (with `prediction`) out."""
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    pipeline = pipeline_for(job)
    batch_log = _batch_log(job, pipeline.spec.model_version)
    offset, scored_rows, rejected_rows = 0, 0, 0
    rejects: list[dict[str, Any]] = []
    for frame in batches:
        started = time.perf_counter()
        scored = score_chunk(pipeline, frame, job.max_errors)
        if batch_log is not None:
            batch_log.chunk(frame, scored, time.perf_counter() - started, offset, tag=f"p{partition}-")
        if scored.errors and (job.max_errors is None or len(rejects) <= job.max_errors):
            rejects.extend(_rejects(frame, scored.errors, partition, offset, job.id_column))
        if scored.ok:
            out = frame.iloc[scored.ok].copy()
            out["prediction"] = _typed(scored.predictions, job.prediction_type)
            yield out
        scored_rows += len(scored.ok)
        rejected_rows += len(scored.errors)
        offset += len(frame)
    kept = rejects if job.max_errors is None else rejects[: job.max_errors + 1]
    job.report.add({partition: (scored_rows, rejected_rows, kept)})


def _rejects(
    frame: Any, errors: dict[int, str], partition: int, offset: int, id_column: str | None
) -> list[dict[str, Any]]:
    positions = sorted(errors)
    rows = frame.iloc[positions].to_dict(orient="records")
    out = []
    for position, row in zip(positions, rows, strict=True):
        lead: dict[str, Any] = {"_partition": partition, "_row": offset + position}
        if id_column is not None:
            lead[id_column] = row.pop(id_column)
        lead["_error"] = errors[position]
        out.append({**lead, **row})
    return out


def _typed(predictions: list[Any], kind: str) -> Any:
    import pandas as pd

    if kind == "json":
        return [v if isinstance(v, str) else json.dumps(v, default=str) for v in predictions]
    if kind == "string":
        return [None if v is None else str(v) for v in predictions]
    dtype = {"double": "float64", "long": "Int64", "boolean": "boolean"}[kind]
    return pd.array(predictions, dtype=dtype)


def prediction_type(predictions: list[Any]) -> str:
    """The Spark column type for predictions like these (from a sample scored on the driver)."""
    kinds = {type(v) for v in predictions if v is not None}
    if not kinds:
        return "double"
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "long"
    if kinds <= {int, float}:
        return "double"
    if kinds == {str}:
        return "string"
    return "json"


class ReportParam(AccumulatorParam):
    """The accumulator's merge: partition -> its latest report (a retried task replaces its first)."""

    def zero(self, value: dict[int, Any]) -> dict[int, Any]:
        return {}

    def addInPlace(self, value1: dict[int, Any], value2: dict[int, Any]) -> dict[int, Any]:  # noqa: N802
        value1.update(value2)
        return value1
