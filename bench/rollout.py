"""Failed requests and latency during rollouts on the docker and swarm targets, seen by a paced client.

One client thread on 127.0.0.1 sends a single-record POST /predict every `--interval` seconds over
a keep-alive connection (as a business application's pool would; a broken connection is counted as
a failure and reopened) while `mlship deploy`, `rollback`, a canary and a deploy that fails the gate
run for real on the local engine: the docker target (one host, HAProxy in front) and the swarm
target (two replicas, `publish: edge`, images pushed to `--registry`). The baseline is the same
client against the same service at rest, measured in the same run: the rows give failed requests
and p99 as a ratio of that steady p99. Bounded: at most `--max-requests` and `--max-seconds` per phase.

    python bench/rollout.py [--targets docker,swarm] [--interval 0.02] [--max-seconds 120] [--json]

Needs the docker engine and the base image (scripts/base-image.sh); swarm also needs a swarm
manager and a registry (scripts/registry.sh). Images, containers, services and networks it makes
are named `mlship-bench-rollout-<id>` / labelled with its project and removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TESTIMAGE = ROOT / "tests" / "deploy" / "testimage"
VARIANTS = {"v1": ("1", ""), "v2": ("2", ""), "v3": ("3", ""), "wrong": ("4", "answer")}
BODY = json.dumps({"records": [{"x": 2}]}).encode()


class Client(threading.Thread):
    """Paced requests until stopped or bounded; every outcome recorded."""

    def __init__(self, port: int, interval: float, max_requests: int, max_seconds: float):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.versions: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        conn = None
        start = time.monotonic()
        next_at = start
        while not self.stop.is_set() and len(self.latencies) + len(self.failures) < self.max_requests:
            if time.monotonic() - start > self.max_seconds:
                break
            next_at += self.interval
            sent = time.perf_counter()
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                if response.status != 200:
                    self.failures.append(f"HTTP {response.status}")
                else:
                    self.latencies.append((time.perf_counter() - sent) * 1000)
                    version = json.loads(payload).get("model_version", "?")
                    self.versions[version] = self.versions.get(version, 0) + 1
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(type(exc).__name__)
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(max(0.0, next_at - time.monotonic()))
        if conn is not None:
            conn.close()

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlship(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlship", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "CI": "1"},
    )


def build_images(prefix: str) -> None:
    for tag, (version, broken) in VARIANTS.items():
        subprocess.run(
            ["docker", "build", "-q", "-t", f"{prefix}:{tag}", "--build-arg", f"VERSION={version}"]
            + ["--build-arg", f"BROKEN={broken}", str(TESTIMAGE)],
            check=True,
            capture_output=True,
        )


def write_project(root: Path, name: str, port: int, monitor: float, target: str, registry: str) -> str:
    """The bench project with one environment for `target`; its name."""
    gate = {"readiness_timeout": 20, "monitor_seconds": monitor}
    if target == "swarm":
        environment = "staging"
        settings = {
            "target": "swarm",
            "publish": "edge",
            "registry": registry,
            "port": port,
            "replicas": 2,
            "update_delay": 0.5,
            "gate": gate,
        }
    else:
        environment = "local"
        settings = {"port": port, "gate": gate, "canary_weight": 20}
    config = {
        "name": name,
        "version": "0.1.0",
        "entrypoints": {
            "preprocess": "m.p:t",
            "train": "m.t:main",
            "load": "m.p:load",
            "predict": "m.p:predict",
        },
        "contract": {"examples": [{"input": {"x": 2}, "output": 4, "tolerance": 0.001}]},
        "environments": {environment: settings},
    }
    root.mkdir(parents=True)
    (root / "mlship.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return environment


def phase(
    label: str, port: int, args: argparse.Namespace, command: tuple[str, ...] | None, cwd: Path
) -> dict:
    """Run the client around `command` (or for --steady-seconds at rest); one row of the table."""
    client = Client(port, args.interval, args.max_requests, args.max_seconds)
    client.start()
    time.sleep(1.0)  # traffic before the change starts
    began = time.monotonic()
    exit_code = None
    if command is None:
        time.sleep(args.steady_seconds)
    else:
        exit_code = mlship(*command, cwd=cwd).returncode
    took = time.monotonic() - began
    time.sleep(1.0)  # and after it ends
    client.stop.set()
    client.join()
    return {
        "phase": label,
        "exit": exit_code,
        "seconds": round(took, 1),
        "sent": len(client.latencies) + len(client.failures),
        "failed": len(client.failures),
        "failures": sorted(set(client.failures)),
        "p99_ms": round(client.p99(), 2),
        "versions": client.versions,
    }


def run_target(target: str, prefix: str, run_id: str, args: argparse.Namespace) -> list[dict]:
    name = f"bench-rollout-{target}-{run_id}"
    port = free_port()
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "proj"
            env = write_project(project, name, port, 4.0, target, args.registry)
            first = mlship("deploy", env, "--image", f"{prefix}:v1", cwd=project)
            if first.returncode:
                print(first.stderr, file=sys.stderr)
                raise SystemExit(1)
            rows.append(phase("steady (baseline)", port, args, None, project))
            deploy = ("deploy", env, "--image", f"{prefix}:v2")
            rows.append(phase("deploy v2 (rolling)", port, args, deploy, project))
            rows.append(phase("rollback to v1", port, args, ("rollback", env), project))
            canary = ("deploy", env, "--image", f"{prefix}:v3", "--strategy", "canary")
            share = "20%" if target == "docker" else "first task"
            rows.append(phase(f"deploy v3 (canary {share})", port, args, canary, project))
            wrong = ("deploy", env, "--image", f"{prefix}:wrong")
            rows.append(phase("failed deploy (wrong answer)", port, args, wrong, project))
    finally:
        cleanup(name)
        if target == "swarm":  # the push tagged the images with their registry name here too
            refs = subprocess.run(
                ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"{args.registry}/{name}"],
                capture_output=True,
                text=True,
            ).stdout.split()
            if refs:
                subprocess.run(["docker", "image", "rm", *refs], capture_output=True)
    steady = rows[0]["p99_ms"]
    for row in rows:
        row["target"] = target
        row["p99_vs_steady"] = round(row["p99_ms"] / steady, 2) if steady else None
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="docker,swarm", help="comma-separated: docker, swarm")
    parser.add_argument("--registry", default=os.environ.get("MLSHIP_TEST_REGISTRY", "127.0.0.1:5000"))
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between requests")
    parser.add_argument("--steady-seconds", type=float, default=8.0)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="bound of one phase")
    parser.add_argument("--max-requests", type=int, default=6000, help="bound of one phase")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:6]
    prefix = f"mlship-bench-rollout-{run_id}"
    build_images(prefix)
    rows: list[dict] = []
    try:
        for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
            rows += run_target(target, prefix, run_id, args)
    finally:
        remove_images(prefix)
    if args.json:
        print(json.dumps({"interval_s": args.interval, "rows": rows}, indent=2))
        return 0
    print(f"one paced client every {args.interval * 1000:g} ms (keep-alive), 127.0.0.1")
    head = ("phase", "exit", "secs", "sent", "failed", "p99 ms", "x steady")
    print(
        f"{'target':<7}{head[0]:<30} " + " ".join(f"{h:>{max(5, len(h))}}" for h in head[1:]) + "  versions"
    )
    for r in rows:
        exit_text = "-" if r["exit"] is None else str(r["exit"])
        cells = (exit_text, r["seconds"], r["sent"], r["failed"], r["p99_ms"], r["p99_vs_steady"])
        print(
            f"{r['target']:<7}{r['phase']:<30} "
            + " ".join(f"{c!s:>{max(5, len(h))}}" for c, h in zip(cells, head[1:], strict=True))
            + f"  {r['versions']} {' '.join(r['failures'])}"
        )
    return 0


def cleanup(project: str) -> None:
    """Remove only what this run made: its project's services, containers and networks."""
    selector = f"label=io.mlship.project={project}"
    services = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter", selector], capture_output=True, text=True
    ).stdout.split()
    if services:
        subprocess.run(["docker", "service", "rm", *services], capture_output=True)
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", selector], capture_output=True, text=True
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    nets = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", selector], capture_output=True, text=True
    ).stdout.split()
    for _ in range(20):  # swarm tasks take a few seconds to leave the overlay network
        if (
            not nets
            or subprocess.run(["docker", "network", "rm", *nets], capture_output=True).returncode == 0
        ):
            break
        time.sleep(0.5)


def remove_images(prefix: str) -> None:
    for tag in VARIANTS:
        subprocess.run(["docker", "image", "rm", f"{prefix}:{tag}"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
