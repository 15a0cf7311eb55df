"""Everything a rule reads: the project, the policy, declared requirements, the lock, the imports and
the index facts. Rules are pure functions of this context; none of them does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mlship.config import Config, Environment, Policy
from mlship.deps.facts import PinFacts
from mlship.deps.findings import DEFAULT_SEVERITY, Finding
from mlship.deps.gpu import GpuTable
from mlship.deps.imports import ImportSite
from mlship.deps.requirements import Lock, Requirements


@dataclass
class Context:
    config: Config
    policy: Policy
    requirements: Requirements
    lock: Lock | None
    imports: list[ImportSite]
    facts: dict[str, PinFacts]
    python: str
    platforms: list[str]
    environments: dict[str, Environment]
    table: GpuTable
    now: datetime
    findings: list[Finding] = field(default_factory=list)

    def add(self, code: str, check: str, message: str, hint: str = "", **where: str | None) -> None:
        """Record a problem at the policy's severity for its code (dropped when the policy says off)."""
        severity = self.policy.severity.get(code, DEFAULT_SEVERITY.get(code, "error"))
        if severity != "off":
            self.findings.append(Finding(code, check, severity, "fail", message, hint, **where))

    def unknown(self, code: str, check: str, message: str, hint: str = "", **where: str | None) -> None:
        """Record what could not be checked: a warning, or an error when policy.on_unknown is fail."""
        severity = "error" if self.policy.on_unknown == "fail" else "warning"
        self.findings.append(Finding(code, check, severity, "unknown", message, hint, **where))
