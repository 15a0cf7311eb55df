"""Benchmark: plan and convert a 200-cell notebook (`mlship plan`, `mlship init --from`).

    .venv/bin/python bench/notebook_convert.py [--repeat 5]

Baseline, measured in the same run on the same notebook: nbconvert's plain script export
(`PythonExporter`), which only concatenates cells. Target: plan + convert under 2 seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "notebooks" / "data"
HELPERS = 40


def code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def build(path: Path) -> int:
    """A long but ordinary notebook: helpers, feature steps, displays, a fit, scoring of new data."""
    cells = [
        code(
            "import numpy as np\nimport pandas as pd\n"
            "from sklearn.ensemble import HistGradientBoostingRegressor"
        ),
        code("SCALE = 1.5\nDATA = 'data/houses.csv'"),
        code("df = pd.read_csv(DATA)\ndf = df.drop(columns=['city'])"),
    ]
    for i in range(HELPERS):
        cells.append(markdown(f"### Feature {i}\nWhy feature {i} helps."))
        cells.append(
            code(
                f"def feature_{i}(frame):\n    frame = frame.copy()\n"
                f"    frame['f{i}'] = (frame['area'] * {i + 1} / (frame['rooms'] + {i})) * SCALE\n"
                "    return frame"
            )
        )
        cells.append(code(f"df = feature_{i}(df)\n# keep the frame tidy\ndf['f{i}'] = df['f{i}'].round(3)"))
    cells += [code("df.head()") for _ in range(32)]
    cells += [
        code("X = df.drop(columns=['price'])\ny = df['price']"),
        code("model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y)"),
        code("r2 = model.score(X, y)\nprint(r2)"),
        code("new = pd.read_csv('data/new_houses.csv').drop(columns=['city'])"),
    ]
    cells += [code(f"new = feature_{i}(new)\nnew['f{i}'] = new['f{i}'].round(3)") for i in range(HELPERS)]
    cells.append(code("estimate = model.predict(new)"))
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number}"
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))
    return len(cells)


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from nbconvert import PythonExporter

    from mlship.notebook.convert import convert_notebook
    from mlship.notebook.plan import plan_notebook

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(DATA, work / "data")
        notebook = work / "long.ipynb"
        count = build(notebook)
        counter = iter(range(10**6))

        def convert() -> None:
            convert_notebook(notebook=notebook, directory=work / f"project-{next(counter)}")

        exporter = PythonExporter()
        timed(lambda: exporter.from_filename(str(notebook)), 1)  # warm imports for both sides
        plan_notebook(notebook)
        baseline = timed(lambda: exporter.from_filename(str(notebook)), args.repeat)
        plan = timed(lambda: plan_notebook(notebook), args.repeat)
        full = timed(convert, args.repeat)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(f"notebook: {count} cells, median of {args.repeat} runs")
    print(f"nbconvert PythonExporter (baseline): {median(baseline) * 1000:8.1f} ms")
    for label, values in (("mlship plan:", plan), ("mlship init --from (plan+convert):", full)):
        ratio = median(values) / median(baseline)
        print(f"{label:<37}{median(values) * 1000:8.1f} ms  ({ratio:.1f}x the baseline)")
    verdict = "under" if median(full) < 2.0 else "OVER"
    print(f"target: plan + convert under 2 s -> {verdict} ({median(full):.2f} s)")


if __name__ == "__main__":
    main()
