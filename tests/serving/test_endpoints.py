"""Every endpoint, in-process (Starlette's TestClient runs the app and its lifespan)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mlship.serving.app import create_app
from mlship.serving.pipeline import Pipeline, RuntimeSpec
from mlship.serving.predlog import read_log
from mlship.serving.settings import resolve

from .conftest import ROW, spec_with

ROWS = [ROW, {**ROW, "price": 3.0, "store": "north"}, {**ROW, "temperature": None, "day_of_week": "mon"}]


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("predlog")


@pytest.fixture(scope="module")
def client(spec: RuntimeSpec, log_dir: Path) -> Iterator[TestClient]:
    served = spec_with(spec, log_dir, {"flush_interval": 0.05})
    app = create_app(served, resolve(served))
    with TestClient(app) as test_client:
        deadline = time.monotonic() + 60
        while test_client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, test_client.get("/readyz").json()
            time.sleep(0.05)
        yield test_client


@pytest.fixture(scope="module")
def expected(spec: RuntimeSpec) -> list[Any]:
    return Pipeline(spec).predict_records(ROWS)


def test_health_and_ready(client: TestClient, spec: RuntimeSpec) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == spec.model_version
    assert ready.json()["device"] == "cpu"


def test_predict_matches_the_pipeline(client: TestClient, spec: RuntimeSpec, expected: list[Any]) -> None:
    response = client.post("/predict", json={"records": ROWS})
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"] == expected
    assert body["model_version"] == spec.model_version
    assert response.headers["x-request-id"] == body["request_id"]
    one = client.post("/predict", json={"records": [ROW]}).json()
    assert one["predictions"] == expected[:1]


def test_request_id_is_taken_from_the_client(client: TestClient) -> None:
    response = client.post("/predict", json={"records": [ROW]}, headers={"X-Request-ID": "abc-123"})
    assert response.json()["request_id"] == "abc-123"
    assert response.headers["x-request-id"] == "abc-123"


def test_requests_are_logged(
    client: TestClient, log_dir: Path, spec: RuntimeSpec, expected: list[Any]
) -> None:
    client.post("/predict", json={"records": ROWS}, headers={"X-Request-ID": "logged-1"})
    client.post("/predict", json={"records": [{**ROW, "price": "cheap"}]}, headers={"X-Request-ID": "bad-1"})
    time.sleep(0.3)
    rows = {row["request_id"]: row for row in read_log(log_dir)}
    good, bad = rows["logged-1"], rows["bad-1"]
    assert set(good) == {
        "ts",
        "request_id",
        "model_version",
        "endpoint",
        "status",
        "latency_ms",
        "inputs",
        "outputs",
        "error",
    }
    assert good["inputs"] == ROWS and good["outputs"] == expected and good["status"] == 200
    assert good["model_version"] == spec.model_version and good["endpoint"] == "/predict"
    assert good["ts"].endswith("Z") and good["error"] is None and good["latency_ms"] > 0
    assert bad["status"] == 422 and bad["outputs"] is None and "records[0].price" in bad["error"]
    assert bad["inputs"] == [{**ROW, "price": "cheap"}]


def test_checking_requests_are_marked_and_left_out_of_every_log_reader(
    client: TestClient, log_dir: Path
) -> None:
    """The deploy gate's and `test --against`'s requests carry x-mlship-origin; the runtime logs it
    and monitor, replay and the differential check (one reader) see only the traffic."""
    from mlship.contract.differential import log_records
    from mlship.monitor.logs import find_log_files, iter_requests
    from mlship.monitor.reader import read_logs

    marked = {**ROW, "store": "gate-only"}
    for origin in ("gate", "test"):
        client.post("/predict", json={"records": [marked]}, headers={"X-Mlship-Origin": origin})
    client.post("/predict", json={"records": [ROW]}, headers={"X-Mlship-Origin": "elsewhere"})
    time.sleep(0.3)
    rows = read_log(log_dir)
    assert sorted(r["origin"] for r in rows if "origin" in r) == ["gate", "test"]
    assert not any(r["inputs"] == [ROW] and "origin" in r for r in rows)  # an unknown origin is traffic
    files = find_log_files([log_dir])
    assert all(e.origin is None for e in iter_requests(files))
    assert len(list(iter_requests(files))) == len(rows) - 2
    assert marked not in log_records(log_dir, 10_000)
    live = read_logs(files, fields={"store": "categorical"})
    assert live.requests == len(rows) - 2 and live.columns["store"].counts["city"] > 0
    assert "gate-only" not in live.columns["store"].counts


def test_metrics(client: TestClient) -> None:
    client.post("/predict", json={"records": [ROW]})
    client.post("/predict", json={"records": "nope"})
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=")
    body = text.text
    assert 'endpoint="/predict",status="200"}' in body
    assert 'endpoint="/predict",status="422"}' in body
    assert "mlship_request_errors_total{" in body and 'kind="invalid_request"' in body
    assert "mlship_request_duration_seconds_bucket{" in body
    assert "\nmlship_request_rows_count " in body and "\nmlship_model_batch_rows_count " in body
    assert "\nmlship_ready 1.0\n" in body and "mlship_requests_in_flight 0.0" in body
    for line in body.splitlines():  # every sample line is `name{labels} number`
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_openapi_uses_the_contract_schema(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    record = doc["components"]["schemas"]["Record"]
    # Not strict: ranges and categories are not validated, so they are told, not published as rules.
    price = record["properties"]["price"]
    assert [option["type"] for option in price["anyOf"]] == ["number", "string"]
    assert "minimum" not in price["anyOf"][0] and "[0, 100]" in price["description"]
    assert record["properties"]["store"]["type"] == ["string", "integer"]
    assert "temperature" not in record["required"] and "price" in record["required"]
    infer = doc["paths"]["/v2/models/{model_name}/infer"]
    assert infer["parameters"][0]["name"] == "model_name" and "404" in infer["post"]["responses"]
    assert doc["components"]["schemas"]["InputTensor"]["required"] == ["name", "shape", "datatype", "data"]
    assert {"/predict", "/v2/models/{model_name}/infer", "/healthz", "/readyz", "/metrics"} <= set(
        doc["paths"]
    )


def test_v2_server_and_health(client: TestClient, spec: RuntimeSpec) -> None:
    assert client.get("/v2").json()["name"] == "mlship"
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get(f"/v2/models/{spec.name}/ready").status_code == 200
    assert client.get(f"/v2/models/{spec.name}/versions/{spec.model_version}/ready").status_code == 200
    assert client.get("/v2/models/other/ready").status_code == 404


def test_v2_model_metadata(client: TestClient, spec: RuntimeSpec) -> None:
    meta = client.get(f"/v2/models/{spec.name}").json()
    assert meta["name"] == spec.name and meta["versions"] == [spec.model_version]
    inputs = {i["name"]: i["datatype"] for i in meta["inputs"]}
    assert inputs == {
        "price": "FP64",
        "promo": "INT64",
        "day_of_week": "BYTES",
        "store": "BYTES",
        "temperature": "FP64",
    }


def v2_request(rows: list[dict[str, Any]]) -> dict[str, Any]:
    types = {
        "price": "FP64",
        "promo": "INT64",
        "day_of_week": "BYTES",
        "store": "BYTES",
        "temperature": "FP64",
    }
    return {
        "id": "v2-req",
        "inputs": [
            {"name": k, "shape": [len(rows), 1], "datatype": t, "data": [[r[k]] for r in rows]}
            for k, t in types.items()
        ],
    }


def test_v2_infer_matches_predict(client: TestClient, spec: RuntimeSpec, expected: list[Any]) -> None:
    rows = ROWS[:2]
    response = client.post(f"/v2/models/{spec.name}/infer", json=v2_request(rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == spec.name and body["id"] == "v2-req"
    (output,) = body["outputs"]
    assert output == {"name": "prediction", "shape": [2], "datatype": "FP64", "data": expected[:2]}
    versioned = client.post(
        f"/v2/models/{spec.name}/versions/{spec.model_version}/infer", json=v2_request(rows)
    )
    assert versioned.json()["outputs"][0]["data"] == expected[:2]


def test_v2_errors(client: TestClient, spec: RuntimeSpec) -> None:
    url = f"/v2/models/{spec.name}/infer"
    assert client.post("/v2/models/nope/infer", json=v2_request([ROW])).status_code == 404
    bad_type = v2_request([ROW])
    bad_type["inputs"][0]["data"] = [["x"]]
    response = client.post(url, json=bad_type)
    assert response.status_code == 422 and "price" in response.json()["error"]
    ragged = v2_request([ROW])
    ragged["inputs"][1]["shape"] = [2]
    ragged["inputs"][1]["data"] = [1, 0]
    assert client.post(url, json=ragged).status_code == 422
    assert client.post(url, json={"inputs": []}).status_code == 400
    assert client.post(url, json={"inputs": [{"name": "price"}]}).status_code == 400
    missing = v2_request([ROW])
    missing["inputs"] = missing["inputs"][1:]
    response = client.post(url, json=missing)
    assert response.status_code == 422 and "records[0].price is required" in response.json()["error"]


def test_v2_infer_flat_tensors(client: TestClient, spec: RuntimeSpec, expected: list[Any]) -> None:
    body = v2_request(ROWS[:2])
    for tensor in body["inputs"]:
        tensor["shape"] = [2]
        tensor["data"] = [value for (value,) in tensor["data"]]
    response = client.post(f"/v2/models/{spec.name}/infer", json=body)
    assert response.json()["outputs"][0]["data"] == expected[:2]


def test_not_ready_before_the_model_loads(spec: RuntimeSpec, tmp_path: Path) -> None:
    served = spec_with(spec, tmp_path)
    unstarted = TestClient(create_app(served, resolve(served)))  # no lifespan: the model never loads
    ready = unstarted.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "loading"
    assert unstarted.get("/healthz").status_code == 200
    assert unstarted.get("/v2/health/ready").status_code == 503
    response = unstarted.post("/predict", json={"records": [ROW]})
    assert response.status_code == 503 and "not ready" in response.json()["error"]
