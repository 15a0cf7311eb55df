"""`mlship test` as a CI job sees it: exit codes, --json, --check, JUnit XML that validates."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .contract_support import contract_json, edit_config, mlship

XSD = Path(__file__).with_name("junit.xsd")


def _validate(path: Path) -> ET.Element:
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(str(path))
    return ET.parse(path).getroot()


def test_junit_validates_and_names_each_check(demand, tmp_path):
    edit_config(demand, lambda c: c["contract"]["examples"][0].update(output=1.0))
    junit = tmp_path / "reports" / "contract.xml"
    proc = mlship("test", str(demand), "--json", "--junit", str(junit))
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    root = _validate(junit)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [c["name"] for c in report["checks"]]
    assert {c.get("classname") for c in cases} >= {"mlship.contract.examples", "mlship.contract.invariant"}
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "1", "1")
    failure = root.find("./testsuite/testcase[@name='examples']/failure")
    assert failure is not None and "expected 1 ± 2.14, got 214.12" in failure.text
    assert root.find("./testsuite/testcase[@name='differential']/skipped") is not None
    assert "contract checks failed: examples" in proc.stderr


def test_junit_of_a_passing_run_validates_too(demand, tmp_path):
    junit = tmp_path / "contract.xml"
    proc = mlship("test", str(demand), "--check", "examples", "--check", "schema", "--junit", str(junit))
    assert proc.returncode == 0, proc.stderr
    root = _validate(junit)
    assert [c.get("name") for c in root.iter("testcase")] == ["examples", "schema"]
    assert root.find(".//failure") is None
    # The table is data: on stdout, one row per check.
    assert "examples" in proc.stdout and "passed" in proc.stdout


def test_json_is_the_only_thing_on_stdout(demand):
    code, report = contract_json(demand, "--check", "examples")
    assert code == 0
    assert report["passed"] is True and report["counts"]["passed"] == 1
    assert report["model_version"].startswith("0.1.0+")


def test_an_unknown_check_is_a_usage_error(demand):
    proc = mlship("test", str(demand), "--check", "vibes")
    assert proc.returncode == 2
    assert "unknown check 'vibes'" in proc.stderr


def test_an_untrained_project_says_to_train_first(demand):
    import shutil

    shutil.rmtree(demand / "artifacts")
    proc = mlship("test", str(demand))
    assert proc.returncode == 2
    assert "mlship train" in proc.stderr


def test_an_environment_without_a_recorded_url_is_exit_2(demand):
    proc = mlship("test", str(demand), "--against", "staging")
    assert proc.returncode == 2
    assert "cannot resolve the URL of environment 'staging'" in proc.stderr
    assert "--against http://" in proc.stderr


def test_an_unknown_environment_is_exit_2(demand):
    proc = mlship("test", str(demand), "--against", "moon")
    assert proc.returncode == 2 and "unknown environment 'moon'" in proc.stderr


def test_an_unreachable_service_is_exit_3(demand):
    from tests.support import free_port

    proc = mlship("test", str(demand), "--against", f"http://127.0.0.1:{free_port()}", "--check", "examples")
    assert proc.returncode == 3, proc.stderr
    assert "cannot reach http://127.0.0.1:" in proc.stderr


@pytest.mark.parametrize("bad", ["contract: {examples: 3}", "contract:\n  latency: {repeats: 0}"])
def test_an_invalid_contract_names_the_key(demand, bad):
    path = demand / "mlship.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("# The behaviour contract")] + bad + "\n")
    proc = mlship("test", str(demand))
    assert proc.returncode == 2
    assert "contract." in proc.stderr and "mlship.yaml:" in proc.stderr
