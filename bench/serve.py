"""Serving benchmark: mlship (validation, prediction log and metrics on) vs the servers a team
would pick instead, at every request size, and mlship's --workers scaling.

    .venv/bin/python bench/serve.py [--duration 12] [--rounds 4] [--models ridge forest]
                                    [--only mlship bare-starlette ...] [--workers 2] [--no-install]

One worker each, the same project code and artifacts, loopback only, closed-loop clients at
concurrency 1 and 16 with one-row and 100-row requests. Two models: the template's Ridge (fast:
the server's own cost shows) and a heavier one, a 100-tree random forest on the same features.
Baselines: a bare Starlette + uvicorn app (no validation, no log, no metrics), MLflow, BentoML,
LitServe, MLServer and Cog's coglet, each from its own venv under ~/.cache/mlship-bench (made on
first use; a framework that will not install or start is skipped with the reason printed).
Each scenario runs in `rounds` short slices with the servers' order rotated every round; a ratio
is the median of the per-round ratios, so load from elsewhere on the host falls on all alike. At
concurrency 1 the servers are measured side by side in each slice, in 50 ms turns
(loadgen.run_paired): this host's speed drifts by a third from one second to the next, which
slices alone leave in the ratios as +-20% noise (+-2% in turns).
Prints req/s, p50 and p99 per server with the load average, the in-process pipeline time for the
same records, the ratios against issue 17's targets, and the c=16 throughput of --workers N / 1.
An "http-floor" server (uvicorn and a raw ASGI app answering a constant) is measured beside them
as a reference: served p50 can be no lower than the in-process time plus its p50.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines  # noqa: E402
from loadgen import LoadResult, run_load, run_paired  # noqa: E402

SCENARIOS = [(1, 1), (16, 1), (1, 100), (16, 100)]  # (concurrency, rows per request)
MODEL_SCENARIOS = {"ridge": SCENARIOS, "forest": [(1, 1), (16, 1)]}
# Issue 17's targets, throughput of mlship / the baseline per scenario (concurrency, rows).
BARE_TARGETS = {(1, 1): 1.0, (1, 100): 1.0, (16, 1): 3.0}
FRAMEWORK_TARGET = 2.0
SERVED_TARGET = 1.2  # served p50 / in-process pipeline time, c=1
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


class InProcess:
    """The project's DataFrame -> preprocess -> predict in this process, for the same records: timed
    in each concurrency-1 round, right after the servers' turns (this host's speed drifts)."""

    def __init__(self, spec_file: Path):
        from mlship.serving.pipeline import Pipeline, RuntimeSpec

        self.pipeline = Pipeline(RuntimeSpec.from_dict(json.loads(spec_file.read_text())))
        self.rounds: dict[int, list[float]] = {}

    def measure(self, rows: int, batch: list[dict], seconds: float = 0.25) -> None:
        times = []
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at or len(times) < 20:
            started = time.perf_counter()
            self.pipeline.predict_records(batch)
            times.append((time.perf_counter() - started) * 1000.0)
        self.rounds.setdefault(rows, []).append(statistics.median(times[len(times) // 10 :]))

    def medians(self) -> dict[int, float]:
        return {rows: statistics.median(values) for rows, values in sorted(self.rounds.items())}


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


@dataclass
class Figures:
    """One server in one scenario: every round's result, and the load average seen."""

    rounds: list[LoadResult] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        parts = self.rounds
        total = LoadResult(
            sum(p.requests for p in parts),
            sum(p.errors for p in parts),
            sum(p.seconds for p in parts),
            [x for p in parts for x in p.latencies_ms],
        )
        return {**total.summary(), "load": round(statistics.fmean(self.loads), 1)}


def measure(
    targets: list[baselines.Target],
    records: dict[int, list[dict]],
    duration: float,
    rounds: int,
    scenarios: list[tuple[int, int]],
    inprocess: InProcess | None = None,
) -> dict[str, dict[tuple[int, int], Figures]]:
    """Every scenario in `rounds` slices per server, the servers' order rotated each round."""
    results: dict[str, dict[tuple[int, int], Figures]] = {t.name: {} for t in targets}
    if not targets:
        return results
    for concurrency, rows in scenarios:
        for target in targets:
            results[target.name][(concurrency, rows)] = Figures()
        for index in range(rounds):
            shift = index % len(targets)
            order = targets[shift:] + targets[:shift]
            if concurrency == 1:  # side by side, in short turns (loadgen.run_paired)
                bodies = [(t.port, t.path, t.body(records[rows])) for t in order]
                load = os.getloadavg()[0]
                paired = run_paired("127.0.0.1", bodies, duration=duration * len(order) / rounds)
                for target, result in zip(order, paired, strict=True):
                    figures = results[target.name][(concurrency, rows)]
                    figures.loads.append(load)
                    figures.rounds.append(result)
                if inprocess is not None:
                    inprocess.measure(rows, records[rows])
                continue
            for target in order:
                figures = results[target.name][(concurrency, rows)]
                figures.loads.append(os.getloadavg()[0])
                figures.rounds.append(
                    run_load(
                        "127.0.0.1",
                        target.port,
                        target.path,
                        target.body(records[rows]),
                        concurrency=concurrency,
                        duration=duration / rounds,
                    )
                )
        for target in targets:
            summary = results[target.name][(concurrency, rows)].summary()
            print(f"  {target.name:15} c={concurrency:<3} rows={rows:<4} {summary}", flush=True)
    return results


def ratio(ours: Figures | None, theirs: Figures | None) -> float:
    """The median over rounds of ours / theirs in req/s (round i of each ran back to back)."""
    if not ours or not theirs:
        return float("nan")
    pairs = [a.rps / b.rps for a, b in zip(ours.rounds, theirs.rounds, strict=False) if b.rps]
    return statistics.median(pairs) if pairs else float("inf")


def report(
    results: dict[str, dict[tuple[int, int], Figures]],
    scenarios: list[tuple[int, int]],
    inproc: dict[int, float],
) -> int:
    """The compact table and the ratios; returns how many targets were missed."""
    print("\nserver          " + "".join(f"| c={c:<2} rows={r:<4} req/s  p50   p99 " for c, r in scenarios))
    for name, figures in results.items():
        cells = []
        for key in scenarios:
            s = figures[key].summary() if key in figures else None
            cells.append(
                f"| {s['rps']:>16.0f} {s['p50_ms']:5.2f} {s['p99_ms']:5.1f} " if s else "|" + " " * 34
            )
        print(f"{name:15} " + "".join(cells))
    print(
        "in-process pipeline (frame -> preprocess -> predict, timed in each c=1 round), median ms: "
        + ", ".join(f"rows={rows} {ms:.3f}" for rows, ms in inproc.items())
    )
    if "mlship" not in results:
        return 0
    missed = 0
    ours = results["mlship"]
    for key in scenarios:
        if key not in ours:
            continue
        summary = ours[key].summary()
        if key[0] == 1:
            served = summary["p50_ms"] / inproc[key[1]]
            ok = served <= SERVED_TARGET
            missed += not ok
            print(
                f"  mlship c=1 rows={key[1]}: served p50 {summary['p50_ms']:.2f} ms / in-process "
                f"{inproc[key[1]]:.2f} ms = {served:.2f}x "
                f"(<= {SERVED_TARGET:g}: {'met' if ok else 'NOT met'})"
            )
            floor = results.get("http-floor", {}).get(key)
            if floor is not None:
                least = floor.summary()["p50_ms"]
                print(
                    f"    the HTTP floor (uvicorn answering a constant) p50 {least:.2f} ms: no server "
                    f"here can do better than (in-process + floor) / in-process = "
                    f"{(inproc[key[1]] + least) / inproc[key[1]]:.2f}x"
                )
        limit = P99_TARGET_MS.get(key)
        if limit is not None:
            ok = summary["p99_ms"] <= limit
            missed += not ok
            print(
                f"  mlship c={key[0]} rows={key[1]}: p99 {summary['p99_ms']:.2f} ms (<= {limit:g}: "
                f"{'met' if ok else 'NOT met'})"
            )
    print("throughput ratios, mlship / baseline (median of per-round ratios)")
    for base in results:
        if base in ("mlship", "http-floor"):  # the floor is a reference, not a rival
            continue
        cells = []
        for key in scenarios:
            value = ratio(ours.get(key), results[base].get(key))
            target = BARE_TARGETS.get(key) if base == "bare-starlette" else FRAMEWORK_TARGET
            verdict = ""
            if target is not None and value == value:
                ok = value >= target
                missed += not ok
                verdict = f" (>= {target:g}: {'met' if ok else 'NOT met'})"
            cells.append(f"c={key[0]} rows={key[1]}: {value:.2f}x{verdict}")
        print(f"  vs {base:15} " + "  ".join(cells))
    return missed


def baseline_targets(
    args: argparse.Namespace, spec_file: Path, base_port: int, work: Path, announce: bool
) -> list[baselines.Target]:
    targets = []
    for offset, (name, factory) in enumerate(baselines.TARGETS.items(), start=2):
        if args.only and name not in args.only:
            continue
        python, note = baselines.ensure_venv(name, args.venv_python, install=not args.no_install)
        if python is None:
            if announce:
                print(f"(skipping {name}: {note})")
            continue
        try:
            target = factory(python, spec_file, base_port + offset, work)
        except (subprocess.SubprocessError, OSError) as exc:
            if announce:
                print(f"(skipping {name}: setting it up failed: {exc})")
            continue
        target.name = name
        if announce:
            print(f"({name} {note})")
        targets.append(target)
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--project", type=Path, help="a trained mlship project (default: the template's demo)"
    )
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per scenario and server")
    parser.add_argument("--rounds", type=int, default=4, help="slices per scenario, order rotated")
    parser.add_argument(
        "--only",
        nargs="*",
        help="servers to run (mlship, bare-starlette, " + ", ".join(baselines.TARGETS) + ")",
    )
    parser.add_argument("--models", nargs="*", default=["ridge", "forest"], choices=list(MODEL_SCENARIOS))
    parser.add_argument(
        "--workers", type=int, default=2, help="mlship workers for the scaling figure (0: skip)"
    )
    parser.add_argument("--port", type=int, default=18701, help="first port (each model uses ten)")
    parser.add_argument("--no-install", action="store_true", help="skip frameworks without a venv yet")
    parser.add_argument("--venv-python", default=sys.executable, help="the interpreter that makes the venvs")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    # SIGTERM (a timeout, a CI job cancelled) unwinds like Ctrl-C: every server started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    work = Path(tempfile.mkdtemp(prefix="mlship-bench-"))
    project = prepare_project(args.project, work)
    ridge = write_spec(project, work)
    records = {rows: sample_records(project, rows) for rows in (1, 100)}
    python = baselines.current_python()
    load = os.getloadavg()
    print(
        f"project {project}; {args.duration:g}s per scenario and server in {args.rounds} rounds; "
        "one worker each; "
        f"cores: {os.cpu_count()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    missed, logged = 0, 0
    wanted = lambda name: not args.only or name in args.only  # noqa: E731
    for offset, model in enumerate(args.models):
        spec_file = ridge if model == "ridge" else forest_spec(project, ridge, work)
        scenarios = MODEL_SCENARIOS[model]
        inprocess = InProcess(spec_file)
        print(f"\n== model: {model}")
        base_port = args.port + 10 * offset
        log_dir = work / f"predlog-{model}"
        targets = [
            baselines.mlship_target(python, spec_file, base_port, log_dir),
            baselines.bare_target(python, spec_file, base_port + 1, work),
            baselines.floor_target(python, base_port + 9, work),
        ]
        targets = [t for t in targets if wanted(t.name)]
        targets += baseline_targets(args, spec_file, base_port, work, announce=True)
        results = serve_and_measure(targets, records, args, scenarios, work, inprocess)
        missed += report(results, scenarios, inprocess.medians())
        logged += sum(1 for p in log_dir.glob("*.jsonl") for _ in p.open())
    if args.workers > 1 and wanted("mlship"):
        missed += scaling(args, ridge, records, work, python)
    load = os.getloadavg()
    print(
        f"\nmlship prediction log lines written: {logged}; load average after: {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; targets missed: {missed}"
    )
    return 0


def scaling(
    args: argparse.Namespace, spec_file: Path, records: dict[int, list[dict]], work: Path, python: str
) -> int:
    """c=16 one-row throughput of mlship --workers N over one worker, rounds interleaved."""
    port = args.port + 90
    one = baselines.mlship_target(python, spec_file, port, work / "predlog-w1")
    many = baselines.mlship_target(python, spec_file, port + 1, work / "predlog-wn", workers=args.workers)
    many.name = f"mlship-w{args.workers}"
    print(f"\n== --workers {args.workers} scaling (ridge, c=16 one-row; {os.cpu_count()} cores)")
    results = serve_and_measure([one, many], records, args, [(16, 1)], work)
    if many.name not in results or "mlship" not in results:
        print("  scaling: a server did not start")
        return 1
    factor = ratio(results[many.name].get((16, 1)), results["mlship"].get((16, 1)))
    print(f"  --workers {args.workers} / 1 worker, c=16 one-row throughput: {factor:.2f}x")
    return 0


def serve_and_measure(
    targets: list[baselines.Target],
    records: dict[int, list[dict]],
    args: argparse.Namespace,
    scenarios: list[tuple[int, int]],
    work: Path,
    inprocess: InProcess | None = None,
) -> dict[str, dict[tuple[int, int], Figures]]:
    processes, ready = [], []
    try:
        for target in targets:
            log = work / f"{target.name}-{target.port}.log"
            process = start(target, log)
            processes.append(process)
            try:
                wait_ready(target, process, target.body(records[1]), timeout=180)
            except RuntimeError as exc:
                print(f"  (skipping {target.name}: {exc}; see {log})")
                continue
            for rows in {rows for _, rows in scenarios}:  # warm-up at each size, not measured
                warm = run_load(
                    "127.0.0.1",
                    target.port,
                    target.path,
                    target.body(records[rows]),
                    concurrency=4,
                    duration=1.0,
                )
                if warm.errors and not warm.requests:
                    print(f"  ({target.name} answers errors at rows={rows}; see {log})")
            ready.append(target)
        return measure(ready, records, args.duration, args.rounds, scenarios, inprocess)
    finally:
        for process in processes:
            stop(process)


if __name__ == "__main__":
    sys.exit(main())
