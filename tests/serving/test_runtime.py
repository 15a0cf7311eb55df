"""Batched scoring gives each request what it would get alone, errors included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mlship.serving.metrics import Metrics
from mlship.serving.pipeline import Pipeline, RecordError, RuntimeSpec
from mlship.serving.runtime import ModelRuntime, synthetic_record
from mlship.serving.settings import resolve

from .conftest import ROW


@pytest.fixture(scope="module")
def runtime(spec: RuntimeSpec) -> ModelRuntime:
    metrics = Metrics(spec.name, spec.model_version)
    model = ModelRuntime(spec, resolve(spec), metrics)
    model._load()
    assert model.ready, model.error
    return model


def gather(runtime: ModelRuntime, jobs: list[list[dict[str, Any]]]) -> list[Any]:
    async def run() -> list[Any]:
        return await asyncio.gather(*(runtime.predict(job) for job in jobs), return_exceptions=True)

    return asyncio.run(run())


def test_batched_results_equal_single_results(runtime: ModelRuntime, spec: RuntimeSpec) -> None:
    pipeline = Pipeline(spec)
    jobs = [[{**ROW, "price": 1.0 + i}] for i in range(20)] + [[ROW] * 7, [{**ROW, "store": "north"}] * 3]
    calls = "mlship_model_batch_rows_count"
    before = runtime.metrics.sample(calls) or 0
    results = gather(runtime, jobs)
    assert results == [pipeline.predict_records(job) for job in jobs]
    assert 0 < (runtime.metrics.sample(calls) or 0) - before < len(jobs)  # fewer model calls than requests


def test_a_bad_request_fails_alone(runtime: ModelRuntime, spec: RuntimeSpec) -> None:
    pipeline = Pipeline(spec)
    good = [[{**ROW, "price": 2.0 + i}] for i in range(5)]
    bad = [{**ROW, "price": "not a number"}]
    results = gather(runtime, [*good[:2], bad, *good[2:]])
    assert isinstance(results[2], RecordError)
    assert [r for i, r in enumerate(results) if i != 2] == [pipeline.predict_records(job) for job in good]


def test_records_with_other_fields_are_not_merged(runtime: ModelRuntime) -> None:
    # Alone, a record without `price` is refused by this project's preprocess; batching it
    # with complete records must not quietly fill the column in.
    partial = {k: v for k, v in ROW.items() if k != "price"}
    results = gather(runtime, [[ROW], [partial], [ROW]])
    assert isinstance(results[1], RecordError)
    assert results[0] == results[2] and isinstance(results[0], list)


def test_synthetic_record_follows_the_schema(spec: RuntimeSpec) -> None:
    record = synthetic_record(spec.extra["contract_schema"])
    assert record == {"price": 50.0, "promo": 0, "day_of_week": "mon", "store": "north", "temperature": 10.0}


def test_a_request_alone_on_its_connection_skips_the_queue(runtime: ModelRuntime, spec: RuntimeSpec) -> None:
    # On the worker's only connection nothing can join a batch: each request is scored at once.
    pipeline = Pipeline(spec)
    jobs = [[{**ROW, "price": 3.0 + i}] for i in range(6)]
    calls = "mlship_model_batch_rows_count"

    async def run(alone: bool) -> list[Any]:
        return await asyncio.gather(*(runtime.predict(job, alone=alone) for job in jobs))

    before = runtime.metrics.sample(calls) or 0
    assert asyncio.run(run(alone=True)) == [pipeline.predict_records(job) for job in jobs]
    assert (runtime.metrics.sample(calls) or 0) - before == len(jobs)
    before = runtime.metrics.sample(calls) or 0
    assert asyncio.run(run(alone=False)) == [pipeline.predict_records(job) for job in jobs]
    assert (runtime.metrics.sample(calls) or 0) - before == 1  # queued together: one call
