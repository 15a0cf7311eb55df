"""Everything a rule reads: the project, the policy, declared requirements, the lock, the imports and
the index facts. Rules are pure functions of this context; none of them does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.parser import Parser
from functools import cached_property

from packaging.requirements import InvalidRequirement, Requirement

from mlship.config import Config, Environment, Policy
from mlship.deps.facts import PinFacts
from mlship.deps.findings import DEFAULT_SEVERITY, Finding
from mlship.deps.gpu import GpuTable
from mlship.deps.imports import ImportSite
from mlship.deps.requirements import Lock, Pin, Requirements, canonical
from mlship.deps.target import marker_env
from mlship.platforms import GLIBC_DEFAULT


@dataclass
class RuleContext:
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
    # What the index rules check: the lock, or without one requirements.txt's own pins.
    pinned: Lock | None = None
    index_url: str = ""
    extra_index_urls: list[str] = field(default_factory=list)
    glibc: int = GLIBC_DEFAULT  # of the base image `build` chooses: which manylinux wheels run there
    findings: list[Finding] = field(default_factory=list)

    def where(self, pin: Pin) -> str:
        """file:line of a checked pin (the lock's line, or requirements.txt's without a lock)."""
        if pin.source:
            return pin.source
        return f"{self.pinned.path.name}:{pin.line}" if self.pinned else str(pin.line)

    @property
    def indexes(self) -> str:
        """The index checked, for a message: "the index URL" or "the indexes URL, EXTRA"."""
        urls = [u for u in (self.index_url or self.policy.index_url or "", *self.extra_index_urls) if u]
        return f"the index{'es' if len(urls) > 1 else ''} {', '.join(urls)}".rstrip()

    def add(self, code: str, check: str, message: str, hint: str = "", **where: str | None) -> None:
        """Record a problem at the policy's severity for its code (dropped when the policy says off)."""
        severity = self.policy.severity.get(code, DEFAULT_SEVERITY.get(code, "error"))
        if severity != "off":
            self.findings.append(Finding(code, check, severity, "fail", message, hint, **where))

    def unknown(self, code: str, check: str, message: str, hint: str = "", **where: str | None) -> None:
        """Record what could not be checked: a warning, or an error when policy.on_unknown is fail."""
        severity = "error" if self.policy.on_unknown == "fail" else "warning"
        self.findings.append(Finding(code, check, severity, "unknown", message, hint, **where))

    @cached_property
    def _declared_requires(self) -> dict[str, list[Requirement]]:
        """Every locked wheel's Requires-Dist, as its metadata states them (markers not yet applied)."""
        out: dict[str, list[Requirement]] = {}
        for name, facts in self.facts.items():
            metadata = facts.wheel.get("metadata") if facts.wheel else None
            if not metadata:
                continue
            reqs = []
            for raw in Parser().parsestr(metadata, headersonly=True).get_all("Requires-Dist") or []:
                try:
                    reqs.append(Requirement(raw))
                except InvalidRequirement:
                    continue
            out[name] = reqs
        return out

    @cached_property
    def _requested_extras(self) -> dict[str, set[str]]:
        """Extras asked of each distribution, by requirements.txt or by another locked wheel -- only by a
        requirement that applies (`narwhals[duckdb]; extra == "sql"` asks nothing unless `sql` is asked)."""
        out: dict[str, set[str]] = {}
        for item in self.requirements.items:
            if self.marker_true(item.requirement):
                out.setdefault(item.name, set()).update(item.requirement.extras)
        changed = True
        while changed:  # an extra asked of a wheel may make its own extra-marked requirements apply
            changed = False
            for dist, reqs in self._declared_requires.items():
                for req in reqs:
                    if not req.extras or not self.marker_true(req, out.get(dist, set())):
                        continue
                    asked = out.setdefault(canonical(req.name), set())
                    if not req.extras <= asked:
                        asked.update(req.extras)
                        changed = True
        return out

    def marker_true(self, req: Requirement, extras: set[str] | frozenset[str] = frozenset()) -> bool:
        """Whether a requirement applies on any target platform, for any of the given extras."""
        if req.marker is None:
            return True
        return any(
            req.marker.evaluate(marker_env(self.python, p, extra))
            for p in self.platforms
            for extra in ("", *extras)
        )

    def requires(self, dist: str) -> list[Requirement]:
        """The Requires-Dist of a locked wheel that apply to the target (None known: [])."""
        extras = self._requested_extras.get(dist, set())
        return [r for r in self._declared_requires.get(dist, []) if self.marker_true(r, extras)]
