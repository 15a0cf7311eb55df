"""`mlship predict` streams: bounded memory, rejects with their error, no output from a stopped run."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support import MLSHIP, run_mlship


def _table(project: Path, rows: int, path: Path) -> pd.DataFrame:
    """`rows` request records drawn from the project's training data, with an id, written to `path`."""
    train = pd.read_csv(project / "data" / "train.csv").drop(columns=["demand"])
    picks = np.random.default_rng(7).integers(0, len(train), rows)
    frame = train.iloc[picks].reset_index(drop=True)
    frame.insert(0, "id", np.arange(rows))
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    return frame


def _expected(project: Path, frame: pd.DataFrame) -> list[float]:
    from mlship.project import Project, load_pipeline

    return load_pipeline(Project.load(project)).predict_frame(frame)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_chunks_score_like_one_frame_in_order(example_project, tmp_path, suffix):
    src = tmp_path / f"in{suffix}"
    frame = _table(example_project, 1000, src)
    out = tmp_path / f"out{suffix}"
    jobs = "2" if suffix == ".parquet" else "1"
    proc = run_mlship(
        "predict", str(example_project), "-i", str(src), "-o", str(out), "--batch-rows", "97", "--jobs", jobs
    )
    assert proc.returncode == 0, proc.stderr
    got = {".csv": pd.read_csv, ".parquet": pd.read_parquet}.get(
        suffix, lambda p: pd.read_json(p, lines=True)
    )(out)
    assert got["id"].tolist() == list(range(1000))
    assert list(got.columns) == [*frame.columns, "prediction"]
    assert got["prediction"].tolist() == pytest.approx(_expected(example_project, frame))


def test_bad_rows_go_to_the_reject_file_with_their_error(example_project, tmp_path):
    src = tmp_path / "in.csv"
    frame = _table(example_project, 500, src).astype({"price": object})
    frame.loc[[3, 321], "price"] = "cheap"
    frame.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    proc = run_mlship(
        "predict", str(example_project), "-i", str(src), "-o", str(out), "--id-column", "id", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["rows"], result["rejected"]) == (498, 2)
    rejects = [json.loads(line) for line in Path(result["rejects"]).read_text().splitlines()]
    assert [(r["_row"], r["id"], r["price"]) for r in rejects] == [(3, 3, "cheap"), (321, 321, "cheap")]
    assert all("price must be a number" in r["_error"] for r in rejects)
    scored = pd.read_csv(out)
    assert scored["id"].tolist() == [i for i in range(500) if i not in (3, 321)]

    # --max-errors 1: two bad rows stop the run; no output, the rejects kept as evidence
    stopped = tmp_path / "stopped.csv"
    proc = run_mlship(
        "predict", str(example_project), "-i", str(src), "-o", str(stopped), "--max-errors", "1"
    )
    assert proc.returncode == 2 and "more than 1 rows were rejected" in proc.stderr
    assert not stopped.exists() and (tmp_path / "stopped.rejects.jsonl").exists()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_a_stopped_run_leaves_no_output(example_project, tmp_path):
    src = tmp_path / "in.csv"
    _table(example_project, 300_000, src)
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [*MLSHIP, "predict", str(example_project), "-i", str(src), "-o", str(out)] + ["--batch-rows", "500"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.csv.*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert not out.exists()
    assert not list(tmp_path.glob(".*.tmp"))


# Address space for the whole process (interpreter, pandas, pyarrow, scikit-learn, model): streaming needs
# about 850 MB of it here, pandas holding this table whole about 1.2 GB.
LIMIT = 1000 * 1024 * 1024


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


@pytest.mark.slow
def test_a_table_larger_than_the_memory_given_is_scored_completely(example_project, tmp_path):
    src = tmp_path / "big.csv"
    frame = _table(example_project, 1_500_000, src)
    expected_first = _expected(example_project, frame.head(1000))
    del frame
    # glibc reserves 64 MB of address space per thread arena; two keep the limit about the data.
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    # The table whole, as pandas holds it, does not fit in the limit: reading and scoring it at once fails.
    whole = (
        "import sys, pandas as pd\nfrom mlship.project import Project\n"
        "from mlship.project import load_pipeline\n"
        "p = load_pipeline(Project.load(sys.argv[1])); p.predict_frame(pd.read_csv(sys.argv[2]))\n"
    )
    control = subprocess.run(
        [sys.executable, "-c", whole, str(example_project), str(src)],
        env=env,
        preexec_fn=_limited,
        capture_output=True,
        timeout=300,
    )
    assert control.returncode != 0
    out = tmp_path / "scored.csv"
    proc = subprocess.run(
        [*MLSHIP, "predict", str(example_project), "-i", str(src), "-o", str(out)],
        env=env,
        preexec_fn=_limited,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    ids = pd.read_csv(out, usecols=["id", "prediction"])
    assert ids["id"].tolist() == list(range(1_500_000))
    assert ids["prediction"].head(1000).tolist() == pytest.approx(expected_first)


def test_log_writes_batch_traffic_that_monitor_reads(example_project, tmp_path):
    from mlship.serving.predlog import read_log

    src = tmp_path / "in.csv"
    frame = _table(example_project, 2500, src).astype({"price": object})
    frame.loc[[7], "price"] = "cheap"
    frame.to_csv(src, index=False)
    logs = tmp_path / "logs"
    out = tmp_path / "out.parquet"
    proc = run_mlship(
        *("predict", str(example_project), "-i", str(src), "-o", str(out), "--batch-rows", "900"),
        *("--log", "--log-dir", str(logs), "--json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["log"] == str(logs)
    lines = read_log(logs)
    assert {line["endpoint"] for line in lines} == {"batch"}
    ok = [line for line in lines if line["status"] == 200]
    scored = pd.read_parquet(out)
    pairs = [(r["id"], o) for line in ok for r, o in zip(line["inputs"], line["outputs"], strict=True)]
    assert pairs == list(zip(scored["id"], scored["prediction"], strict=True))  # in order, each row once
    assert max(len(line["inputs"]) for line in ok) <= 1000
    (bad,) = [line for line in lines if line["status"] == 422]
    assert bad["inputs"][0]["id"] == 7 and "price must be a number" in bad["error"]

    monitor = run_mlship("monitor", str(example_project), "--log", str(logs), "--json")
    assert monitor.returncode in (0, 1), monitor.stderr
    traffic = json.loads(monitor.stdout)["traffic"]
    assert (traffic["records"], traffic["failed"]) == (2499, 1)
