"""POST /predict's raw ASGI path answers exactly what the same request through Starlette answers,
and the DataFrame built from columns is the one `DataFrame.from_records` builds."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

from mlship.serving import pipeline as pipeline_module
from mlship.serving.app import RequestIds, create_app
from mlship.serving.pipeline import records_frame
from mlship.serving.settings import resolve

from .conftest import ROW, spec_with

JSON = {"content-type": "application/json"}
# (body, headers): an answer, each kind of refusal, numbers as text, a client's request id
REQUESTS: list[tuple[bytes, dict[str, str]]] = [
    (json.dumps({"records": [ROW, {**ROW, "store": "north"}]}).encode(), JSON),
    (json.dumps({"records": [{k: v for k, v in ROW.items() if k != "temperature"}]}).encode(), JSON),
    (json.dumps({"records": [{**ROW, "price": "8.25"}]}).encode(), JSON),
    (json.dumps({"records": [{**ROW, "price": "cheap"}]}).encode(), JSON),
    (json.dumps({"records": []}).encode(), JSON),
    (b"{not json", JSON),
    (b"", JSON),
    (json.dumps({"records": [ROW]}).encode(), {"content-type": "text/plain"}),
    (json.dumps({"records": [ROW]}).encode(), {**JSON, "x-request-id": "client-7"}),
    (json.dumps({"records": [ROW]}).encode(), {**JSON, "x-request-id": "\x01bad"}),
    (b"x" * 2048, JSON),  # over the 1 KiB limit below: 413 with connection: close
]


@pytest.fixture(scope="module")
def clients(spec: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, TestClient]]:
    served = spec_with(spec, tmp_path_factory.mktemp("predlog"), max_body_bytes=1024)
    app = create_app(served, resolve(served))
    # The Starlette app behind the fast path serves /predict too (same Service): both lifespans
    # are the one app's, so the model loads once.
    with TestClient(app) as fast:
        deadline = time.monotonic() + 60
        while fast.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield fast, TestClient(app.router)


def _comparable(response: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = response.json()
    request_id = body.pop("request_id", None)
    if "keys" in body:  # REQUEST_ID:INDEX: the ids differ between the two answers, the rest not
        assert all(key.startswith(f"{request_id}:") for key in body["keys"])
        body["keys"] = [key.rpartition(":")[2] for key in body["keys"]]
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, body, headers


@pytest.mark.parametrize("index", range(len(REQUESTS)))
def test_fast_path_answers_as_starlette_does(clients: tuple[TestClient, TestClient], index: int) -> None:
    fast, routed = clients
    body, headers = REQUESTS[index]
    one = fast.post("/predict", content=body, headers=headers)
    other = routed.post("/predict", content=body, headers=headers)
    assert _comparable(one) == _comparable(other)
    assert one.headers["x-request-id"] == one.json()["request_id"]
    if "x-request-id" in headers and headers["x-request-id"].isprintable():
        assert one.json()["request_id"] == headers["x-request-id"]


def test_every_answer_is_counted_and_logged(clients: tuple[TestClient, TestClient], spec: Any) -> None:
    fast, _ = clients
    service = fast.app.state.service  # type: ignore[attr-defined]
    before = service.metrics.sample("mlship_requests_total", {"endpoint": "/predict", "status": "422"}) or 0
    pending = service.log.pending + service.log.written
    fast.post("/predict", json={"records": [{**ROW, "price": "cheap"}]})
    after = service.metrics.sample("mlship_requests_total", {"endpoint": "/predict", "status": "422"})
    assert after == before + 1
    assert service.metrics.sample("mlship_requests_in_flight") == 0
    assert service.log.pending + service.log.written == pending + 1


def test_wrong_method_still_gets_405_with_allow(clients: tuple[TestClient, TestClient]) -> None:
    fast, _ = clients
    answer = fast.get("/predict")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


def test_request_ids_are_unique_across_processes_and_calls() -> None:
    first, second = RequestIds(), RequestIds()
    ids = [first() for _ in range(1000)] + [second() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert first("abc-1") == "abc-1" and first("x" * 129) != "x" * 129


@pytest.mark.parametrize(
    "records",
    [
        [ROW, {**ROW, "store": "north", "promo": 0}],
        [{**ROW, "temperature": None}, {**ROW, "temperature": 21}],  # None and ints: float64
        [{**ROW, "promo": True}, {**ROW, "promo": None}],  # object
        [{**ROW, "price": "8.25"}, {**ROW, "price": 3}],  # text and numbers: object
        [{**ROW, "store": None}],  # all missing: object
        [{**ROW, "price": 2**70}],  # past int64: object
    ],
)
@pytest.mark.parametrize("constructor", ["from_arrays", "dict"])
def test_frame_from_columns_equals_from_records(
    records: list[dict[str, Any]], constructor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if constructor == "dict":  # the fallback for a pandas whose DataFrame._from_arrays changed
        monkeypatch.setattr(pipeline_module, "_array_constructor", lambda: None)
    columns = tuple(ROW)
    built = records_frame(records, columns)
    assert list(built.columns) == list(columns)
    pd.testing.assert_frame_equal(built, pd.DataFrame.from_records(records)[list(columns)])


def test_a_frame_changed_by_preprocess_leaves_the_next_one_alone() -> None:
    first = records_frame([ROW], tuple(ROW))
    first.columns.name = "features"  # what a project's preprocess may do to the frame it is given
    first.loc[0, "price"] = -1.0
    second = records_frame([ROW], tuple(ROW))
    assert second.columns.name is None and second.loc[0, "price"] == ROW["price"]


def test_frame_keeps_fields_outside_the_schema_and_its_order() -> None:
    records = [{**ROW, "extra": 1}, {**ROW, "extra": 2}]
    built = records_frame(records, ("price", "promo"))
    pd.testing.assert_frame_equal(built, pd.DataFrame.from_records(records))
    shuffled = [dict(reversed(list(ROW.items())))]
    assert list(records_frame(shuffled, tuple(ROW)).columns) == list(ROW)


def test_no_schema_is_from_records(tmp_path: Path) -> None:
    records = [{"b": 1, "a": "x"}]
    pd.testing.assert_frame_equal(records_frame(records, None), pd.DataFrame.from_records(records))


def test_logged_inputs_are_what_was_scored(clients: tuple[TestClient, TestClient]) -> None:
    """The log reuses the client's JSON text of the records when it is one line and validation
    left it as sent; otherwise (a field added as null, a body over several lines) the records."""
    from mlship.serving.predlog import read_log

    fast, _ = clients
    service = fast.app.state.service  # type: ignore[attr-defined]
    spaced = {"records": [ROW, {**ROW, "store": "north"}]}
    left_out = {"records": [{k: v for k, v in ROW.items() if k != "temperature"}]}
    sent = {
        "compact": (json.dumps(spaced, separators=(",", ":")), spaced["records"]),
        "indented": (json.dumps(spaced, indent=2), spaced["records"]),
        "left-out": (json.dumps(left_out), [{**left_out["records"][0], "temperature": None}]),
    }
    for name, (text, _) in sent.items():
        headers = {**JSON, "x-request-id": f"logged-{name}"}
        assert fast.post("/predict", content=text.encode(), headers=headers).status_code == 200
    service.log.flush()
    rows = {row["request_id"]: row for row in read_log(service.log.directory)}
    for name, (_, records) in sent.items():
        assert rows[f"logged-{name}"]["inputs"] == records
