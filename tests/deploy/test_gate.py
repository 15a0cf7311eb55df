"""The health gate against a real HTTP server (the stand-in runtime, run as a local process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlship.config import Example, Gate
from mlship.deploy.gate import matches, run_gate

from .deploy_helpers import free_port

SERVER = Path(__file__).parent / "testimage" / "server.py"
EXAMPLE = Example(input={"x": 2}, output=4, tolerance=0.001, name="doubles")


@pytest.fixture
def server(request):
    broken = getattr(request, "param", "")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "T_VERSION": "7", "T_BROKEN": broken, "T_READY_AFTER": "0.3"}
    process = subprocess.Popen([sys.executable, str(SERVER)], env=env)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def test_a_good_server_passes_every_check(server):
    result = run_gate(server, Gate(readiness_timeout=10, latency_p99_ms=2000, latency_requests=5), [EXAMPLE])
    assert result.passed, result.checks
    assert [c["check"] for c in result.checks] == ["readiness", "doubles", "latency"]
    assert result.checks[2]["p99_ms"] > 0


@pytest.mark.parametrize("server", ["answer"], indirect=True)
def test_a_wrong_answer_fails_with_what_was_expected(server):
    result = run_gate(server, Gate(readiness_timeout=10), [EXAMPLE])
    assert not result.passed
    assert "expected 4 (±0.001), got 5.0" in result.failure()


@pytest.mark.parametrize("server", ["readiness"], indirect=True)
def test_never_ready_stops_at_readiness(server):
    start = time.monotonic()
    result = run_gate(server, Gate(readiness_timeout=1.5), [EXAMPLE])
    assert not result.passed and len(result.checks) == 1
    assert "/readyz answered 503" in result.failure()
    assert time.monotonic() - start < 5


def test_an_impossible_latency_budget_fails(server):
    result = run_gate(server, Gate(readiness_timeout=10, latency_p99_ms=0.001, latency_requests=3), [EXAMPLE])
    assert not result.passed and result.failure().startswith("latency: p99")


def test_nothing_listening_is_not_ready():
    result = run_gate(f"http://127.0.0.1:{free_port()}", Gate(readiness_timeout=0.5), [EXAMPLE])
    assert not result.passed and "no answer" in result.failure()


def test_matches_tolerance_and_structure():
    assert matches(4.0005, 4, 0.001) and not matches(4.01, 4, 0.001)
    assert matches([1.0, {"a": 2.0}], [1, {"a": 2}], 1e-9)
    assert not matches([1.0], [1, 2], 1e-9)
    assert matches("cat", "cat", 0) and not matches(True, 1, 0)
