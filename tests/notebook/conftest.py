"""Shared, session-scoped work: each example notebook is converted once and verified once."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "notebooks"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.ipynb"))


def write_notebook(path: Path, cells: list[dict], **top) -> Path:
    """A small notebook file from (source, tags) cells; `top` overrides top-level keys."""
    data = {
        "cells": [
            {"cell_type": c.get("cell_type", "code"), "metadata": {"tags": c.get("tags", [])},
             "source": c["source"], "outputs": [], "execution_count": c.get("count")}
            if c.get("cell_type", "code") == "code"
            else {"cell_type": c["cell_type"], "metadata": {}, "source": c["source"]}
            for c in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    data.update(top)
    path.write_text(json.dumps(data))
    return path


GOOD_CELLS = [
    {"source": "import pandas as pd\nfrom sklearn.linear_model import LinearRegression"},
    {"source": 'df = pd.read_csv("data/houses.csv")\nX = df[["area", "rooms"]]\ny = df["price"]'},
    {"source": "model = LinearRegression().fit(X, y)"},
    {"source": 'new = pd.read_csv("data/new_houses.csv")\npredictions = model.predict(new[["area", "rooms"]])'},
]


@pytest.fixture
def make_notebook():
    return write_notebook


@pytest.fixture
def run_python():
    return python_in


@pytest.fixture
def small_notebook(tmp_path) -> Path:
    """A minimal valid notebook next to a copy of the example data."""
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    return write_notebook(tmp_path / "small.ipynb", GOOD_CELLS)


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> dict[str, Path]:
    from mlship.notebook.convert import convert_notebook

    base = tmp_path_factory.mktemp("converted")
    projects = {}
    for name in NAMES:
        convert_notebook(notebook=EXAMPLES / f"{name}.ipynb", directory=base / name)
        projects[name] = base / name
    return projects


@pytest.fixture(scope="session")
def verified(converted):
    """One real kernel run and one fresh-process pipeline run per example (the slow part)."""
    from mlship.notebook.parity import verify_project
    from mlship.project import Project

    return {name: verify_project(Project.load(path)) for name, path in converted.items()}


def python_in(project: Path, code: str):
    """Run code in a fresh plain interpreter with the project's src on the path."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
