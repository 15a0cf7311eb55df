"""Benchmark: a warm, offline `mlship check` on a 60-package lock (target: under 2 seconds).

Builds a local index of 60 generated wheels, a project that imports them, locks it with
`mlship lock` (uv), then times, each through the real `mlship` entry point in a subprocess:
  - the cold, online check (empty cache: every page, wheel listing and advisory fetched over HTTP),
  - the warm, offline check (cache only), median of several runs,
and, as the baseline measured in the same run, `pip install --dry-run --report` of the same
requirements against the same index (what a pip-based check would have to do at least).

    python bench/check_offline.py [--packages 60] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "deps"))

from localindex import IndexProcess, build_tree  # noqa: E402


def packages(count: int) -> list[dict]:
    """`count` distributions: 20 direct requirements, each pulling two more (a realistic fan-out)."""
    specs = []
    direct = count // 3
    for i in range(count):
        requires = [
            f"dep{j:02d}>=1.0" for j in (direct + 2 * i, direct + 2 * i + 1) if i < direct and j < count
        ]
        name = f"dep{i:02d}"
        specs.append({"name": name, "version": "1.2.0", "days_ago": 100 + i, "requires": requires})
        specs.append({"name": name, "version": "1.1.0", "days_ago": 300 + i})
    return specs


def project(root: Path, index_url: str, direct: int) -> Path:
    pkg = root / "src" / "bench_model"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text("".join(f"import dep{i:02d}\n" for i in range(direct)))
    (root / "requirements.txt").write_text("".join(f"dep{i:02d}>=1.0\n" for i in range(direct)))
    (root / "mlship.yaml").write_text(
        "name: bench\npython: '3.11'\nentrypoints:\n  preprocess: bench_model.model:a\n"
        "  train: bench_model.model:b\n  load: bench_model.model:c\n  predict: bench_model.model:d\n"
        f"policy:\n  index_url: {index_url}\n"
    )
    return root


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(argv[:4])} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    mlship = [sys.executable, "-m", "mlship"]
    with tempfile.TemporaryDirectory(prefix="mlship-bench-") as tmp:
        base = Path(tmp)
        env = {**os.environ, "MLSHIP_CACHE_DIR": str(base / "cache"), "CI": "1"}
        tree = build_tree(base / "index", packages(args.packages))
        server = IndexProcess(tree)
        try:
            root = project(base / "proj", server.url, args.packages // 3)
            lock_s, _ = timed([*mlship, "lock", str(root), "--json"], env)
            cold_s, out = timed([*mlship, "check", str(root), "--json"], env)
            cold = json.loads(out)
            warm = []
            for _ in range(args.runs):
                seconds, out = timed([*mlship, "check", str(root), "--json", "--offline"], env)
                warm.append(seconds)
            offline = json.loads(out)
            req = root / "requirements.txt"
            pip_s, _ = timed(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--dry-run",
                    "--quiet",
                    "--no-cache-dir",
                    "--index-url",
                    server.url,
                    "--report",
                    str(base / "report.json"),
                    "--ignore-installed",
                    "-r",
                    str(req),
                ],
                env,
            )
        finally:
            server.stop()
    pins = offline["checked"]["pins"]
    median = statistics.median(warm)
    print(f"lock: {pins} pins in the lock (mlship lock via uv: {lock_s:.2f}s)")
    print(f"cold online check:             {cold_s:6.3f}s  ({cold['index']['requests']} HTTP requests)")
    print(
        f"warm offline check (median/{args.runs}): {median:6.3f}s  "
        f"(min {min(warm):.3f}s, max {max(warm):.3f}s, "
        f"{offline['index']['requests']} HTTP requests, {offline['index']['cache_hits']} cache hits)"
    )
    print(
        f"in-process check time (offline): {offline['seconds']:.3f}s of that; "
        "the rest is interpreter + CLI start"
    )
    print(f"baseline pip install --dry-run --report: {pip_s:6.3f}s")
    print(
        f"ratios: warm offline / cold online = {median / cold_s:.2f}; "
        f"warm offline / pip dry-run = {median / pip_s:.2f}"
    )
    print(f"findings identical offline vs online: {offline['findings'] == cold['findings']}")
    verdict = "PASS" if median < 2.0 else "FAIL"
    print(f"{verdict}: warm offline check on {pins} pins took {median:.3f}s (target < 2 s)")
    sys.exit(0 if median < 2.0 else 1)


if __name__ == "__main__":
    main()
