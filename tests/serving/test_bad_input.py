"""Anything a client sends gets a 4xx with a message naming what is wrong, never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mlship.serving.app import create_app
from mlship.serving.pipeline import RuntimeSpec
from mlship.serving.settings import resolve

from .conftest import ROW, spec_with


@pytest.fixture(scope="module")
def client(spec: RuntimeSpec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    served = spec_with(spec, tmp_path_factory.mktemp("badlog"), max_body_bytes=4096)
    with TestClient(create_app(served, resolve(served)), raise_server_exceptions=False) as test_client:
        deadline = time.monotonic() + 60
        while test_client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield test_client


def post(client: TestClient, body: bytes | str, **headers: str) -> tuple[int, dict]:
    response = client.post("/predict", content=body, headers={"content-type": "application/json", **headers})
    return response.status_code, response.json()


def test_malformed_json_is_400(client: TestClient) -> None:
    for body in (
        b"{",
        b"records",
        b"",
        b"\xff\xfe",
        b'{"records": [NaN]}',
        b'{"records": [{"price": Infinity}]}',
    ):
        status, payload = post(client, body)
        assert status == 400, body
        assert payload["error"] and payload["request_id"]


def test_wrong_types_name_record_and_field(client: TestClient) -> None:
    rows = [
        ROW,
        {**ROW, "price": "cheap"},
        {**ROW, "promo": 1.5},
        {**ROW, "store": 7.5},
        {**ROW, "promo": True},
    ]
    status, payload = post(client, json.dumps({"records": rows}))
    assert status == 422
    assert payload["error"].startswith('records[1].price must be a number, got "cheap"')
    where = {(e["record"], e["field"]) for e in payload["errors"]}
    assert where == {(1, "price"), (2, "promo"), (3, "store"), (4, "promo")}


def test_missing_fields_are_named(client: TestClient) -> None:
    row = {k: v for k, v in ROW.items() if k != "store"}
    status, payload = post(client, json.dumps({"records": [ROW, row]}))
    assert status == 422 and payload["error"] == "records[1].store is required"
    optional = {k: v for k, v in ROW.items() if k != "temperature"}
    assert post(client, json.dumps({"records": [optional]}))[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        [],
        "records",
        {"rows": [ROW]},
        {"records": ROW},
        {"records": []},
        {"records": [1, 2]},
        {"records": [None]},
        {"records": [[8.25, 1]]},
        {"records": [{**ROW, "price": {"nested": 1}}]},
        {"records": [{**ROW, "price": [1, 2]}]},
        {"records": [{**ROW, "price": None}]},
    ],
)
def test_wrong_shapes_are_422(client: TestClient, body: object) -> None:
    status, payload = post(client, json.dumps(body))
    assert status == 422, payload
    assert payload["error"]


def test_huge_bodies_are_413(client: TestClient) -> None:
    big = json.dumps({"records": [ROW] * 200})
    assert len(big) > 4096
    status, payload = post(client, big)
    assert status == 413 and "4096" in payload["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        for _ in range(100):
            yield b" " * 100

    response = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.headers["connection"] == "close"


def test_unknown_routes_and_methods(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and "/nope" in response.json()["error"]
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    wrong = client.post("/healthz")
    assert wrong.status_code == 405 and set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert client.get("/v2/models/demo/versions/9.9.9").status_code == 404


def test_odd_headers(client: TestClient) -> None:
    body = json.dumps({"records": [ROW]})
    for declared in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""):
        status, payload = post(client, body, **{"content-type": declared})
        assert status == 415 and "Content-Type: application/json" in payload["error"], declared
    response = client.post("/predict", content=body)  # no content-type at all
    assert response.status_code == 415
    for declared in ("application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"):
        assert post(client, body, **{"content-type": declared})[0] == 200, declared
    assert post(client, body, **{"x-request-id": "x" * 500})[1]["request_id"] != "x" * 500


def test_numbers_beyond_a_float_are_422(client: TestClient) -> None:
    template = json.dumps({"records": [{**ROW, "price": "PRICE"}]})
    for price in ("1" * 400, "-" + "9" * 309):  # JSON integer literals past a 64-bit float
        status, payload = post(client, template.replace('"PRICE"', price))
        assert status == 422 and payload["error"] == "records[0].price must be a finite number", price
    status, payload = post(client, template.replace('"PRICE"', "1e400"))  # no float holds it: not read
    assert status == 400 and "64-bit float" in payload["error"]
    status, payload = post(client, json.dumps({"records": [{**ROW, "promo": "1" * 400}]}))
    assert status == 422 and "promo" in payload["error"]


def test_fuzzed_bodies_never_500(client: TestClient) -> None:
    import random

    rng = random.Random(5)
    values = [None, True, 0, -1, 1e308, -1e308, "", "x" * 300, "é", [], {}, [ROW], "sat", 3.5, 2**70]
    fields = [*ROW, "extra", ""]
    for _ in range(300):
        record = {rng.choice(fields): rng.choice(values) for _ in range(rng.randint(0, 7))}
        body = rng.choice([{"records": [record]}, {"records": [{**ROW, **record}]}, record, [record]])
        status = post(client, json.dumps(body))[0]
        assert 200 <= status < 500, (status, body)
    assert client.get("/readyz").status_code == 200
