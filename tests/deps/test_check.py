"""`mlship check` end to end against a real local index: seeded problems, the clean example, offline."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlship.cli import app

runner = CliRunner()

SEEDED = {
    ("missing-import", None),
    ("unused-requirement", "tabulate"),
    ("bleeding-edge", "freshpkg"),
    ("yanked", "yankpkg"),
    ("stale-major", "oldmajor"),
    ("gpu-driver", "torch"),
    ("no-wheel", "macpkg"),
}


def run_check(project: Path, *args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", str(project), "--json", *args])
    assert result.stdout.strip().startswith("{"), result.output
    return result.exit_code, json.loads(result.stdout)


def test_seeded_project_gets_exactly_the_seeded_findings(seeded_project: Path) -> None:
    code, data = run_check(seeded_project)
    got = {(f["code"], f["package"]) for f in data["findings"]}
    assert got == SEEDED, json.dumps(data["findings"], indent=1)
    assert code == 1 and data["exit_code"] == 1 and not data["ok"]
    missing = next(f for f in data["findings"] if f["code"] == "missing-import")
    assert "requests" in missing["message"] and missing["where"] == "src/mlsfix/model.py:4"
    gpu = next(f for f in data["findings"] if f["code"] == "gpu-driver")
    assert gpu["environment"] == "prod" and "580" in gpu["message"] and "cu128" in gpu["hint"]
