"""How long `mlship test` takes on the template project, per check, against a baseline measured in
the same run: scoring the whole training file once in-process (the cheapest honest "use" of the model).

    python bench/contract_bench.py [PROJECT_DIR]     # default: a fresh `mlship init` + `mlship train`

Prints seconds per check and each as a multiple of the baseline.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _project(argv: list[str]) -> Path:
    if argv:
        return Path(argv[0])
    root = Path(tempfile.mkdtemp(prefix="mlship-bench-")) / "demand-model"
    for args in (("init", str(root), "--no-input"), ("train", str(root))):
        subprocess.run([sys.executable, "-m", "mlship", *args], check=True, capture_output=True)
    return root


def main(argv: list[str]) -> None:
    from mlship.contract import run_contract
    from mlship.contract.records import frame_records, input_columns
    from mlship.project import Project
    from mlship.stages import load_pipeline, read_table

    project = Project.load(_project(argv))
    pipeline = load_pipeline(project)
    frame = read_table(project.data_path("train"))
    records = frame_records(frame[input_columns(project, frame)])
    pipeline.predict_records(records)  # warm
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        pipeline.predict_records(records)
        runs.append(time.perf_counter() - started)
    baseline = sorted(runs)[len(runs) // 2]
    print(f"baseline: score {len(records)} training records once, in-process: {baseline * 1000:.1f} ms")

    started = time.perf_counter()
    report = run_contract(project)
    total = time.perf_counter() - started
    for check in report.checks:
        ratio = check.seconds / baseline
        print(f"  {check.name:45s} {check.status:8s} {check.seconds * 1000:8.1f} ms  x{ratio:7.1f}")
    print(f"contract total (with model load): {total:.2f} s  x{total / baseline:.0f} of the baseline")
    latency = next(c for c in report.checks if c.kind == "latency").metrics
    print("latency metrics:", {k: v for k, v in latency.items() if k.endswith("_ms")})


if __name__ == "__main__":
    main(sys.argv[1:])
