"""The health gate against a real HTTP server (the stand-in runtime, run as a local process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlship.config import Example, Gate
from mlship.deploy.gate import run_gate
from tests.support import run_mlship, served

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
    assert "doubles: expected 4 ± 0.001, got 5" in result.failure()


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


def test_the_gate_and_mlship_test_judge_an_example_alike(example_project, tmp_path):
    """One rule for a golden example: one with a missing value (NaN in mlship.yaml) that
    `mlship test` passes passes the gate against the real runtime too (the gate used to send
    the NaN as JSON, which the runtime refuses), and one that `mlship test` fails fails the gate."""
    from mlship.project import Project

    config = example_project / "mlship.yaml"
    record = "{price: 2.04, promo: 1, day_of_week: sat, store: city, temperature: .nan}"
    text = config.read_text().replace(  # two more contract.examples, after the template's five
        "  # What a request may hold",
        f"    - {{name: no-temperature, input: {record}, output: 215.32, tolerance: 0.01}}\n"
        f"    - {{name: wrong, input: {record}, output: 99.0, tolerance: 0.01}}\n"
        "  # What a request may hold",
    )
    config.write_text(text)
    report = run_mlship("test", str(example_project), "--json", "--check", "examples")
    failures = json.loads(report.stdout)["checks"][0]["failures"]
    assert len(failures) == 1 and failures[0].startswith("wrong {"), failures
    examples = Project.load(example_project).config.contract.examples
    with served(example_project, log_dir=tmp_path / "log") as url:
        result = run_gate(url, Gate(readiness_timeout=30), examples)
    verdicts = {c["check"]: c["passed"] for c in result.checks}
    assert verdicts["no-temperature"] is True, result.checks
    assert verdicts["wrong"] is False and "expected 99 ± 0.01, got 215.3" in result.failure()
    assert sum(verdicts.values()) == len(examples)  # readiness and every other example pass
