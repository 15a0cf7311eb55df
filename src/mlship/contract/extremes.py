"""Inputs outside the schema: missing fields, NaN, empty strings, huge and negative numbers,
unseen categories, wrong types, an empty batch and a 10k-row batch.

The schema check covers what the schema allows (that must be answered); here each case must get
a valid answer or a clear validation error -- rejected as the client's fault, with a message that
names the field -- and never a crash, a NaN prediction or a wrong number of predictions.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from mlship.config import FieldSpec
from mlship.contract.records import answer_problem, sample_records, show, typical_record
from mlship.contract.report import CheckResult, judged, skipped
from mlship.contract.schema import record_problems

BIG_BATCH = 10_000
NAN = float("nan")


def check_extremes(project: Any, target: Any) -> CheckResult:
    contract = project.config.contract
    if not contract.extremes:
        return skipped("extremes", "extremes", "contract.extremes is false")
    base, specs = _base_and_specs(project)
    if base is None:
        return CheckResult(
            "extremes",
            "extremes",
            "error",
            "no record to start from: set data.train, contract.schema or contract.examples",
        )
    failures: list[str] = []
    metrics: dict[str, Any] = {"cases": 0}
    # JSON has no NaN: over HTTP a client sends null (a case of its own), so NaN is not sent there.
    for field, description, record in field_cases(specs, base, nan=getattr(target, "carries_nan", True)):
        metrics["cases"] += 1
        problem = _judge(target.call([record]), 1, field)
        if problem:
            failures.append(f"{description}: {problem}")
    records = sample_records(project, contract.sample) or [base]
    for description, batch in (("empty batch", []), (f"{BIG_BATCH}-row batch", _big(records))):
        metrics["cases"] += 1
        outcome = target.call(batch)
        problem = _judge(outcome, len(batch), None)
        if problem:
            failures.append(f"{description}: {problem}")
        elif batch and outcome.kind == "answer":
            metrics["big_batch_seconds"] = round(outcome.seconds, 3)
    cases = metrics["cases"]
    return judged(
        "extremes",
        "extremes",
        failures,
        f"{cases} extreme inputs answered or rejected clearly",
        what=f"of {cases} extreme inputs",
        **metrics,
    )


def _base_and_specs(project: Any) -> tuple[dict[str, Any] | None, dict[str, FieldSpec]]:
    schema = dict(project.config.contract.schema_)
    records = sample_records(project, 50)
    base = next((r for r in records if not record_problems(schema, r)), None) if schema else None
    if base is None and schema:
        base = typical_record(schema)
    if base is None and records:
        base = records[0]
    if not schema and base is not None:
        schema = {name: _inferred(value) for name, value in base.items()}
    return base, schema


def _inferred(value: Any) -> FieldSpec:
    if isinstance(value, bool):
        return FieldSpec(type="boolean")
    if isinstance(value, (int, float)):
        return FieldSpec(type="number")
    return FieldSpec(type="string")


def field_cases(
    specs: dict[str, FieldSpec], base: dict[str, Any], *, nan: bool = True
) -> list[tuple[str, str, dict[str, Any]]]:
    """(field, description, record) for every extreme value of every field."""
    cases: list[tuple[str, str, dict[str, Any]]] = []
    for name, spec in specs.items():
        if spec.required:
            absent = {k: v for k, v in base.items() if k != name}
            cases.append((name, f"{name} missing", absent))
            gaps = [("null", None)] + ([("NaN", NAN)] if nan else [])
            cases += [(name, f"{name}={label}", {**base, name: v}) for label, v in gaps]
        cases += [(name, f"{name}={show(v)}", {**base, name: v}) for v in _values(spec)]
    return cases


def _values(spec: FieldSpec) -> list[Any]:
    values: list[Any] = [""]
    if spec.type in ("number", "integer"):
        values += [1e12, -1e12, 1e308, -1e308, "not-a-number"]
        if spec.min is not None and spec.min >= 0:
            values.append(-1)
        if spec.type == "integer":
            values.append(0.5)
    elif spec.type == "boolean":
        values += ["yes", 2]
    else:
        values += ["__unseen__", 12345, " " * 3]
    # Out-of-contract only: a value the schema allows belongs to the schema check.
    return [v for v in values if _outside(spec, v)]


def _outside(spec: FieldSpec, value: Any) -> bool:
    from mlship.contract.schema import field_problem

    return field_problem(spec, value) is not None or spec.type == "string"


def _big(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(r) for r in itertools.islice(itertools.cycle(records), BIG_BATCH)]


def _judge(outcome: Any, count: int, field: str | None) -> str | None:
    """Why this outcome breaks the contract for out-of-schema input, or None when it keeps it."""
    if outcome.kind == "answer":
        problem = answer_problem(outcome, count)
        return f"answered, but {problem}" if problem else None
    if outcome.kind == "crashed":
        return f"crashed ({outcome.message})"
    # A whole word: the field `id` is not named by "invalid".
    if field is not None and not re.search(rf"(?<![\w]){re.escape(field)}(?![\w])", outcome.message):
        return f"rejected with an error that does not name {field} ({outcome.message})"
    return None
