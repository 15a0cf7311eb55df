"""What a contract run found: one result per check, and the report that gathers them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "error", "skipped"]


@dataclass
class CheckResult:
    """One check: `failures` name the field and the values; `metrics` are the figures it measured."""

    name: str
    kind: str
    status: Status
    summary: str
    failures: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "skipped")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "summary": self.summary,
            "failures": list(self.failures),
            "metrics": dict(self.metrics),
            "seconds": round(self.seconds, 4),
        }


def judged(name: str, kind: str, failures: list[str], ok: str, *, what: str, **metrics: Any) -> CheckResult:
    """A result that fails when `failures` is not empty; `what` counts the things that failed."""
    if failures:
        summary = f"{len(failures)} {what} failed: {failures[0]}"
        return CheckResult(name, kind, "failed", summary, failures, metrics)
    return CheckResult(name, kind, "passed", ok, [], metrics)


def skipped(name: str, kind: str, reason: str) -> CheckResult:
    return CheckResult(name, kind, "skipped", reason)


@dataclass
class ContractReport:
    project: str
    model_version: str
    target: str
    checks: list[CheckResult]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for check in self.checks:
            out[check.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "model_version": self.model_version,
            "target": self.target,
            "passed": self.passed,
            "counts": self.counts(),
            "seconds": round(self.seconds, 3),
            "checks": [check.to_dict() for check in self.checks],
        }
