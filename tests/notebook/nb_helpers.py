"""Shared by the notebook tests (a uniquely named module: every test area has its own conftest)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "notebooks"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.ipynb"))


def write_notebook(path: Path, cells: list[dict], **top) -> Path:
    """A small notebook file from (source, tags) cells; `top` overrides top-level keys."""
    data = {
        "cells": [
            {
                "cell_type": c.get("cell_type", "code"),
                "metadata": {"tags": c.get("tags", [])},
                "source": c["source"],
                "outputs": [],
                "execution_count": c.get("count"),
            }
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
    {
        "source": 'FEATURES = ["area", "rooms"]\ndf = pd.read_csv("data/houses.csv")\n'
        'X = df[FEATURES]\ny = df["price"]'
    },
    {"source": "model = LinearRegression().fit(X, y)"},
    {"source": 'new = pd.read_csv("data/new_houses.csv")\npredictions = model.predict(new[FEATURES])'},
]


def python_in(project: Path, code: str):
    """Run code in a fresh plain interpreter with the project's src on the path."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_cli(*args: str):
    """The mlship CLI in this process: its exit code (0 when it returns)."""
    from mlship.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code
    return 0
