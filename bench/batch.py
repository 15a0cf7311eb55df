"""Benchmark: `mlship predict` (streamed, 1 and 2 jobs) against a plain pandas baseline on one table.

Renders and trains the example project in a temporary directory, writes a CSV of N request records
drawn from its training data, then in the same run times, each in a fresh process:
  - baseline: pd.read_csv of the whole file, the serving Pipeline's predict_frame, to_csv;
  - mlship:   `mlship predict --jobs 1` and `--jobs 2`.
Prints rows/s and peak RSS (of the largest process: main or one worker) and ratios to the baseline.
Usage: python bench/batch.py [--rows N]   (default 3_000_000, about 2 minutes here; --rows 5000000 and up)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BASELINE = """
import sys, pandas as pd
from mlship.project import Project
from mlship.stages import load_pipeline
frame = pd.read_csv(sys.argv[2])
predictions = load_pipeline(Project.load(sys.argv[1])).predict_frame(frame)
frame.assign(prediction=predictions).to_csv(sys.argv[3], index=False)
"""


def make_table(project: Path, rows: int, path: Path) -> None:
    train = pd.read_csv(project / "data" / "train.csv").drop(columns=["demand"])
    rng = np.random.default_rng(0)
    with path.open("w") as handle:
        for start in range(0, rows, 500_000):
            picks = rng.integers(0, len(train), min(500_000, rows - start))
            train.iloc[picks].to_csv(handle, index=False, header=start == 0)


def timed(argv: list[str]) -> tuple[float, float]:
    """Seconds, and the peak RSS in MB of the largest process of the command (main or one worker)."""
    started = time.perf_counter()
    wrapper = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    return seconds, int(proc.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3_000_000)
    args = parser.parse_args()
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        init_project(directory=root / "benchdemo", no_input=True)
        project = root / "benchdemo"
        train(Project.load(project))
        table = root / "table.csv"
        make_table(project, args.rows, table)
        size = table.stat().st_size / 1e6
        print(f"table: {args.rows:,} rows, {size:.0f} MB CSV")
        baseline = [sys.executable, "-c", BASELINE, str(project), str(table), str(root / "b.csv")]
        runs = {"pandas baseline": baseline}
        for jobs in (1, 2):
            runs[f"mlship predict --jobs {jobs}"] = [
                *(sys.executable, "-m", "mlship", "predict", str(project), "-i", str(table)),
                *("-o", str(root / f"m{jobs}.csv"), "--jobs", str(jobs)),
            ]
        base = None
        for name, argv in runs.items():
            seconds, peak = timed(argv)
            rate = args.rows / seconds
            base = base or (rate, peak)
            print(
                f"{name:26} {seconds:7.1f} s  {rate:10,.0f} rows/s ({rate / base[0]:.2f}x)"
                f"  peak RSS {peak:7.0f} MB ({peak / base[1]:.2f}x)"
            )


if __name__ == "__main__":
    main()
