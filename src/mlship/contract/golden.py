"""Golden examples: each input record must give its expected output, within its tolerance."""

from __future__ import annotations

from typing import Any

from mlship.compare import close
from mlship.contract.records import answer_problem, show, show_record
from mlship.contract.report import CheckResult, judged, skipped


def check_examples(contract: Any, target: Any) -> CheckResult:
    examples = contract.examples
    if not examples:
        return skipped("examples", "examples", "no golden examples in contract.examples")
    failures = [
        f"{label} {show_record(ex.input)}: {problem}"
        for ex, label, problem in judge(examples, target)
        if problem
    ]
    return judged(
        "examples",
        "examples",
        failures,
        f"{len(examples)} golden examples match",
        what=f"of {len(examples)} examples",
        examples=len(examples),
    )


def judge(examples: list[Any], target: Any) -> list[tuple[Any, str, str | None]]:
    """Each example with its label and why its answer is wrong (None when it matches): the one rule
    for a golden example, used by `mlship test` and by the deploy gate."""
    records = [dict(example.input) for example in examples]
    outcome = target.call(records)
    if answer_problem(outcome, len(records)):
        # One bad record spoils a batch; score them one by one so the failure names the culprit.
        predictions = [_single(target, record) for record in records]
    else:
        predictions = list(outcome.predictions)
    judged_examples = []
    for index, (example, got) in enumerate(zip(examples, predictions, strict=True)):
        label = example.name or f"example {index + 1}"
        problem = None
        if isinstance(got, _Failed):
            problem = got.problem
        elif not close(example.output, got, example.tolerance):
            problem = f"expected {show(example.output)} ± {show(example.tolerance)}, got {show(got)}"
        judged_examples.append((example, label, problem))
    return judged_examples


class _Failed:
    def __init__(self, problem: str):
        self.problem = problem


def _single(target: Any, record: dict[str, Any]) -> Any:
    outcome = target.call([record])
    problem = answer_problem(outcome, 1)
    return _Failed(problem) if problem else outcome.predictions[0]
