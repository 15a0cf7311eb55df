"""The README quickstart, run line by line as written (parsed out of README.md, so this breaks when
the README changes): from `mlship init` to a drift report of the deployed environment's own traffic."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlship import labels
from tests.support import require_docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README.md's Quickstart has no ```bash block"
    lines = block.group(1).splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_quickstart_lines_are_the_ones_this_test_knows():
    """What the test below relies on: the block starts a project, deploys it and ends at monitor."""
    lines = [shlex.split(line, comments=True) for line in quickstart_lines()]
    assert lines[0][:2] == ["mlship", "init"] and lines[1][0] == "cd"
    assert ["mlship", "deploy", "local"] in lines
    assert lines[-1][:4] == ["mlship", "monitor", "--env", "local"]


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def test_readme_quickstart_reaches_a_drift_report_of_its_own_traffic(tmp_path):
    require_docker()
    import docker

    client = docker.from_env()
    mine = {"label": [f"{labels.PROJECT}=demand", f"{labels.ENVIRONMENT}=local"]}
    if client.containers.list(all=True, filters=mine) or _port_taken(8080):
        pytest.skip("port 8080 or the project `demand` is in use on this engine (the quickstart needs both)")
    had_image = bool(client.images.list(name="demand"))
    stages = {"dangling": True, "label": f"{labels.BUILD_CACHE}=demand"}  # the build's stage images
    stages_before = {i.id for i in client.images.list(filters=stages)}
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MLSHIP_BASE_IMAGE": os.environ.get("MLSHIP_BASE_IMAGE", "mlship-base:bookworm"),
        "CI": "1",
    }
    cwd = tmp_path
    try:
        for line in quickstart_lines():
            words = shlex.split(line, comments=True)
            if words[0] == "cd":
                cwd = cwd / words[1]
                continue
            if words[:2] == ["mlship", "monitor"]:
                time.sleep(1.5)  # the runtime writes its log every second (logging.flush_interval)
            done = subprocess.run(
                ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200
            )
            assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        report = cwd / "drift.html"
        assert report.is_file() and "<html" in report.read_text()[:2000].lower()
        logs = cwd / "logs" / "environments" / "local"
        lines = [json.loads(x) for f in logs.rglob("*.jsonl") for x in f.read_text().splitlines() if x]
        traffic = [x for x in lines if "origin" not in x]
        assert sum(len(x["inputs"]) for x in traffic) == 200  # data/requests.json, nothing else
        assert any(x.get("origin") == "gate" for x in lines)  # the gate's requests, marked
        monitor = ["mlship", "monitor", "--env", "local", "--json"]
        monitored = subprocess.run(monitor, cwd=cwd, env=env, capture_output=True, text=True)
        result = json.loads(monitored.stdout)
        assert result["traffic"]["records"] == 200 and result["verdict"] == "ok", result["traffic"]
    finally:
        for container in client.containers.list(all=True, filters=mine):
            container.remove(force=True)
        for network in client.networks.list(filters=mine):
            network.remove()
        if not had_image:
            for image in client.images.list(name="demand"):
                client.images.remove(image.id, force=True)
        for image in client.images.list(filters=stages):
            if image.id not in stages_before:
                client.images.remove(image.id, force=True)
