"""Business invariants: monotonic in a feature over a grid, invariant to a feature, outputs in bounds.

Each invariant varies real records (a fixed sample of the training data), so a violation is
reported with the record, the feature values and the predictions that broke it.
"""

from __future__ import annotations

from typing import Any

from mlship.contract.records import answer_problem, numeric, sample_records, show, show_record
from mlship.contract.report import CheckResult, judged

GRID_POINTS = 7
MAX_LISTED = 20


def invariant_name(invariant: Any) -> str:
    if invariant.name:
        return invariant.name
    subject = f" of {invariant.output}" if invariant.output else ""
    if invariant.kind == "monotonic":
        return f"monotonic: prediction{subject} {invariant.direction or '?'} in {invariant.feature}"
    if invariant.kind == "invariance":
        return f"invariance: prediction{subject} does not depend on {invariant.feature}"
    low = show(invariant.min) if invariant.min is not None else "-inf"
    high = show(invariant.max) if invariant.max is not None else "inf"
    return f"bounds: prediction{subject} in [{low}, {high}]"


def check_invariant(project: Any, target: Any, invariant: Any) -> CheckResult:
    name = invariant_name(invariant)
    records = sample_records(project, project.config.contract.sample)
    if not records:
        return _error(name, "no records to vary: set data.train or add contract.examples")
    if invariant.kind == "bounds":
        return _bounds(name, target, invariant, records)
    if not invariant.feature:
        return _error(name, f"a {invariant.kind} invariant needs `feature`")
    if invariant.kind == "monotonic" and not invariant.direction:
        return _error(name, "a monotonic invariant needs `direction: increasing|decreasing`")
    values = _values(project, invariant, records)
    if len(values) < 2:
        return _error(name, f"no values to try for {invariant.feature}: give `grid` (or `values`)")
    grid_records = [{**record, invariant.feature: value} for record in records for value in values]
    outcome = target.call(grid_records)
    problem = answer_problem(outcome, len(grid_records))
    if problem:
        return _failed(name, f"{invariant.feature} over {show(values)}: {problem}")
    rows = [outcome.predictions[i : i + len(values)] for i in range(0, len(grid_records), len(values))]
    judge = _monotonic_violation if invariant.kind == "monotonic" else _invariance_violation
    failures = []
    for record, predictions in zip(records, rows, strict=True):
        found = judge(invariant, values, [numeric(p, invariant.output) for p in predictions])
        if found:
            failures.append(f"{found} (record {show_record(record)})")
    return _listed(
        name,
        failures,
        len(records),
        f"{len(records)} records x {len(values)} values of {invariant.feature} keep it",
        values=values,
    )


def _values(project: Any, invariant: Any, records: list[dict[str, Any]]) -> list[Any]:
    """The values to set the feature to: the invariant's own, else the schema's, else the sample's."""
    if invariant.kind == "invariance" and invariant.values:
        return list(invariant.values)
    if invariant.grid:
        return list(invariant.grid)
    spec = project.config.contract.schema_.get(invariant.feature)
    if spec is not None and spec.values:
        return list(spec.values)
    if spec is not None and spec.min is not None and spec.max is not None:
        low, high = spec.min, spec.max
    else:
        seen = [r.get(invariant.feature) for r in records]
        numbers = [v for v in seen if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            return sorted({v for v in seen if v is not None}, key=str)
        low, high = min(numbers), max(numbers)
    step = (high - low) / (GRID_POINTS - 1)
    return [round(low + i * step, 10) for i in range(GRID_POINTS)] if step else [low]


def _monotonic_violation(invariant: Any, values: list[Any], predictions: list[float | None]) -> str | None:
    sign = 1 if invariant.direction == "increasing" else -1
    worst = None
    for i in range(len(values) - 1):
        before, after = predictions[i], predictions[i + 1]
        if before is None or after is None:
            return f"prediction at {invariant.feature}={show(values[i])} is not a number"
        slip = sign * (before - after)  # > 0: the prediction moved against the direction
        if slip > invariant.tolerance and (worst is None or slip > worst[0]):
            worst = (slip, i)
    if worst is None:
        return None
    i = worst[1]
    moved = "rose" if predictions[i + 1] > predictions[i] else "fell"  # type: ignore[operator]
    return (
        f"{invariant.feature} {show(values[i])} -> {show(values[i + 1])}: prediction {moved} from"
        f" {show(predictions[i])} to {show(predictions[i + 1])}, but must be {invariant.direction}"
    )


def _invariance_violation(invariant: Any, values: list[Any], predictions: list[float | None]) -> str | None:
    first = predictions[0]
    for value, prediction in zip(values[1:], predictions[1:], strict=True):
        if first is None or prediction is None or abs(prediction - first) > invariant.tolerance:
            return (
                f"{invariant.feature} {show(values[0])} -> {show(value)} changed the prediction from"
                f" {show(first)} to {show(prediction)}"
            )
    return None


def _bounds(name: str, target: Any, invariant: Any, records: list[dict[str, Any]]) -> CheckResult:
    outcome = target.call(records)
    problem = answer_problem(outcome, len(records))
    if problem:
        return _failed(name, f"the sample got no answer: {problem}")
    failures = []
    for record, prediction in zip(records, outcome.predictions, strict=True):
        value = numeric(prediction, invariant.output)
        if value is None:
            failures.append(f"prediction {show(prediction)} is not a number (record {show_record(record)})")
        elif invariant.min is not None and value < invariant.min:
            failures.append(
                f"prediction {show(value)} is below {show(invariant.min)} (record {show_record(record)})"
            )
        elif invariant.max is not None and value > invariant.max:
            failures.append(
                f"prediction {show(value)} is above {show(invariant.max)} (record {show_record(record)})"
            )
    return _listed(name, failures, len(records), f"{len(records)} predictions within bounds")


def _listed(name: str, failures: list[str], records: int, ok: str, **metrics: Any) -> CheckResult:
    extra = len(failures) - MAX_LISTED
    shown = failures[:MAX_LISTED] + ([f"... and {extra} more records"] if extra > 0 else [])
    result = judged(name, "invariant", shown, ok, what=f"of {records} records", records=records, **metrics)
    if failures:
        result.summary = f"{len(failures)} of {records} records failed: {failures[0]}"
        result.metrics["violations"] = len(failures)
    return result


def _failed(name: str, message: str) -> CheckResult:
    return CheckResult(name, "invariant", "failed", message, [message])


def _error(name: str, message: str) -> CheckResult:
    return CheckResult(name, "invariant", "error", message, [message])
