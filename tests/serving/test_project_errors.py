"""Whose fault: a record the project refuses is the client's (422); the project's own code failing on a
valid record is the project's (500 in serving, exit 2 for replay in the CLI), never blamed on the client."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mlship.serving.app import create_app
from mlship.serving.pipeline import Pipeline, RecordError, RuntimeSpec
from mlship.serving.settings import resolve

from .conftest import ROW, spec_with

# A preprocess with a bug: a lookup table that misses one of the stores the schema allows.
BUGGY = """
from {package}.preprocess import transform as _transform

STORE_CODES = {{"north": 0, "south": 1}}


def transform(raw, model):
    for store in raw["store"]:
        STORE_CODES[store]  # KeyError('city'): the table is incomplete
    return _transform(raw, model)
"""


@pytest.fixture
def buggy(spec: RuntimeSpec, tmp_path: Path) -> RuntimeSpec:
    source = tmp_path / "src"
    shutil.copytree(spec.source_dir, source)
    package = str(spec.entrypoints["preprocess"]).split(".")[0]
    (source / "seams13_buggy.py").write_text(BUGGY.format(package=package))
    entrypoints = {**spec.entrypoints, "preprocess": "seams13_buggy:transform"}
    return dataclasses.replace(spec, source_dir=str(source), entrypoints=entrypoints)


def test_the_projects_keyerror_on_a_valid_record_is_a_500_not_the_clients_fault(
    buggy: RuntimeSpec, tmp_path: Path
) -> None:
    served = spec_with(buggy, tmp_path / "logs")
    with TestClient(create_app(served, resolve(served))) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        ok = client.post("/predict", json={"records": [{**ROW, "store": "north"}]})
        assert ok.status_code == 200, ok.text
        failed = client.post("/predict", json={"records": [{**ROW, "store": "city"}]})
    assert failed.status_code == 500, failed.text
    assert "KeyError" in failed.json()["error"] and "city" in failed.json()["error"]


def test_a_record_without_a_field_is_still_the_clients_fault(buggy: RuntimeSpec) -> None:
    pipeline = Pipeline(buggy)
    with pytest.raises(RecordError, match="price"):
        pipeline.predict_records([{k: v for k, v in ROW.items() if k != "price"} | {"store": "north"}])
    with pytest.raises(KeyError, match="city"):  # the project's error comes out as itself
        pipeline.predict_records([{**ROW, "store": "city"}])


def test_replay_reports_the_projects_failure_as_the_projects_exit_2(buggy: RuntimeSpec) -> None:
    from mlship.errors import ExitCode, ProjectCodeError
    from mlship.monitor.scorers import ProjectScorer, ScoreError

    scorer = ProjectScorer.__new__(ProjectScorer)  # the scorer of a project directory, on this spec
    scorer.pipeline, scorer.version = Pipeline(buggy), "test"
    with pytest.raises(ProjectCodeError, match="KeyError: 'city'") as err:
        scorer.score([{**ROW, "store": "city"}])
    assert err.value.exit_code == ExitCode.USAGE
    with pytest.raises(ScoreError):  # a refused record stays the records' fault
        scorer.score([{**ROW, "store": "north", "price": "not a number"}])
