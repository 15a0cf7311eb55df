"""Helpers the contract tests share (a unique module name: other test areas have their own)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support import free_port, run_mlship  # noqa: F401  (free_port: re-exported)

PACKAGE = "demand_model"


# On a shared 2-core host, scikit-learn's OpenMP threads stall for up to a second when other
# processes hold the cores (measured: single-record p99 940 ms vs 22 ms with one thread), which
# would make every latency budget a coin toss. One thread per process, as a serving worker has.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def mlship(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_mlship(*args, cwd=cwd, timeout=300, env=ENV)


def contract_json(project: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`mlship test PROJECT --json ARGS`: the exit code and the report."""
    proc = mlship("test", str(project), "--json", *args)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"exit {proc.returncode}, no JSON:\n{proc.stdout}\n{proc.stderr}") from None


def by_status(report: dict[str, Any], status: str) -> list[str]:
    return [c["name"] for c in report["checks"] if c["status"] == status]


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


def edit_config(project: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Change mlship.yaml as data (comments are lost; fine for a test's copy)."""
    path = project / "mlship.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def edit_source(project: Path, module: str, old: str, new: str) -> None:
    path = project / "src" / PACKAGE / f"{module}.py"
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
