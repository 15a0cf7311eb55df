"""Serving benchmark: mlship (prediction logging on) vs a bare Starlette app, MLflow and BentoML.

    .venv/bin/python bench/serve.py [--project DIR] [--duration 6] [--baseline-python PYTHON]

One worker each, the same project code and artifacts, loopback only, closed-loop clients at
concurrency 1 and 16 with one-row and 100-row requests. Prints req/s, p50 and p99 per server
and the ratios of mlship to each baseline. MLflow and BentoML run only where installed (in the
baseline interpreter, by default /tmp/bench-venv/bin/python when it exists).
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
TARGETS = {"one-row": 1, "mlship/bentoml": 2.5, "mlship/mlflow": 1.8, "mlship/bare-starlette": 0.8}
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
    targets: list[baselines.Target], records: dict[int, list[dict]], duration: float, rounds: int
) -> dict:
    """Every scenario in `rounds` interleaved slices per server, so load from elsewhere on the
    host falls on all servers alike rather than on whichever ran at the time."""
    results: dict[str, dict] = {t.name: {} for t in targets}
    for concurrency, rows in SCENARIOS:
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


def report(all_results: dict[str, dict]) -> None:
    names = list(all_results)
    print("\nserver           " + "".join(f"c={c:<2} rows={r:<4}          " for c, r in SCENARIOS))
    print("                 " + "req/s  p50ms  p99ms      " * len(SCENARIOS))
    for name in names:
        cells = []
        for key in SCENARIOS:
            s = all_results[name].get(key)
            cells.append(f"{s['rps']:>6.0f} {s['p50_ms']:>6.2f} {s['p99_ms']:>6.2f}     " if s else " " * 26)
        print(f"{name:16} " + "".join(cells))
    if "mlship" not in all_results:
        return
    print("\nthroughput ratios (mlship / baseline)")
    for base in names:
        if base == "mlship":
            continue
        ratios = []
        for key in SCENARIOS:
            ours, theirs = all_results["mlship"].get(key), all_results[base].get(key)
            ratios.append(ours["rps"] / theirs["rps"] if ours and theirs and theirs["rps"] else float("nan"))
        target = TARGETS.get(f"mlship/{base}")
        one_row = [r for (c, rows), r in zip(SCENARIOS, ratios, strict=True) if rows == 1]
        verdict = ""
        if target is not None:
            ok = all(r >= target for r in one_row)
            verdict = f"  target one-row >= {target}x: {'met' if ok else 'NOT met'}"
        cells = "  ".join(f"c={c} rows={r}: {x:.2f}x" for (c, r), x in zip(SCENARIOS, ratios, strict=True))
        print(f"  vs {base:15} {cells}{verdict}")


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
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mlship-bench-"))
    project = prepare_project(args.project, work)
    spec_file = write_spec(project, work)
    records = {rows: sample_records(project, rows) for rows in (1, 100)}
    python = baselines.current_python()
    targets = [
        baselines.mlship_target(python, spec_file, 18701, work / "predlog"),
        baselines.bare_target(python, spec_file, 18702, work),
    ]
    other = args.baseline_python if Path(args.baseline_python).exists() else None
    for module, factory, port in (
        ("mlflow", baselines.mlflow_target, 18703),
        ("bentoml", baselines.bento_target, 18704),
    ):
        if other and baselines.has_module(other, module):
            targets.append(factory(other, spec_file, port, work))
        else:
            print(f"(skipping {module}: not installed in {args.baseline_python})")
    if args.only:
        targets = [t for t in targets if t.name in args.only]
    print(f"project {project}; {args.duration:.0f}s per scenario; one worker each; cores: {os.cpu_count()}")
    processes, ready = [], []
    try:
        for target in targets:
            process = start(target, work / f"{target.name}.log")
            processes.append(process)
            try:
                wait_ready(target, process, baselines.body(target.body_key, records[1]), timeout=180)
            except RuntimeError as exc:
                print(f"  {target.name}: failed ({exc}); see {work / (target.name + '.log')}")
                continue
            for rows in (1, 100):  # warm-up at both sizes, not measured
                payload = baselines.body(target.body_key, records[rows])
                run_load("127.0.0.1", target.port, target.path, payload, concurrency=4, duration=1.0)
            ready.append(target)
        results = measure(ready, records, args.duration, args.rounds)
    finally:
        for process in processes:
            stop(process)
    report(results)
    logged = sum(1 for p in (work / "predlog").glob("*.jsonl") for _ in p.open())
    print(f"\nmlship prediction log lines written: {logged} (under {work / 'predlog'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
