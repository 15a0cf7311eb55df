"""Benchmark: plan and convert a 200-cell notebook (`mlship plan`, `mlship init --from`).

    .venv/bin/python bench/notebook_convert.py [--repeat 5]

Baselines, measured in the same run on the same notebook: nbconvert's plain script export
(`PythonExporter`), which only concatenates cells, and that script run once by a fresh `python` (the
floor for any plan that runs the notebook, as mlship's evidence run does). Target: plan + convert
under 2 seconds from the code (`--no-run`); with the run, the notebook's own run time plus little.
Also prints one `mlship verify` (a real kernel, then the pipeline in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
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
        plan_notebook(notebook, run=False)
        baseline = timed(lambda: exporter.from_filename(str(notebook)), args.repeat)
        script = work / "long.py"
        script.write_text(exporter.from_filename(str(notebook))[0].replace("get_ipython()", "None"))
        argv = [sys.executable, str(script)]
        own_run = timed(lambda: subprocess.run(argv, cwd=work, capture_output=True, check=True), args.repeat)
        static = timed(lambda: plan_notebook(notebook, run=False), args.repeat)
        plan = timed(lambda: plan_notebook(notebook), args.repeat)
        full = timed(convert, args.repeat)
        verify = timed(lambda: _verify(work / "project-0"), 1)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(f"notebook: {count} cells, median of {args.repeat} runs")
    print(f"nbconvert PythonExporter (baseline 1):  {median(baseline) * 1000:8.1f} ms")
    print(f"the notebook's code run by python (baseline 2): {median(own_run) * 1000:8.1f} ms")
    rows = (
        ("mlship plan --no-run (static):", static, baseline),
        ("mlship plan (with the evidence run):", plan, own_run),
        ("mlship init --from (plan+convert):", full, own_run),
    )
    for label, values, base in rows:
        which = "1" if base is baseline else "2"
        ratio = median(values) / median(base)
        print(f"{label:<40}{median(values) * 1000:8.1f} ms  ({ratio:.1f}x baseline {which})")
    convert_only = median(full) - median(plan) + median(static)
    verdict = "under" if convert_only < 2.0 else "OVER"
    print(f"target: plan + convert from the code under 2 s -> {verdict} ({convert_only:.2f} s)")
    overhead = median(plan) - median(static) - median(own_run)
    print(f"evidence run over the notebook's own run: +{overhead * 1000:.0f} ms")
    print(f"mlship verify (kernel + pipeline, once): {verify[0]:.2f} s")


def _verify(project: Path) -> None:
    from mlship.notebook.parity import verify_project
    from mlship.project import Project

    result = verify_project(Project.load(project))
    assert result.ok, [r for r in result.rows if not r.ok]


if __name__ == "__main__":
    main()
