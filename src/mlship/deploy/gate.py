"""The health gate a new version passes before it takes traffic: readiness, then the contract's own
example and latency checks (`mlship.contract`) against the candidate's URL."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlship import service_http
from mlship.compare import percentile
from mlship.config import Example, Gate
from mlship.contract import golden
from mlship.contract.latency import measure
from mlship.contract.targets import HttpTarget
from mlship.errors import UnreachableError
from mlship.serving.predlog import ORIGIN_HEADER


@dataclass
class GateResult:
    passed: bool
    url: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    def failure(self) -> str:
        failed = [c for c in self.checks if not c["passed"]]
        return "; ".join(f"{c['check']}: {c['detail']}" for c in failed) or "passed"

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "url": self.url, "checks": self.checks}


def wait_ready(url: str, timeout: float, alive: Callable[[], str | None] | None = None) -> tuple[bool, str]:
    """Poll /readyz until 200; `alive()` returns a reason when the process behind it has died."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if alive is not None:
            dead = alive()
            if dead:
                return False, dead
        try:
            status = service_http.request("GET", f"{url}/readyz", timeout=2.0, headers=_FROM_GATE).status
            if status == 200:
                return True, "ready"
            last = f"/readyz answered {status}"
        except UnreachableError as exc:
            last = f"no answer ({exc.message})"
        time.sleep(0.25)
    return False, f"not ready after {timeout:g}s: {last}"


def gate_examples(url: str, examples: list[Example]) -> list[dict[str, Any]]:
    """One gate check per golden example, judged by the contract's own rule (`contract.golden`)."""
    if not examples:
        return []
    try:
        judged = golden.judge(examples, HttpTarget(url, timeout=10.0, origin="gate"))
    except UnreachableError as exc:
        return [_check("examples", False, exc.message)]
    return [_check(label, problem is None, problem or "as expected") for _, label, problem in judged]


def measure_latency(url: str, record: dict[str, Any], requests: int, budget_ms: float) -> dict[str, Any]:
    """p99 of `requests` single-record calls, measured and ranked as the contract's latency check does."""
    try:
        times, problem = measure(
            HttpTarget(url, timeout=10.0, origin="gate"), [[record]] * requests, warmup=0
        )
    except UnreachableError as exc:
        return _check("latency", False, exc.message)
    if problem:
        return _check("latency", False, f"a request failed ({problem})")
    p99 = percentile(times, 99)
    ok = p99 <= budget_ms
    check = _check("latency", ok, f"p99 {p99:.1f} ms over {requests} requests (budget {budget_ms:g} ms)")
    check["p99_ms"] = round(p99, 2)
    return check


def run_gate(
    url: str,
    gate: Gate,
    examples: list[Example],
    *,
    alive: Callable[[], str | None] | None = None,
    ready_timeout: float | None = None,
) -> GateResult:
    """Readiness first (nothing else is meaningful before it), then examples, then latency."""
    ready, detail = wait_ready(url, ready_timeout or gate.readiness_timeout, alive)
    result = GateResult(passed=ready, url=url, checks=[_check("readiness", ready, detail)])
    if not ready:
        return result
    if gate.examples:
        result.checks += gate_examples(url, examples)
    if gate.latency_p99_ms is not None and examples:
        budget = gate.latency_p99_ms
        result.checks.append(measure_latency(url, examples[0].input, gate.latency_requests, budget))
    elif gate.latency_p99_ms is not None:
        result.checks.append(_check("latency", True, "skipped: no contract example to time"))
    result.passed = all(c["passed"] for c in result.checks)
    return result


_FROM_GATE = {ORIGIN_HEADER: "gate"}  # the runtime logs the gate's requests apart from users'


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"check": name, "passed": passed, "detail": detail}
