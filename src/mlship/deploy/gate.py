"""The health gate a new version passes before it takes traffic: readiness, examples, latency."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlship.config import Example, Gate
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


def http_json(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    """One HTTP request; (status, parsed JSON or text). Connection errors raise OSError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={ORIGIN_HEADER: "gate"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")[:200]


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
            status, body = http_json("GET", f"{url}/readyz", timeout=2.0)
            if status == 200:
                return True, "ready"
            last = f"/readyz answered {status}"
        except OSError as exc:
            last = f"no answer ({getattr(exc, 'reason', exc)})"
        time.sleep(0.25)
    return False, f"not ready after {timeout:g}s: {last}"


def matches(actual: Any, expected: Any, tolerance: float) -> bool:
    """Numbers within an absolute tolerance; lists and dicts element-wise; anything else equal."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(actual, expected, rel_tol=0.0, abs_tol=tolerance)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(
            matches(a, e, tolerance) for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            matches(actual[k], expected[k], tolerance) for k in expected
        )
    return actual == expected


def check_example(url: str, example: Example, index: int) -> dict[str, Any]:
    name = example.name or f"example {index + 1}"
    try:
        status, body = http_json("POST", f"{url}/predict", {"records": [example.input]}, timeout=10.0)
    except OSError as exc:
        return _check(name, False, f"no answer ({getattr(exc, 'reason', exc)})")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        return _check(name, False, f"/predict answered {status}: {str(body)[:200]}")
    got = body["predictions"][0] if body["predictions"] else None
    ok = matches(got, example.output, example.tolerance)
    detail = "as expected" if ok else f"expected {example.output!r} (±{example.tolerance:g}), got {got!r}"
    return _check(name, ok, detail)


def measure_latency(url: str, record: dict[str, Any], requests: int, budget_ms: float) -> dict[str, Any]:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        try:
            status, _ = http_json("POST", f"{url}/predict", {"records": [record]}, timeout=10.0)
        except OSError as exc:
            return _check("latency", False, f"request failed ({getattr(exc, 'reason', exc)})")
        if status != 200:
            return _check("latency", False, f"/predict answered {status}")
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, math.ceil(0.99 * len(samples)) - 1)]
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
        result.checks += [check_example(url, ex, i) for i, ex in enumerate(examples)]
    if gate.latency_p99_ms is not None and examples:
        budget = gate.latency_p99_ms
        result.checks.append(measure_latency(url, examples[0].input, gate.latency_requests, budget))
    elif gate.latency_p99_ms is not None:
        result.checks.append(_check("latency", True, "skipped: no contract example to time"))
    result.passed = all(c["passed"] for c in result.checks)
    return result


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"check": name, "passed": passed, "detail": detail}
