"""Where a served prediction's time goes under load: py-spy samples of the real server, by stage.

    .venv/bin/python bench/profile_serve.py [--project DIR] [--rows 1] [--concurrency 1] [--duration 8]

Starts `python -m mlship.serving` (one worker, prediction log on) under `py-spy record --gil` (a
child process py-spy starts needs no root), sends closed-loop load from bench/loadgen.py, then
sorts every sample taken while the server held the GIL into the request's stages by the innermost
frame that names one: HTTP server, JSON decode, validation, DataFrame construction, preprocess,
predict, JSON encode, log, metrics, request id, batch queue, event loop. Prints each stage's share
and microseconds per request (samples / rate / requests: time the server's threads held the GIL,
which on a busy host includes time descheduled while holding it, so read the shares first).
Start-up (imports, model load) is left out.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import run_load  # noqa: E402
from serve import prepare_project, sample_records, write_spec  # noqa: E402

# (stage, a substring of a frame); a sample goes to the first stage found from the innermost frame.
STAGES = [
    ("JSON decode", "parse_json"),
    ("JSON encode", "dumps (mlship/serving/app.py"),
    ("preprocess (project)", "preprocess.py"),
    ("predict (project)", "predict.py"),
    ("predictions to JSON values", "to_jsonable"),
    ("DataFrame construction", "records_frame"),
    ("DataFrame construction", "from_records"),
    ("validation", "mlship/serving/validate.py"),
    ("log hand-off", "PredictionLog.record"),
    ("metrics", "mlship/serving/metrics.py"),
    ("request id", "RequestIds"),
    ("request head/answer (app.py)", "mlship/serving/app.py"),
    ("batch queue (runtime.py)", "mlship/serving/runtime.py"),
    ("Starlette", "starlette/"),
    ("HTTP server (uvicorn, httptools)", "uvicorn/"),
    ("event loop (uvloop, asyncio)", "asyncio/"),
    ("event loop (uvloop, asyncio)", "uvloop"),
]
START_UP = ("ModelRuntime._load", "lifespan", "_find_and_load", "Pipeline.__init__")


def stage_of(frames: list[str]) -> str:
    if frames[0].startswith("Thread._bootstrap"):
        if any("predlog" in frame for frame in frames):
            return "log writer thread (line encoding, write)"
        return "start-up"
    if any(marker in frame for frame in frames for marker in START_UP):
        return "start-up"
    for frame in reversed(frames):
        for stage, key in STAGES:
            if key in frame:
                return stage
    return "other"


def breakdown(raw: Path) -> collections.Counter[str]:
    """py-spy's raw (collapsed) output: `frame;frame;... count` per line."""
    samples: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            samples[stage_of(stack.split(";"))] += int(count)
    return samples


def wait_ready(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server on port {port} was not ready within {timeout:.0f}s")


def server_pid(spy: subprocess.Popen[bytes]) -> int | None:
    """The server: py-spy's child process."""
    children = Path(f"/proc/{spy.pid}/task/{spy.pid}/children")
    text = children.read_text().split() if children.exists() else []
    return int(text[0]) if text else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--rows", type=int, default=1, choices=[1, 100])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--port", type=int, default=18795)
    args = parser.parse_args()
    spy_binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy_binary).exists():
        raise SystemExit("py-spy is not installed (pip install py-spy)")

    work = Path(tempfile.mkdtemp(prefix="mlship-profile-"))
    project = prepare_project(args.project, work)
    spec = write_spec(project, work)
    body = json.dumps({"records": sample_records(project, args.rows)}).encode()
    raw = work / "profile.txt"
    server = [sys.executable, "-m", "mlship.serving", "--spec", str(spec), "--host", "127.0.0.1"]
    server += ["--port", str(args.port), "--log-dir", str(work / "predlog"), "--log-level", "warning"]
    # --nonblocking: the server is not paused for each sample (pausing it 1,000 times a second
    # inflates every stage); a torn stack now and then is sorted as "other".
    spy_argv = [spy_binary, "record", "--gil", "--nonblocking", "-r", str(args.rate), "-f", "raw"]
    spy_argv += ["-o", str(raw), "--"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with (work / "server.log").open("wb") as log:
        spy = subprocess.Popen([*spy_argv, *server], env=env, stdout=log, stderr=log)
    try:
        wait_ready(args.port)
        warm = run_load("127.0.0.1", args.port, "/predict", body, concurrency=4, duration=1.0)
        load = os.getloadavg()[0]
        result = run_load(
            "127.0.0.1", args.port, "/predict", body, concurrency=args.concurrency, duration=args.duration
        )
    finally:
        pid = server_pid(spy)
        if pid is not None:
            os.kill(pid, signal.SIGINT)
        spy.wait(timeout=120)
    requests = warm.requests + result.requests
    samples = breakdown(raw)
    print(
        f"rows={args.rows} c={args.concurrency}: {result.summary()}; load average {load:.1f}; "
        f"{requests} requests profiled (warm-up included)"
    )
    counted = sum(v for k, v in samples.items() if k != "start-up")
    print(f"  {'stage':42} {'samples':>8} {'share':>6} {'us/request':>11}")
    for stage, count in samples.most_common():
        if stage == "start-up":
            continue
        share = 100.0 * count / counted
        print(f"  {stage:42} {count:8} {share:5.1f}% {count / args.rate / requests * 1e6:11.1f}")
    total = counted / args.rate / requests * 1e6
    print(f"  {'total (GIL held, server process)':42} {counted:8} {100.0:5.1f}% {total:11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
