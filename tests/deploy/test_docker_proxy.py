"""The docker target's proxy on the real engine: no failed request while versions change, canary by
weight, and failures that leave the truth (a taken port, a killed model)."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from .deploy_helpers import free_port, mlship, mlship_json, predict, write_project

pytestmark = pytest.mark.docker


class Traffic(threading.Thread):
    """Paced single-record requests over one keep-alive connection (reopened, and counted, on failure)."""

    def __init__(self, port: int, x: float = 2, interval: float = 0.02, limit: float = 180):
        super().__init__(daemon=True)
        self.port, self.x, self.interval, self.limit = port, x, interval, limit
        self.ok: dict[str, int] = {}
        self.failed: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        conn = None
        body = json.dumps({"records": [{"x": self.x}]}).encode()
        end = time.monotonic() + self.limit
        while not self.halt.is_set() and time.monotonic() < end and sum(self.ok.values()) < 20000:
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = json.loads(response.read())
                if response.status == 200:
                    self.ok[payload["model_version"]] = self.ok.get(payload["model_version"], 0) + 1
                else:
                    self.failed.append(f"HTTP {response.status}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.failed.append(type(exc).__name__)
                conn = None
            time.sleep(self.interval)

    def finish(self) -> None:
        self.halt.set()
        self.join()


def _project(tmp_path, name, **local):
    gate = {"readiness_timeout": 10, "monitor_seconds": 3}
    return write_project(tmp_path / "proj", name, {"local": {"port": free_port(), "gate": gate, **local}})


def _port(project) -> int:
    import yaml

    return yaml.safe_load((project / "mlship.yaml").read_text())["environments"]["local"]["port"]


def test_rollouts_drop_no_request_and_canary_splits(tmp_path, project_name, images):
    project = _project(tmp_path, project_name, canary_weight=30)
    port = _port(project)
    mlship_json("deploy", "local", "--image", "mlship-t7-app:v1", cwd=project)

    traffic = Traffic(port)
    traffic.start()
    time.sleep(0.5)
    mlship_json("deploy", "local", "--image", "mlship-t7-app:v2", cwd=project)
    mlship_json("rollback", "local", cwd=project)
    wrong = mlship("deploy", "local", "--image", "mlship-t7-app:v3-wrong", cwd=project)
    assert wrong.returncode == 4, wrong.stderr

    # A canary under way: the status shows the split, both versions answer live traffic.
    canary = subprocess.Popen(
        [*_cli(), "deploy", "local", "--image", "mlship-t7-app:v2", "--strategy", "canary", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    split = _wait_for_split(project)
    out, err = canary.communicate(timeout=120)
    time.sleep(0.5)
    traffic.finish()
    assert canary.returncode == 0, err
    assert "canary 2 takes 30% of requests, 1 the rest" in split
    assert traffic.failed == [], traffic.failed[:10]
    assert traffic.ok.get("1", 0) > 20 and traffic.ok.get("2", 0) > 20, traffic.ok
    check = next(c for g in json.loads(out)["gates"] for c in g["checks"] if c["check"] == "canary")
    assert check["passed"] and check["canary"]["requests"] > 0 and check["stable"]["requests"] > 0
    # Roughly the configured share went to the canary during the hold (30% of requests).
    share = check["canary"]["requests"] / (check["canary"]["requests"] + check["stable"]["requests"])
    assert 0.15 < share < 0.45, check
    assert predict(f"http://127.0.0.1:{port}") == (4.0, "2")


def test_canary_that_fails_live_traffic_is_rolled_back(tmp_path, project_name, images):
    project = _project(tmp_path, project_name, canary_weight=50)
    port = _port(project)
    mlship_json("deploy", "local", "--image", "mlship-t7-app:v1", cwd=project)
    traffic = Traffic(port, x=3)  # v3-flaky answers the gate's x=2 and fails everything else
    traffic.start()
    done = mlship("deploy", "local", "--image", "mlship-t7-app:v3-flaky", "--strategy", "canary", cwd=project)
    time.sleep(0.5)
    traffic.finish()
    assert done.returncode == 4, done.stderr
    assert "the canary did worse than the stable version: error rate" in done.stderr
    assert "version 1 keeps serving" in done.stderr
    assert predict(f"http://127.0.0.1:{port}") == (4.0, "1")
    history = mlship_json("history", "local", "-C", str(project), cwd=project)["entries"]
    assert (history[0]["version"], history[0]["result"]) == ("3", "failed")


def test_taken_port_is_refused_before_the_push(tmp_path, project_name, images, registries):
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        project = write_project(
            tmp_path / "proj", project_name, {"dev": {"registry": registries[0], "port": port}}
        )
        done = mlship("deploy", "dev", "--image", "mlship-t7-app:v1", cwd=project)
    assert done.returncode == 2, done.stderr
    assert f"port {port} is already taken on the docker host by another process" in done.stderr
    assert "environments.dev.port in mlship.yaml" in done.stderr
    assert "pushing" not in done.stderr
    with pytest.raises(urllib.error.HTTPError):  # nothing reached the registry
        urllib.request.urlopen(f"http://{registries[0]}/v2/{project_name}/tags/list", timeout=5)


def test_failed_start_leaves_the_truth(tmp_path, project_name, images):
    """The port is taken between the check and the start: no container is left, history says failed."""
    import docker

    project = _project(tmp_path, project_name)
    port = _port(project)
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", port))
        holder.listen()
        # With DOCKER_HOST set the engine may be remote, so only docker's own answer can tell.
        done = mlship(
            "deploy",
            "local",
            "--image",
            "mlship-t7-app:v1",
            cwd=project,
            env={"DOCKER_HOST": "unix:///var/run/docker.sock"},
        )
        assert done.returncode == 4, done.stderr
        assert f"port {port} is already taken" in done.stderr
        assert "environments.local.port in mlship.yaml" in done.stderr
        left = docker.from_env().containers.list(
            all=True, filters={"label": f"io.mlship.project={project_name}"}
        )
        assert left == []
        status = mlship("status", "local", "-C", str(project), "--json", cwd=project)
        assert status.returncode == 0 and json.loads(status.stdout)["environments"][0]["current"] is None
    history = mlship_json("history", "local", "-C", str(project), cwd=project)["entries"]
    assert [(e["version"], e["result"]) for e in history] == [("1", "failed")]
    assert f"port {port} is already taken" in history[0]["reason"]


def test_status_fails_when_the_model_is_down(tmp_path, project_name, images):
    import docker

    project = _project(tmp_path, project_name)
    mlship_json("deploy", "local", "--image", "mlship-t7-app:v1", cwd=project)
    assert mlship("status", "local", "-C", str(project), cwd=project).returncode == 0
    client = docker.from_env()
    model = client.containers.list(
        filters={"label": [f"io.mlship.project={project_name}", "io.mlship.role=live"]}
    )[0]
    model.kill()  # a manual stop: docker does not restart it
    time.sleep(2.5)  # the proxy's check marks it down
    down = mlship("status", "local", "-C", str(project), cwd=project)
    assert down.returncode == 1, down.stderr
    assert "fewer ready replicas than desired in local" in down.stderr
    entry = json.loads(mlship("status", "local", "-C", str(project), "--json", cwd=project).stdout)
    assert entry["degraded"] == ["local"] and entry["environments"][0]["replicas"]["running"] == 0


def _cli() -> list[str]:
    from tests.support import MLSHIP

    return list(MLSHIP)


def _wait_for_split(project) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done = mlship("status", "local", "-C", str(project), "--json", cwd=project)
        if done.returncode == 0:
            detail = json.loads(done.stdout)["environments"][0]["detail"]
            if "canary" in detail:
                return detail
        time.sleep(0.3)
    return "no split seen"
