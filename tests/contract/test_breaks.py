"""Each kind of check, broken on purpose: exactly that check fails, and says which field and values."""

from __future__ import annotations

from .contract_support import by_status, check, contract_json, edit_config, edit_source, mlship

MONOTONIC = "monotonic: prediction decreasing in price"


def test_the_generated_project_keeps_its_contract(demand):
    code, report = contract_json(demand)
    assert code == 0, [(c["name"], c["failures"]) for c in report["checks"] if c["failures"]]
    assert by_status(report, "failed") == [] and by_status(report, "error") == []
    assert by_status(report, "skipped") == ["differential"]  # it needs --against
    assert set(by_status(report, "passed")) == {
        "examples",
        "schema",
        MONOTONIC,
        "bounds: prediction in [0, inf]",
        "extremes",
        "latency",
    }
    assert check(report, "examples")["metrics"]["examples"] == 5
    assert check(report, "extremes")["metrics"]["cases"] > 30


def test_a_model_whose_demand_rises_with_price_fails_only_monotonic(demand):
    # Above a price of 11.98 demand climbs steeply (bounded, so no other check sees anything odd);
    # the training data and the golden examples all have lower prices (at most 11.97), so only the
    # grid 10 -> 12 catches it.
    edit_source(
        demand,
        "predict",
        "    return np.clip(demand, 0, None).round(2)",
        "    demand += np.clip((features['price'].to_numpy() - 11.98) * 5000, 0, 400)\n"
        "    return np.clip(demand, 0, None).round(2)",
    )
    code, report = contract_json(demand)
    assert code == 1
    assert by_status(report, "failed") == [MONOTONIC], report
    failures = check(report, MONOTONIC)["failures"]
    assert failures and all("price 10 -> 12: prediction rose from" in f for f in failures[:-1]), failures
    assert "must be decreasing" in failures[0] and "record {price:" in failures[0]


def test_a_preprocess_that_crashes_on_nan_fails_only_extremes(demand):
    # `astype(int)` on a 0/1 flag: fine on every real record, an unexplained ValueError on NaN.
    edit_source(
        demand,
        "preprocess",
        "    values = raw[column]\n",
        '    values = raw[column]\n    if column == "promo":\n        values = values.astype(int)\n',
    )
    code, report = contract_json(demand)
    assert code == 1
    assert by_status(report, "failed") == ["extremes"], report
    failures = check(report, "extremes")["failures"]
    nan = [f for f in failures if f.startswith("promo=NaN")]
    assert nan and "does not name promo" in nan[0] and "IntCastingNaNError" in nan[0], failures
    assert all(f.startswith("promo") for f in failures), failures


def test_a_wrong_golden_output_fails_only_examples(demand):
    edit_config(demand, lambda c: c["contract"]["examples"][1].update(output=999.0))
    code, report = contract_json(demand)
    assert code == 1
    assert by_status(report, "failed") == ["examples"], report
    (failure,) = check(report, "examples")["failures"]
    assert failure.startswith('example 2 {price: 8.58, promo: 0, day_of_week: "fri", store: "south"')
    assert "expected 999 ± 0.92, got 91.5" in failure


def test_a_slow_predict_fails_only_latency(demand):
    edit_source(
        demand,
        "predict",
        "    return np.clip(",
        "    import time\n\n    time.sleep(0.08)\n    return np.clip(",
    )
    edit_config(demand, lambda c: c["contract"]["latency"].update(repeats=5, warmup=0))
    code, report = contract_json(demand)
    assert code == 1
    assert by_status(report, "failed") == ["latency"], report
    failures = check(report, "latency")["failures"]
    assert any(f.startswith("in-process single p50 ") and "> budget 50 ms (1 record)" in f for f in failures)
    assert check(report, "latency")["metrics"]["in_process_single_p50_ms"] >= 80


def test_an_optional_field_that_is_rejected_when_absent_fails_the_schema_check(demand):
    edit_source(demand, "preprocess", 'OPTIONAL = ["temperature"]', "OPTIONAL = []")
    code, report = contract_json(demand, "--check", "schema", "--check", "extremes")
    assert code == 1
    assert by_status(report, "failed") == ["schema"], report
    (failure,) = check(report, "schema")["failures"]
    assert failure.startswith("temperature absent (optional): the schema allows it, but rejected")


def test_training_data_outside_the_schema_is_named_with_its_values(demand):
    edit_config(demand, lambda c: c["contract"]["schema"]["price"].update(max=10))
    code, report = contract_json(demand, "--check", "schema")
    assert code == 1
    failure = check(report, "schema")["failures"][0]
    assert failure.startswith("price: ") and "rows of data/train.csv break the schema" in failure
    assert "(must be <= 10, got 1" in failure and "values: 10.97, " in failure


def test_predictions_below_a_bound_fail_bounds_naming_the_value(demand):
    edit_config(demand, lambda c: c["contract"]["invariants"][1].update(min=100))
    code, report = contract_json(demand, "--check", "invariants")
    assert code == 1
    assert by_status(report, "failed") == ["bounds: prediction in [100, inf]"]
    assert "is below 100 (record {price:" in check(report, "bounds: prediction in [100, inf]")["failures"][0]


def test_an_invariance_the_model_breaks_names_the_feature_and_both_values(demand):
    edit_config(
        demand,
        lambda c: c["contract"]["invariants"].append(
            {"kind": "invariance", "feature": "store", "tolerance": 0.5}
        ),
    )
    code, report = contract_json(demand, "--check", "invariants")
    assert code == 1
    name = "invariance: prediction does not depend on store"
    assert by_status(report, "failed") == [name]
    assert 'store "north" -> "south" changed the prediction from' in check(report, name)["failures"][0]


def test_the_golden_examples_catch_a_model_trained_with_another_penalty(demand):
    # Not always-pass: the template's tolerance (1% of each output) sits between library drift
    # (none, to the cent) and a real change: Ridge's alpha 10 instead of 1 moves every output.
    edit_config(demand, lambda c: c["params"].update(alpha=10.0))
    assert mlship("train", str(demand)).returncode == 0
    code, report = contract_json(demand, "--check", "examples")
    assert code == 1
    failures = check(report, "examples")["failures"]
    assert len(failures) == 5 and all(", got " in f for f in failures), failures
