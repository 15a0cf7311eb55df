"""Findings and the check result: the data `mlship check` reports (its `--json` shape is documented
in docs/deps.md and pinned by a test).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "error")
JSON_SCHEMA = "mlship.check/1"

# Default severity per finding code; the policy's `severity` map overrides any of them ("off" drops one).
DEFAULT_SEVERITY = {
    "missing-import": "error",
    "optional-import-missing": "info",
    "transitive-only-import": "warning",
    "unused-requirement": "warning",
    "lock-missing": "error",
    "lock-stale": "error",
    "lock-target": "error",
    "lock-incomplete": "error",
    "lock-inconsistent": "error",
    "lock-unhashed": "error",
    "lock-hash-mismatch": "error",
    "lock-unrequired": "error",
    "not-on-index": "error",
    "bleeding-edge": "error",
    "yanked": "error",
    "prerelease": "error",
    "stale-major": "error",
    "stale-release": "warning",
    "unmaintained": "warning",
    "requires-python": "error",
    "no-wheel": "error",
    "gpu-cpu-build": "error",
    "gpu-driver": "error",
    "gpu-minor-compat": "info",
    "cuda-in-cpu-image": "warning",
    "mixed-cuda": "error",
    "gpu-table-stale": "info",
    "vulnerability": "error",
    "denied": "error",
    "not-allowed": "error",
}


@dataclass(frozen=True)
class Finding:
    code: str
    check: str  # imports | lock | release | platform | gpu | advisories | policy
    severity: str  # info | warning | error
    status: str  # "fail": a problem was found; "unknown": it could not be checked
    message: str
    hint: str = ""
    package: str | None = None
    version: str | None = None
    environment: str | None = None
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass
class DependencyReport:
    project: str
    target: dict[str, Any]
    index: dict[str, Any]
    policy: dict[str, Any]
    gpu_table: str
    checked: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    exit_code: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, int]:
        counts = {"error": 0, "warning": 0, "info": 0, "unknown": 0}
        for f in self.findings:
            counts["unknown" if f.status == "unknown" else f.severity] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": JSON_SCHEMA,
            "project": self.project,
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "target": self.target,
            "index": self.index,
            "policy": self.policy,
            "gpu_table": self.gpu_table,
            "checked": self.checked,
            "findings": [f.to_dict() for f in self.findings],
            "seconds": round(self.seconds, 3),
        }


def decide_exit(findings: list[Finding], *, fail_on: str, on_unknown: str) -> int:
    """0 pass; 1 a violation at or above fail_on; 3 only unknowns and the policy says fail."""
    if any(f.status == "fail" and rank(f.severity) >= rank(fail_on) for f in findings):
        return 1
    if on_unknown == "fail" and any(f.status == "unknown" for f in findings):
        return 3
    return 0
