"""Benchmark: `mlship monitor` over 1 million logged predictions, against a naive json + pandas reader.

Renders and trains the example project in a temporary directory, scores 1M records drawn from its
training data with the real model, writes them as prediction-log lines (one request per line, in
files rotated at ~50 MB like the server's), then times, in the same run:
  - baseline: json.loads per line, the records into a pandas DataFrame, histograms/value counts;
  - mlship:   mlship.monitor.core.monitor() end to end (read, PSI/KS/chi2 per feature, verdict),
              and again with the HTML report.
Then labels for every scored record (the outcome a while later: prediction + noise, Parquet) and, in the
same run:
  - baseline: json.loads per line into a DataFrame, pandas merge with the labels, groupby window,
              scikit-learn's metrics per window;
  - mlship:   mlship.monitor.performance.evaluate() (keyed read, join, metrics per window and version).
Usage: python bench/monitor.py [N] [--labels-only]   (N defaults to 1_000_000)
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd

ROTATE_BYTES = 50 * 1024 * 1024
_encode = msgspec.json.Encoder().encode


def make_project(root: Path):
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import load_pipeline, train

    init_project(directory=root / "benchdemo", no_input=True)
    project = Project.load(root / "benchdemo")
    train(project)
    return project, load_pipeline(project)


def write_logs(project, pipeline, n: int, log_dir: Path) -> tuple[int, int]:
    raw = pd.read_csv(project.data_path()).drop(columns=["demand"])
    frame = raw.sample(n, replace=True, random_state=0).reset_index(drop=True)
    outputs = pipeline.predict_frame(frame)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    log_dir.mkdir(parents=True)
    files, size, handle, written = 0, 0, None, 0
    for i, (row, out) in enumerate(zip(rows, outputs, strict=True)):
        if handle is None or written >= ROTATE_BYTES:
            if handle:
                handle.close()
            files += 1
            handle = (log_dir / f"predictions-20240101T{files:06d}-1.jsonl").open("wb")
            written = 0
        failed = i % 200 == 0  # 0.5% failed requests
        line = (
            _encode(
                {
                    "ts": (start + timedelta(milliseconds=7 * i)).isoformat(timespec="milliseconds"),
                    "request_id": uuid.UUID(int=i).hex,
                    "model_version": pipeline.spec.model_version,
                    "endpoint": "/predict",
                    "status": 422 if failed else 200,
                    "latency_ms": 2.0 + (i % 13) * 0.3,
                    "inputs": [row],
                    "outputs": None if failed else [out],
                    "error": "bad input" if failed else None,
                }
            )
            + b"\n"
        )
        handle.write(line)
        written += len(line)
        size += len(line)
    handle.close()
    return files, size


def baseline(log_dir: Path, reference: dict) -> float:
    """What one would write first: json.loads per line, a DataFrame, then per-column statistics."""
    started = time.perf_counter()
    records, outputs = [], []
    for path in sorted(log_dir.glob("*.jsonl")):
        with path.open() as handle:
            for line in handle:
                entry = json.loads(line)
                if entry["status"] >= 400 or entry["error"]:
                    continue
                records.extend(entry["inputs"])
                outputs.extend(entry["outputs"])
    frame = pd.DataFrame.from_records(records)
    frame["prediction"] = outputs
    profiles = {**reference["features"], **reference["predictions"]}
    for name, ref in profiles.items():
        if ref["kind"] == "numeric":
            values = pd.to_numeric(frame[name], errors="coerce").dropna().to_numpy()
            np.histogram(values, bins=[-np.inf, *ref["edges"], np.inf])
        else:
            frame[name].astype(str).value_counts()
    return time.perf_counter() - started


def parse_only(log_dir: Path, loads) -> float:
    started = time.perf_counter()
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            loads(line)
    return time.perf_counter() - started


ROUNDS = 3


def cpu_seconds() -> float:
    self, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self.ru_utime + self.ru_stime + children.ru_utime + children.ru_stime


def measure(work, rounds: int = ROUNDS) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that round)."""
    best = (float("inf"), 0.0)
    for _ in range(rounds):
        cpu, started = cpu_seconds(), time.perf_counter()
        work()
        best = min(best, (time.perf_counter() - started, cpu_seconds() - cpu))
    return best


def monitor_with(project, logs: Path, workers: int):
    """monitor() with a fixed number of worker processes (the default adapts to idle cores)."""
    from mlship.monitor import reader
    from mlship.monitor.core import monitor

    original = reader.idle_cores
    reader.idle_cores = lambda: workers
    try:
        return monitor(project, logs=[logs])
    finally:
        reader.idle_cores = original


def write_labels(log_dir: Path, n: int, path: Path) -> int:
    """The outcome of every successful request: the logged prediction plus noise, keyed request_id:0."""
    keys, outcomes = [], []
    rng = np.random.default_rng(1)
    for file in sorted(log_dir.glob("*.jsonl")):
        for entry in msgspec.json.Decoder().decode_lines(file.read_bytes()):
            if entry["status"] < 400:
                keys.append(f"{entry['request_id']}:0")
                outcomes.append(entry["outputs"][0])
    noisy = np.asarray(outcomes, dtype=float) + rng.normal(0, 5, len(outcomes))
    pd.DataFrame({"key": keys, "outcome": noisy}).to_parquet(path)
    return len(keys)


def baseline_labelled(log_dir: Path, labels: Path) -> float:
    """json.loads per line, a DataFrame of keyed predictions, pandas merge, scikit-learn per hour."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    started = time.perf_counter()
    keys, stamps, values = [], [], []
    for path in sorted(log_dir.glob("*.jsonl")):
        with path.open() as handle:
            for line in handle:
                entry = json.loads(line)
                if entry["status"] >= 400 or entry["error"]:
                    continue
                for i, out in enumerate(entry["outputs"]):
                    keys.append(f"{entry['request_id']}:{i}")
                    stamps.append(entry["ts"])
                    values.append(out)
    frame = pd.DataFrame({"key": keys, "ts": pd.to_datetime(stamps), "value": values})
    joined = frame.merge(pd.read_parquet(labels), on="key")
    for _, group in joined.groupby(joined["ts"].dt.floor("1h")):
        mean_absolute_error(group["outcome"], group["value"])
        np.sqrt(mean_squared_error(group["outcome"], group["value"]))
    return time.perf_counter() - started


def labelled(project, root: Path, n: int) -> None:
    from mlship.monitor.logs import find_log_files
    from mlship.monitor.performance import evaluate

    labels = root / "labels.parquet"
    t0 = time.perf_counter()
    count = write_labels(root / "logs", n, labels)
    print(f"wrote {count:,} labels ({time.perf_counter() - t0:.1f}s)")
    files = find_log_files([root / "logs"])
    base, base_cpu = measure(lambda: baseline_labelled(root / "logs", labels), 1)
    ours, ours_cpu = measure(lambda: evaluate(project, files, labels=[labels]))
    perf = evaluate(project, files, labels=[labels])
    assert perf is not None and perf.labels["matched"] == count, perf and perf.labels
    print(f"joined {perf.labels['matched']:,} of {perf.labels['predictions']:,}; overall {perf.overall}")
    print(f"baseline labelled (json + pandas merge + sklearn): {base:6.2f} s wall {base_cpu:6.2f} s cpu")
    print(f"mlship performance (join + metrics):               {ours:6.2f} s wall {ours_cpu:6.2f} s cpu")
    print(f"speed-up over baseline:                            {base / ours:6.2f}x wall")
    print(f"{count:,} labelled predictions joined and measured under 10 s: {'yes' if ours < 10 else 'NO'}")


def main() -> None:
    from mlship.monitor.core import monitor
    from mlship.monitor.profile import load_reference

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1_000_000
    if "--labels-only" in sys.argv:
        with tempfile.TemporaryDirectory(prefix="mlship-bench-") as tmp:
            project, pipeline = make_project(Path(tmp))
            files, size = write_logs(project, pipeline, n, Path(tmp) / "logs")
            print(f"wrote {n:,} logged requests, {size / 1e6:.0f} MB in {files} files")
            labelled(project, Path(tmp), n)
        return
    with tempfile.TemporaryDirectory(prefix="mlship-bench-") as tmp:
        root = Path(tmp)
        project, pipeline = make_project(root)
        t0 = time.perf_counter()
        files, size = write_logs(project, pipeline, n, root / "logs")
        took = time.perf_counter() - t0
        print(f"wrote {n:,} logged requests, {size / 1e6:.0f} MB in {files} files ({took:.1f}s)")
        reference = load_reference(project.artifact_dir)

        # Best of ROUNDS each, so a busy machine (other jobs) distorts less; CPU seconds
        # include the worker processes (RUSAGE_CHILDREN), so they are comparable across runs.
        base, base_cpu = measure(lambda: baseline(root / "logs", reference))
        cores = os.cpu_count() or 1
        ours, ours_cpu = measure(lambda: monitor(project, logs=[root / "logs"]))
        one, one_cpu = measure(lambda: monitor_with(project, root / "logs", 1))
        every, every_cpu = measure(lambda: monitor_with(project, root / "logs", cores))
        with_report, _ = measure(
            lambda: monitor(project, logs=[root / "logs"], report=root / "drift.html"), 1
        )
        result = monitor(project, logs=[root / "logs"])
        json_parse, msgspec_parse = (
            parse_only(root / "logs", json.loads),
            parse_only(root / "logs", msgspec.json.decode),
        )
        traffic = result.traffic
        print(f"verdict {result.verdict}; {traffic['records']:,} records, {traffic['failed']:,} failed")
        print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"baseline (json.loads loop + pandas): {base:6.2f} s wall {base_cpu:6.2f} s cpu")
        print(f"mlship monitor (default workers):    {ours:6.2f} s wall {ours_cpu:6.2f} s cpu")
        print(f"mlship monitor (1 process):          {one:6.2f} s wall {one_cpu:6.2f} s cpu")
        print(f"mlship monitor ({cores} processes):        {every:6.2f} s wall {every_cpu:6.2f} s cpu")
        print(f"mlship monitor --report:             {with_report:6.2f} s wall")
        print(
            f"speed-up over baseline:              {base / ours:6.2f}x wall {base_cpu / ours_cpu:6.2f}x cpu"
        )
        print(f"parse only, line by line: json {json_parse:.2f} s, msgspec {msgspec_parse:.2f} s")
        print(f"{n / ours / 1e6:.2f} M predictions/s; under 10 s for {n:,}: {'yes' if ours < 10 else 'NO'}")
        labelled(project, root, n)


if __name__ == "__main__":
    main()
