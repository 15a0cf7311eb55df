"""Serving benchmark: mlship (prediction logging on) vs a bare Starlette app, MLflow and BentoML.

    .venv/bin/python bench/serve.py [--project DIR] [--duration 6] [--baseline-python PYTHON]
                                    [--models ridge forest]

One worker each, the same project code and artifacts, loopback only, closed-loop clients at
concurrency 1 and 16 with one-row and 100-row requests. Two models: the template's Ridge (fast:
the server's own cost shows) and a heavier one, a 100-tree random forest on the same features.
Prints req/s, p50 and p99 per server, the in-process pipeline time for the same records, and the
ratios of mlship to each baseline against the targets of issue 17. MLflow and BentoML run only
where installed (in the baseline interpreter, by default /tmp/bench-venv/bin/python).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines  # noqa: E402
from loadgen import LoadResult, run_load  # noqa: E402

SCENARIOS = [(1, 1), (16, 1), (1, 100), (16, 100)]  # (concurrency, rows per request)
MODEL_SCENARIOS = {"ridge": SCENARIOS, "forest": [(1, 1), (16, 1)]}
# Issue 17's targets, throughput of mlship / the baseline per scenario (concurrency, rows).
BARE_TARGETS = {(1, 1): 1.0, (1, 100): 1.0, (16, 1): 3.0}
FRAMEWORK_TARGET = 2.0
P99_TARGET_MS = {(16, 1): 25.0}

FOREST = '''"""The bench's heavier model: a 100-tree random forest on the template's features."""
from pathlib import Path

import joblib

from .predict import load as load_ridge


def load(artifact_dir):
    model = load_ridge(artifact_dir)
    model.estimator = joblib.load(Path(artifact_dir) / "forest.joblib")
    return model


def predict(model, features):
    return model.estimator.predict(features.to_numpy(dtype=float))
'''


def forest_spec(project: Path, spec_file: Path, work: Path) -> Path:
    """The same project with a random forest in place of the Ridge model (fitted here, once)."""
    import joblib
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    from mlship.serving.pipeline import Pipeline, RuntimeSpec

    data = json.loads(spec_file.read_text())
    spec = RuntimeSpec.from_dict(data)
    package = str(spec.entrypoints["load"]).split(".")[0]
    pipeline = Pipeline(spec)
    frame = pd.read_csv(project / "data" / "train.csv")
    features = pipeline._preprocess(frame.drop(columns=["demand"]), pipeline.model)
    forest = RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1, min_samples_leaf=5)
    forest.fit(features.to_numpy(dtype=float), frame["demand"])
    joblib.dump(forest, Path(spec.artifact_dir) / "forest.joblib")
    (Path(spec.source_dir) / package / "forest.py").write_text(FOREST)
    data["entrypoints"] = {**data["entrypoints"], "load": f"{package}.forest:load"}
    data["entrypoints"]["predict"] = f"{package}.forest:predict"
    path = work / "runtime-forest.json"
    path.write_text(json.dumps(data))
    return path


def pipeline_ms(spec_file: Path, records: dict[int, list[dict]], repeats: int = 300) -> dict[int, float]:
    """Median in-process time of DataFrame -> preprocess -> predict for the same records."""
    import statistics

    from mlship.serving.pipeline import Pipeline, RuntimeSpec

    pipeline = Pipeline(RuntimeSpec.from_dict(json.loads(spec_file.read_text())))
    out = {}
    for rows, batch in records.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            pipeline.predict_records(batch)
            times.append((time.perf_counter() - started) * 1000.0)
        out[rows] = statistics.median(times[repeats // 10 :])
    return out


DEFAULT_BASELINE_PYTHON = "/tmp/bench-venv/bin/python"


def prepare_project(directory: Path | None, work: Path) -> Path:
    """The example project from the template, trained (unless --project names one)."""
    if directory is not None:
        return directory.resolve()
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    target = work / "demo"
    init_project(directory=target, no_input=True)
    train(Project.load(target))
    return target


def write_spec(project: Path, work: Path) -> Path:
    from mlship.project import Project
    from mlship.serve import serving_spec

    spec = serving_spec(Project.load(project))
    path = work / "runtime.json"
    path.write_text(json.dumps(spec.to_dict()))
    return path


def sample_records(project: Path, rows: int) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(project / "data" / "train.csv").drop(columns=["demand"], errors="ignore")
    return json.loads(frame.head(rows).to_json(orient="records"))


def wait_ready(
    target: baselines.Target, process: subprocess.Popen[bytes], probe: bytes, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{target.port}{target.path}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{target.name} exited with {process.returncode}")
        request = urllib.request.Request(url, data=probe, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{target.name} not answering within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def start(target: baselines.Target, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(target.env or {})}
    env.pop("PORT", None)
    with log.open("wb") as out:
        return subprocess.Popen(
            target.argv, cwd=target.cwd, env=env, stdout=out, stderr=out, start_new_session=True
        )


def measure(
    targets: list[baselines.Target],
    records: dict[int, list[dict]],
    duration: float,
    rounds: int,
    scenarios: list[tuple[int, int]],
) -> dict:
    """Every scenario in `rounds` interleaved slices per server, so load from elsewhere on the
    host falls on all servers alike rather than on whichever ran at the time."""
    results: dict[str, dict] = {t.name: {} for t in targets}
    for concurrency, rows in scenarios:
        merged: dict[str, list[LoadResult]] = {t.name: [] for t in targets}
        for _ in range(rounds):
            for target in targets:
                payload = baselines.body(target.body_key, records[rows])
                merged[target.name].append(
                    run_load(
                        "127.0.0.1",
                        target.port,
                        target.path,
                        payload,
                        concurrency=concurrency,
                        duration=duration / rounds,
                    )
                )
        for name, parts in merged.items():
            total = LoadResult(
                sum(p.requests for p in parts),
                sum(p.errors for p in parts),
                sum(p.seconds for p in parts),
                [x for p in parts for x in p.latencies_ms],
            )
            results[name][(concurrency, rows)] = total.summary()
            print(f"  {name:15} c={concurrency:<3} rows={rows:<4} {total.summary()}", flush=True)
    return results


def report(all_results: dict[str, dict], scenarios: list[tuple[int, int]], inproc: dict[int, float]) -> int:
    """The table and the ratios; returns how many targets were missed."""
    names = list(all_results)
    print("\nserver           " + "".join(f"c={c:<2} rows={r:<4}          " for c, r in scenarios))
    print("                 " + "req/s  p50ms  p99ms      " * len(scenarios))
    for name in names:
        cells = []
        for key in scenarios:
            s = all_results[name].get(key)
            cells.append(f"{s['rps']:>6.0f} {s['p50_ms']:>6.2f} {s['p99_ms']:>6.2f}     " if s else " " * 26)
        print(f"{name:16} " + "".join(cells))
    print(
        "in-process pipeline (DataFrame -> preprocess -> predict), median ms: "
        + ", ".join(f"rows={rows} {ms:.3f}" for rows, ms in inproc.items())
    )
    if "mlship" not in all_results:
        return 0
    missed = 0
    ours = all_results["mlship"]
    for key in scenarios:
        if ours.get(key) and key[0] == 1:
            ratio = ours[key]["p50_ms"] / inproc[key[1]]
            print(f"  mlship c=1 rows={key[1]}: served p50 / in-process = {ratio:.2f}x (target <= 1.2x)")
        limit = P99_TARGET_MS.get(key)
        if limit is not None and ours.get(key):
            ok = ours[key]["p99_ms"] <= limit
            missed += not ok
            print(
                f"  mlship c={key[0]} rows={key[1]}: p99 {ours[key]['p99_ms']:.2f} ms (target <= {limit:g}: "
                f"{'met' if ok else 'NOT met'})"
            )
    print("\nthroughput ratios (mlship / baseline)")
    for base in names:
        if base == "mlship":
            continue
        cells = []
        for key in scenarios:
            mine, theirs = ours.get(key), all_results[base].get(key)
            ratio = mine["rps"] / theirs["rps"] if mine and theirs and theirs["rps"] else float("nan")
            target = BARE_TARGETS.get(key) if base == "bare-starlette" else FRAMEWORK_TARGET
            verdict = ""
            if target is not None:
                ok = ratio >= target
                missed += not ok
                verdict = f" (>= {target:g}: {'met' if ok else 'NOT met'})"
            cells.append(f"c={key[0]} rows={key[1]}: {ratio:.2f}x{verdict}")
        print(f"  vs {base:15} " + "  ".join(cells))
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--project", type=Path, help="a trained mlship project (default: the template's demo)"
    )
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per scenario and server")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved slices per scenario")
    parser.add_argument(
        "--baseline-python", default=os.environ.get("MLSHIP_BENCH_PYTHON", DEFAULT_BASELINE_PYTHON)
    )
    parser.add_argument("--only", nargs="*", help="servers to run (mlship, bare-starlette, mlflow, bentoml)")
    parser.add_argument("--models", nargs="*", default=["ridge", "forest"], choices=list(MODEL_SCENARIOS))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mlship-bench-"))
    project = prepare_project(args.project, work)
    ridge = write_spec(project, work)
    records = {rows: sample_records(project, rows) for rows in (1, 100)}
    python = baselines.current_python()
    other = args.baseline_python if Path(args.baseline_python).exists() else None
    load = os.getloadavg()
    print(
        f"project {project}; {args.duration:.0f}s per scenario; one worker each; cores: {os.cpu_count()}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    missed, logged = 0, 0
    for offset, model in enumerate(args.models):
        spec_file = ridge if model == "ridge" else forest_spec(project, ridge, work)
        scenarios = MODEL_SCENARIOS[model]
        used = {rows for _, rows in scenarios}
        inproc = pipeline_ms(spec_file, {rows: records[rows] for rows in sorted(used)})
        print(f"\n== model: {model}")
        base_port = 18701 + 10 * offset
        log_dir = work / f"predlog-{model}"
        targets = [
            baselines.mlship_target(python, spec_file, base_port, log_dir),
            baselines.bare_target(python, spec_file, base_port + 1, work),
        ]
        for module, factory, port in (
            ("mlflow", baselines.mlflow_target, base_port + 2),
            ("bentoml", baselines.bento_target, base_port + 3),
        ):
            if other and baselines.has_module(other, module):
                targets.append(factory(other, spec_file, port, work))
            elif offset == 0:
                print(f"(skipping {module}: not installed in {args.baseline_python})")
        if args.only:
            targets = [t for t in targets if t.name in args.only]
        results = serve_and_measure(targets, records, args, scenarios, work)
        missed += report(results, scenarios, inproc)
        logged += sum(1 for p in log_dir.glob("*.jsonl") for _ in p.open())
    load = os.getloadavg()
    print(
        f"\nmlship prediction log lines written: {logged}; load average after: {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; targets missed: {missed}"
    )
    return 0


def serve_and_measure(
    targets: list[baselines.Target],
    records: dict[int, list[dict]],
    args: argparse.Namespace,
    scenarios: list[tuple[int, int]],
    work: Path,
) -> dict:
    processes, ready = [], []
    try:
        for target in targets:
            process = start(target, work / f"{target.name}-{target.port}.log")
            processes.append(process)
            try:
                wait_ready(target, process, baselines.body(target.body_key, records[1]), timeout=180)
            except RuntimeError as exc:
                print(f"  {target.name}: failed ({exc}); see {work / (target.name + '.log')}")
                continue
            for rows in {rows for _, rows in scenarios}:  # warm-up at each size, not measured
                payload = baselines.body(target.body_key, records[rows])
                run_load("127.0.0.1", target.port, target.path, payload, concurrency=4, duration=1.0)
            ready.append(target)
        return measure(ready, records, args.duration, args.rounds, scenarios)
    finally:
        for process in processes:
            stop(process)


if __name__ == "__main__":
    sys.exit(main())
