"""The pieces the checks are made of, on hand-made inputs, and run_contract as the deploy gate calls it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlship.compare import close, percentile
from mlship.config import FieldSpec
from mlship.contract.extremes import field_cases
from mlship.contract.records import bad_prediction
from mlship.contract.schema import allowed_records, derive_schema, field_problem
from mlship.contract.targets import Outcome


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile([7.0], 99) == 7


@pytest.mark.parametrize(
    ("spec", "value", "problem"),
    [
        (FieldSpec(type="number", min=0, max=10), 11, "must be <= 10, got 11"),
        (FieldSpec(type="number"), "3 apples", 'must be a number, got "3 apples"'),
        # a number stored as text is the number (serving reads it the same way); blank text is none
        (FieldSpec(type="number"), "3", None),
        (FieldSpec(type="number", min=0, max=10), "11", "must be <= 10, got 11.0"),
        (FieldSpec(type="number"), " ", "is required"),
        (FieldSpec(type="number"), True, "must be a number, got true"),
        (FieldSpec(type="integer"), 1.5, "must be an integer, got 1.5"),
        (FieldSpec(type="category", values=["a", "b"]), "c", "must be one of ['a', 'b'], got \"c\""),
        (FieldSpec(type="number"), float("nan"), "is required"),
        (FieldSpec(type="number", required=False), None, None),
        (FieldSpec(type="integer", min=0, max=1), 1, None),
        (FieldSpec(type="boolean"), "yes", 'must be true or false, got "yes"'),
    ],
)
def test_field_problem(spec, value, problem):
    assert field_problem(spec, value) == problem


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (FieldSpec(type="number", min=0, max=10), 11),
        (FieldSpec(type="number", min=0, max=10), 10),
        (FieldSpec(type="integer"), 2.0),
        (FieldSpec(type="integer"), 2.5),
        (FieldSpec(type="category", values=["a", "b"]), "a"),
        (FieldSpec(type="category", values=["a", "b"]), "c"),
        (FieldSpec(type="category"), 3.5),
        (FieldSpec(type="string"), 7),
        (FieldSpec(type="boolean"), 1),
        (FieldSpec(type="number"), 10**400),
        (FieldSpec(type="number", required=False), None),
        (FieldSpec(type="number"), None),
    ],
)
def test_the_contract_and_the_runtime_judge_a_field_by_one_rule(spec, value):
    """The contract's schema check and the runtime's strict validation accept the same values and
    say the same thing about the others (they were two sets of rules)."""
    from mlship.serving.validate import RequestError, Validator

    validator = Validator({"f": spec.model_dump(mode="json")}, strict=True)
    try:
        validator.records({"records": [{"f": value}]})
        runtime = None
    except RequestError as exc:
        runtime = exc.message.removeprefix("records[0].f ")
    assert field_problem(spec, value) == runtime


def test_close_compares_numbers_within_tolerance_and_structures_exactly():
    assert close(1.0, 1.004, 0.01) and not close(1.0, 1.02, 0.01)
    assert close({"label": "a", "p": [0.2, 0.8]}, {"label": "a", "p": [0.2, 0.8000001]}, 1e-6)
    assert not close({"label": "a"}, {"label": "b"}, 1.0)
    assert not close(1, True, 1.0) and close(math.nan, math.nan, 0)
    # the one rule the gate, parity and replay use too: relative tolerance, infinities, NaN
    assert close(1000.0, 1000.5, 0, rtol=1e-3) and not close(1000.0, 1002.0, 0, rtol=1e-3)
    assert close(math.inf, math.inf, 0) and not close(math.nan, 1.0, math.inf)
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0 and percentile([1.0, 2.0], 99) == 2.0


def test_bad_prediction_finds_nan_deep_inside():
    assert bad_prediction(1.5) is None and bad_prediction({"p": [0.1, 0.9]}) is None
    assert bad_prediction(math.inf) == "prediction inf is not a finite number"
    assert bad_prediction({"p": [0.1, math.nan]}) == "p: prediction NaN is not a finite number"


def test_derive_schema_types_ranges_categories_and_gaps():
    frame = pd.DataFrame(
        {
            "price": [1.5, 2.5, 3.0],
            "count": [1.0, None, 3.0],  # integers with a gap arrive as floats
            "flag": [True, False, True],
            "city": ["x", "y", None],
            "id": [f"id-{i}" for i in range(3)],
        }
    )
    frame = pd.concat([frame] * 20, ignore_index=True)
    frame["id"] = [f"id-{i}" for i in range(len(frame))]
    schema = derive_schema(frame)
    assert schema["price"] == {"type": "number", "min": 1.5, "max": 3.0}
    assert schema["count"] == {"type": "integer", "min": 1, "max": 3, "required": False}
    assert schema["flag"] == {"type": "boolean"}
    assert schema["city"] == {"type": "category", "values": ["x", "y"], "required": False}
    assert schema["id"] == {"type": "string"}


def test_allowed_records_cover_edges_values_and_optional_gaps():
    schema = {
        "price": FieldSpec(type="number", min=0, max=100),
        "store": FieldSpec(type="category", values=["a", "b"]),
        "temp": FieldSpec(type="number", required=False),
    }
    base = {"price": 5.0, "store": "a", "temp": 20.0}
    described = dict(allowed_records(schema, base))
    assert described["price=0 (the schema's min)"] == {**base, "price": 0}
    assert described['store="b" (an allowed value)'] == {**base, "store": "b"}
    assert described["temp absent (optional)"] == {"price": 5.0, "store": "a"}


def test_extreme_cases_stay_outside_the_schema():
    schema = {
        "promo": FieldSpec(type="integer", min=0, max=1),
        "store": FieldSpec(type="category", values=["a"]),
    }
    cases = {
        description: record for _, description, record in field_cases(schema, {"promo": 1, "store": "a"})
    }
    assert "promo missing" in cases and "promo=NaN" in cases and "promo=-1" in cases and "promo=0.5" in cases
    assert cases['store="__unseen__"'] == {"promo": 1, "store": "__unseen__"}
    over_json = [d for _, d, _ in field_cases(schema, {"promo": 1, "store": "a"}, nan=False)]
    assert "promo=null" in over_json and "promo=NaN" not in over_json  # JSON has no NaN
    assert all(
        field_problem(schema[d.split("=")[0]], r[d.split("=")[0]]) for d, r in cases.items() if "=" in d
    )


class _Fixed:
    """A target that answers from a function of the records (no model needed)."""

    label = "fixed"

    def __init__(self, answer):  # type: ignore[no-untyped-def]
        self.answer = answer

    def call(self, records):  # type: ignore[no-untyped-def]
        return Outcome("answer", [self.answer(r) for r in records])


def test_run_contract_is_the_gate_api(trained_demand):
    from mlship.contract import CHECKS, ContractReport, run_contract
    from mlship.project import Project

    seen: list[str] = []
    report = run_contract(
        Project.load(trained_demand), checks=["examples", "invariants"], on_check=seen.append
    )
    assert isinstance(report, ContractReport) and report.passed
    assert seen == ["examples", "invariants"] and "differential" in CHECKS
    assert [c.name for c in report.checks] == [
        "examples",
        "monotonic: prediction decreasing in price",
        "bounds: prediction in [0, inf]",
    ]
    assert report.to_dict()["counts"] == {"passed": 3, "failed": 0, "error": 0, "skipped": 0}


def test_a_check_that_cannot_run_is_an_error_not_a_crash(trained_demand):
    from mlship.contract.invariants import check_invariant
    from mlship.project import Project

    project = Project.load(trained_demand)
    invariant = project.config.contract.invariants[0].model_copy(update={"direction": None})
    result = check_invariant(project, _Fixed(lambda r: 1.0), invariant)
    assert result.status == "error" and "needs `direction" in result.summary
    flat = check_invariant(project, _Fixed(lambda r: r["price"]), project.config.contract.invariants[0])
    assert flat.status == "failed" and "price 2 -> 4: prediction rose from 2 to 4" in flat.failures[0]


def test_the_log_readers_share_one_rule_for_a_successful_request(tmp_path):
    """The differential check's log sample and monitor/replay's reader agree on which logged requests
    succeeded: the runtime's rule (serving.predlog.answered: below 400) with no error."""
    import json

    from mlship.contract.differential import log_records
    from mlship.monitor.logs import iter_requests, scored_records

    def line(status, price, error=None):
        return {
            "status": status,
            "endpoint": "/predict",
            "inputs": [{"price": price}],
            "outputs": [1.0],
            "error": error,
        }

    entries = [line(200, 1), line(207, 2), line(422, 3), line(200, 4, "boom"), line("200", 5)]
    log = tmp_path / "predictions-1.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    sampled = [r["price"] for r in log_records(log, 10)]
    replayed = [pairs[0][0]["price"] for e in iter_requests([log]) if (pairs := scored_records(e))]
    assert sampled == replayed == [1, 2]
