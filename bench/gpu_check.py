"""GPU check for a lent GPU machine: `mlship serve` of a small torch model made on the spot, on CUDA and on
the CPU, through the real CLI and real HTTP.

It checks that /readyz reports `device: cuda` (and `cpu` with CUDA hidden), that the GPU's predictions
equal the CPU's within tolerance, and prints p50/p99 latency of one-row and batch requests on each, with
the GPU/CPU ratios. Nothing is downloaded: it needs torch (with CUDA) and mlship installed, no network.

    python bench/gpu_check.py [--requests 200] [--batch 512] [--out gpu_check.json]

Exit 0 when every check holds, 1 when one fails, 2 when torch or a CUDA device is missing.
Bounded: at most --requests one-row and --requests/4 batch requests per device, each server given
120 s to become ready; the whole run takes about a minute on an H200.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

FEATURES = 16
MODEL_CODE = '''
"""A small torch MLP: train writes its weights, load builds it on MLSHIP_DEVICE, predict runs it there."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

COLUMNS = [f"f{i}" for i in range(16)]


def _net():
    return torch.nn.Sequential(
        torch.nn.Linear(16, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 1),
    )


def main(data_path, artifact_dir, params):
    torch.manual_seed(0)
    raw = pd.read_csv(data_path)
    x = torch.tensor(raw[COLUMNS].to_numpy(np.float32))
    y = torch.tensor(raw["y"].to_numpy(np.float32)).unsqueeze(1)
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    torch.save(net.state_dict(), Path(artifact_dir) / "model.pt")
    return {"mse": float(loss)}


def load(artifact_dir):
    net = _net()
    net.load_state_dict(torch.load(Path(artifact_dir) / "model.pt", map_location="cpu"))
    return net.eval().to(os.environ.get("MLSHIP_DEVICE", "cpu"))


def transform(raw, model):
    return raw[COLUMNS].to_numpy(np.float32)


def predict(model, features):
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(features)).to(device))
    return out.squeeze(1).cpu().numpy().astype(float).tolist()
'''


def make_project(root: Path) -> None:
    import numpy as np

    pkg = root / "src" / "gpucheck"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(MODEL_CODE)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, FEATURES))
    y = x @ rng.normal(size=FEATURES) + np.sin(x[:, 0])
    (root / "data").mkdir()
    header = ",".join([f"f{i}" for i in range(FEATURES)] + ["y"])
    rows = [",".join(f"{v:.6f}" for v in (*r, t)) for r, t in zip(x, y, strict=True)]
    (root / "data" / "train.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (root / "requirements.txt").write_text("torch\nnumpy\npandas\n")
    (root / "mlship.yaml").write_text(
        textwrap.dedent(
            """\
            name: gpucheck
            python: "3.11"
            source: src
            entrypoints:
              preprocess: gpucheck.model:transform
              train: gpucheck.model:main
              load: gpucheck.model:load
              predict: gpucheck.model:predict
            data:
              train: data/train.csv
            params:
              target: y
            gpu: optional
            """
        )
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _post(url: str, records: list[dict]) -> tuple[float, list[float]]:
    body = json.dumps({"records": records}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as r:
        answer = json.loads(r.read())
    return time.perf_counter() - started, answer["predictions"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def serve_and_measure(root: Path, *, hide_gpu: bool, records: list[dict], n: int, batch: int) -> dict:
    port = _free_port()
    env = dict(os.environ)
    if hide_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    argv = [sys.executable, "-m", "mlship", "serve", str(root), "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        ready: dict = {}
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                status, ready = _get(base + "/readyz")
                if status == 200 or ready.get("status") == "failed":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if ready.get("status") != "ready":
            proc.terminate()
            return {"ready": ready, "error": (proc.communicate(timeout=10)[1] or "")[-2000:]}
        _, reference = _post(base + "/predict", records[:batch])
        one = [_post(base + "/predict", [records[i % len(records)]])[0] for i in range(n)]
        many = [_post(base + "/predict", records[:batch])[0] for _ in range(max(5, n // 4))]
        return {
            "ready": ready,
            "predictions": reference,
            "one_row_ms": {"p50": _pct(one, 0.5), "p99": _pct(one, 0.99)},
            "batch_ms": {"p50": _pct(many, 0.5), "p99": _pct(many, 0.99), "rows": batch},
        }
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to check", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("no CUDA device is visible to torch: run this on a GPU machine", file=sys.stderr)
        return 2
    report: dict = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0),
    }
    with tempfile.TemporaryDirectory(prefix="mlship-gpu-") as tmp:
        root = Path(tmp) / "gpucheck"
        make_project(root)
        train = subprocess.run(
            [sys.executable, "-m", "mlship", "train", str(root)], capture_output=True, text=True, timeout=300
        )
        if train.returncode != 0:
            print(f"mlship train failed:\n{train.stderr[-3000:]}", file=sys.stderr)
            return 1
        import pandas as pd

        records = pd.read_csv(root / "data" / "train.csv").drop(columns=["y"]).to_dict("records")
        runs = {}
        for name, hide in (("cuda", False), ("cpu", True)):
            runs[name] = serve_and_measure(
                root, hide_gpu=hide, records=records, n=args.requests, batch=args.batch
            )
    checks = {
        "readyz_cuda": runs["cuda"]["ready"].get("device") == "cuda",
        "readyz_cpu": runs["cpu"]["ready"].get("device") == "cpu",
    }
    if "predictions" in runs["cuda"] and "predictions" in runs["cpu"]:
        diffs = [
            abs(a - b) for a, b in zip(runs["cuda"]["predictions"], runs["cpu"]["predictions"], strict=True)
        ]
        scale = max(1.0, max(abs(v) for v in runs["cpu"]["predictions"]))
        report["max_abs_diff"] = max(diffs)
        checks["predictions_equal"] = max(diffs) <= args.tolerance * scale
        for kind in ("one_row_ms", "batch_ms"):
            report[f"{kind}_gpu_over_cpu_p50"] = runs["cuda"][kind]["p50"] / runs["cpu"][kind]["p50"]
    for run in runs.values():
        run.pop("predictions", None)
    report.update(runs=runs, checks=checks, ok=all(checks.values()) and len(checks) == 3)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
