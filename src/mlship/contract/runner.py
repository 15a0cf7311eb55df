"""run_contract: every check of mlship.yaml's `contract:` against the candidate or a service."""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from mlship.contract.report import CheckResult, ContractReport
from mlship.errors import MlshipError, UsageError

CHECKS = ("examples", "schema", "invariants", "extremes", "latency", "differential")


def run_contract(
    project: Any,
    *,
    against: str | None = None,
    environment: str | None = None,
    checks: Iterable[str] | None = None,
    on_check: Callable[[str], None] | None = None,
) -> ContractReport:
    """Run the contract; never raises for a failed check (see `ContractReport.passed`).

    Without `against`, every check runs in-process on the candidate (the project's artifacts,
    loaded by `load_pipeline`, the serving path). With `against` (a service URL; `environment`: the
    environment it was resolved from, whose own traffic the differential check replays), the checks
    run against that service over HTTP, latency is measured on both paths, and the differential
    check compares the service with the candidate.
    Raises UsageError for unknown check names (exit 2),
    ProjectCodeError when the model cannot load (exit 2), UnreachableError (exit 3).
    """
    from mlship.contract.targets import HttpTarget, InProcessTarget
    from mlship.project import load_pipeline

    selected = _selected(checks)
    started = time.perf_counter()
    candidate = InProcessTarget(load_pipeline(project))
    deployed = HttpTarget(against, environment=environment) if against else None
    if deployed is not None:
        deployed.probe()
    target = deployed or candidate
    results: list[CheckResult] = []
    for kind in selected:
        if on_check is not None:
            on_check(kind)
        results += _run_one(kind, project, target, candidate, deployed)
    return ContractReport(
        project=project.config.name,
        model_version=candidate.pipeline.spec.model_version,
        target=target.label,
        checks=results,
        seconds=time.perf_counter() - started,
    )


def _selected(checks: Iterable[str] | None) -> list[str]:
    if checks is None:
        return list(CHECKS)
    chosen = list(dict.fromkeys(checks))
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        raise UsageError(f"unknown check {unknown[0]!r}", hint=f"checks: {', '.join(CHECKS)}")
    return [c for c in CHECKS if c in chosen]


def _run_one(kind: str, project: Any, target: Any, candidate: Any, deployed: Any) -> list[CheckResult]:
    from mlship.contract import differential, extremes, golden, invariants, latency, schema

    contract = project.config.contract
    if kind == "invariants":
        if not contract.invariants:
            return [CheckResult("invariants", "invariant", "skipped", "no contract.invariants")]
        jobs: list[tuple[str, Callable[[], CheckResult]]] = [
            (
                invariants.invariant_name(inv),
                functools.partial(invariants.check_invariant, project, target, inv),
            )
            for inv in contract.invariants
        ]
    else:
        paths = [("in-process", candidate)] + ([("http", deployed)] if deployed else [])
        run = {
            "examples": lambda: golden.check_examples(contract, target),
            "schema": lambda: schema.check_schema(project, target),
            "extremes": lambda: extremes.check_extremes(project, target),
            "latency": lambda: latency.check_latency(project, paths),
            "differential": lambda: differential.check_differential(project, deployed, candidate),
        }[kind]
        jobs = [(kind, run)]
    results = []
    for name, job in jobs:
        started = time.perf_counter()
        result = _guarded(name, kind, job)
        result.seconds = time.perf_counter() - started
        results.append(result)
    return results


def _guarded(name: str, kind: str, job: Callable[[], CheckResult]) -> CheckResult:
    """A check that cannot run is an `error` result naming why; one broken check spoils no other."""
    from mlship.errors import UnreachableError

    try:
        return job()
    except UnreachableError:
        raise  # the service is gone: every later check would say the same
    except MlshipError as exc:
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return CheckResult(name, kind, "error", message, [message])
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"the check itself raised {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
        return CheckResult(name, kind, "error", message, [message])
