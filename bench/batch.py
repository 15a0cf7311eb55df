"""Benchmark: `mlship predict` (streamed, 1 and 2 jobs) against a plain pandas baseline on one table,
and `mlship predict --engine spark` against MLflow's `mlflow.pyfunc.spark_udf` on the same table.

Renders and trains the example project in a temporary directory, writes a CSV of N request records
drawn from its training data, then in the same run times, each in a fresh process:
  - baseline: pd.read_csv of the whole file, the serving Pipeline's predict_frame, to_csv;
  - mlship:   `mlship predict --jobs 1` and `--jobs 2`;
  - spark:    `mlship predict --engine spark --master local[2]` (Parquet out), and MLflow's spark_udf
              on the same master, model (the project's code in a pyfunc wrapper, as bench/serve.py
              saves it), schema and output format, from MLflow's own environment (--baseline-python).
Prints rows/s and peak RSS (of the largest process: main, one worker, or the JVM) and ratios to the
baseline of each pair. Every Spark run includes its JVM's start, as a scheduled job's would.
Usage: python bench/batch.py [--rows N] [--no-spark] [--no-baseline] [--baseline-python PY]
  Default 5_000_000 rows; for the 50M-row memory target: --rows 50000000 --no-baseline --no-spark.
  MLflow's environment: python3 -m venv /tmp/bench-venv &&
  /tmp/bench-venv/bin/pip install mlflow pyspark scikit-learn pandas joblib
"""

from __future__ import annotations

import argparse
import json
import os
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

# MLflow's documented batch path: the pyfunc model as a Spark UDF over the table's columns.
MLFLOW_SPARK = """
import os, sys
os.environ["PYSPARK_PYTHON"] = sys.executable
from pyspark.sql import SparkSession
from pyspark.sql.functions import struct
import mlflow.pyfunc
model, table, out, master, schema = sys.argv[1:6]
spark = (SparkSession.builder.master(master).config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
frame = spark.read.csv(table, header=True, schema=schema)
udf = mlflow.pyfunc.spark_udf(spark, model, result_type="double", env_manager="local")
frame.withColumn("prediction", udf(struct(*frame.columns))).write.parquet(out)
spark.stop()
"""
SCHEMA = "price double, promo long, day_of_week string, store string, temperature double"
DEFAULT_BASELINE_PYTHON = "/tmp/bench-venv/bin/python"


def make_table(project: Path, rows: int, path: Path) -> None:
    train = pd.read_csv(project / "data" / "train.csv").drop(columns=["demand"])
    rng = np.random.default_rng(0)
    with path.open("w") as handle:
        for start in range(0, rows, 500_000):
            picks = rng.integers(0, len(train), min(500_000, rows - start))
            train.iloc[picks].to_csv(handle, index=False, header=start == 0)


def _session_rss(sid: int) -> tuple[int, int]:
    """(largest, total) resident bytes of the processes in session `sid` (the command, its JVM, workers)."""
    page = os.sysconf("SC_PAGE_SIZE")
    largest = total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # the session id, after state, ppid, pgrp
                continue
            with open(f"/proc/{entry}/statm") as statm:
                rss = int(statm.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        largest, total = max(largest, rss), total + rss
    return largest, total


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Seconds, and the peak RSS in MB of the largest process of the command (main, one worker or the
    JVM) and of all its processes together (sampled every 0.2 s in its own session)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    largest = total = 0
    while proc.poll() is None:
        one, together = _session_rss(proc.pid)
        largest, total = max(largest, one), max(total, together)
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return seconds, largest / 2**20, total / 2**20


def mlflow_model(python: str, project: Path, work: Path) -> Path:
    """The project as an MLflow pyfunc model, saved from MLflow's environment (bench/baselines.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import baselines

    from mlship.project import Project
    from mlship.serve import serving_spec

    spec = work / "runtime.json"
    spec.write_text(json.dumps(serving_spec(Project.load(project)).to_dict()))
    model = work / "mlflow-model"
    code = baselines.MLFLOW_SAVE.format(
        project=baselines.PROJECT_CODE.format(spec=str(spec)), path=str(model)
    )
    script = work / "mlflow_save.py"
    script.write_text(code)
    subprocess.run([python, str(script)], check=True, capture_output=True, timeout=600)
    return model


def report(name: str, measured: tuple[float, float, float], rows: int, base: tuple[float, float]) -> None:
    seconds, peak, total = measured
    rate = rows / seconds
    print(
        f"{name:30} {seconds:7.1f} s {rate:10,.0f} rows/s ({rate / base[0]:.2f}x)"
        f"  peak RSS {peak:6.0f} MB ({peak / base[1]:.2f}x), all processes {total:6.0f} MB",
        flush=True,
    )


def spark_runs(args: argparse.Namespace, project: Path, table: Path, root: Path) -> None:
    print(f"spark, master {args.master} (ratios: to MLflow spark_udf)", flush=True)
    runs: dict[str, tuple[list[str], dict[str, str] | None]] = {}
    if Path(args.baseline_python).exists():
        model = mlflow_model(args.baseline_python, project, root)
        source = json.loads((root / "runtime.json").read_text())["source_dir"]
        argv = [
            args.baseline_python,
            "-c",
            MLFLOW_SPARK,
            str(model),
            str(table),
            str(root / "mlflow.parquet"),
        ]
        # the pickled wrapper names the project's modules: the executors' python must find them
        runs["mlflow.pyfunc.spark_udf"] = ([*argv, args.master, SCHEMA], {**os.environ, "PYTHONPATH": source})
    else:
        print(f"  (MLflow not measured: no {args.baseline_python}; see the module docstring)")
    runs["mlship predict --engine spark"] = (
        [
            *(sys.executable, "-m", "mlship", "predict", str(project), "-i", str(table)),
            *("-o", str(root / "spark.parquet"), "--engine", "spark", "--master", args.master),
        ],
        None,
    )
    base = None
    for name, (argv, env) in runs.items():
        measured = timed(argv, env)
        base = base or (args.rows / measured[0], measured[1])
        report(name, measured, args.rows, base)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--no-spark", action="store_true", help="only the local engine and pandas")
    parser.add_argument("--no-baseline", action="store_true", help="leave out pandas (for 50M rows)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--baseline-python", default=DEFAULT_BASELINE_PYTHON, help="MLflow's environment")
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
        if args.no_baseline:  # 50M rows whole would not fit in this machine's memory
            del runs["pandas baseline"]
        base = None
        for name, argv in runs.items():
            measured = timed(argv)
            base = base or (args.rows / measured[0], measured[1])
            report(name, measured, args.rows, base)
        if not args.no_spark:
            spark_runs(args, project, table, root)


if __name__ == "__main__":
    main()
