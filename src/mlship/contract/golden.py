"""Golden examples: each input record must give its expected output, within its tolerance."""

from __future__ import annotations

from typing import Any

from mlship.contract.records import answer_problem, close, show, show_record
from mlship.contract.report import CheckResult, judged, skipped


def check_examples(contract: Any, target: Any) -> CheckResult:
    examples = contract.examples
    if not examples:
        return skipped("examples", "examples", "no golden examples in contract.examples")
    records = [dict(example.input) for example in examples]
    outcome = target.call(records)
    if answer_problem(outcome, len(records)):
        # One bad record spoils a batch; score them one by one so the failure names the culprit.
        predictions = [_single(target, record) for record in records]
    else:
        predictions = list(outcome.predictions)
    failures = []
    for index, (example, got) in enumerate(zip(examples, predictions, strict=True)):
        label = example.name or f"example {index + 1}"
        if isinstance(got, _Failed):
            failures.append(f"{label} {show_record(example.input)}: {got.problem}")
        elif not close(example.output, got, example.tolerance):
            failures.append(
                f"{label} {show_record(example.input)}: expected {show(example.output)}"
                f" ± {show(example.tolerance)}, got {show(got)}"
            )
    return judged(
        "examples",
        "examples",
        failures,
        f"{len(examples)} golden examples match",
        what=f"of {len(examples)} examples",
        examples=len(examples),
    )


class _Failed:
    def __init__(self, problem: str):
        self.problem = problem


def _single(target: Any, record: dict[str, Any]) -> Any:
    outcome = target.call([record])
    problem = answer_problem(outcome, 1)
    return _Failed(problem) if problem else outcome.predictions[0]
