"""`--against URL`: the checks over real HTTP against the real runtime (`mlship serve`) around the
real model, and the differential check between that deployed model and the local candidate."""

from __future__ import annotations

import json

from .contract_support import by_status, check, contract_json, edit_config


def test_the_service_keeps_the_contract_and_agrees_with_the_candidate(demand, service):
    code, report = contract_json(demand, "--against", service.url)
    assert code == 0, [(c["name"], c["failures"]) for c in report["checks"] if c["failures"]]
    assert report["target"] == service.url
    assert by_status(report, "skipped") == []
    differential = check(report, "differential")["metrics"]
    assert differential["agreement"] == 1.0 and differential["records"] == 200
    latency = check(report, "latency")["metrics"]
    assert {"in_process_single_p99_ms", "http_single_p99_ms", "http_batch_p50_ms"} <= latency.keys()


def test_a_deployed_model_that_differs_fails_differential_naming_records(demand, shifted_service):
    service = shifted_service(5.0)
    code, report = contract_json(demand, "--against", service.url, "--check", "differential")
    assert code == 1
    result = check(report, "differential")
    assert result["status"] == "failed" and result["metrics"]["agreement"] == 0.0
    assert result["failures"][0].startswith("agreement 0.0% over 200 records from data/train.csv")
    assert "below the threshold" in result["failures"][0]
    # each shown disagreement: the record's fields, then both answers, 5 apart
    assert result["failures"][1].startswith("record {price: ") and "}: deployed " in result["failures"][1]


def test_a_small_shift_within_tolerance_agrees(demand, shifted_service):
    service = shifted_service(0.004)
    code, report = contract_json(demand, "--against", service.url, "--check", "differential")
    assert code == 0 and check(report, "differential")["metrics"]["agreement"] == 1.0


def test_differential_replays_the_prediction_log(demand, service):
    log_dir = demand / "logs" / "predictions"
    log_dir.mkdir(parents=True)
    record = {"price": 4.2, "promo": 1, "day_of_week": "mon", "store": "city", "temperature": 20.0}
    lines = [
        {
            "ts": "2024-05-01T10:00:00Z",
            "request_id": f"r{i}",
            "model_version": "0.1.0+abc",
            "endpoint": "/predict",
            "status": 200,
            "latency_ms": 3.1,
            "inputs": [{**record, "price": 2 + i / 10}],
            "outputs": [100.0],
            "error": None,
        }
        for i in range(30)
    ]
    lines.append({**lines[0], "status": 422, "inputs": [{"price": "bad"}], "error": "price must be a number"})
    (log_dir / "predictions-20240501T100000-1.jsonl").write_text(
        "\n".join(json.dumps(line) for line in lines) + "\n{truncated"
    )
    edit_config(demand, lambda c: c["contract"]["differential"].update(sample="logs/predictions", rows=20))
    code, report = contract_json(demand, "--against", service.url, "--check", "differential")
    assert code == 0, report
    metrics = check(report, "differential")["metrics"]
    assert metrics["records"] == 20 and metrics["sample"] == "logs/predictions"


def test_extremes_over_http_accept_a_4xx_that_names_the_field(demand, service):
    code, report = contract_json(demand, "--against", service.url, "--check", "extremes", "--check", "schema")
    assert code == 0, report
    assert check(report, "extremes")["metrics"]["cases"] > 30
