"""The swarm target on a real single-node swarm: rollout under load, broken versions, rollback.

This engine's kernel has no IPVS, so the routing mesh cannot publish ports; the environment uses
`publish: edge` (mlship's proxy container on the overlay network), which works on any engine.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from .deploy_helpers import free_port, mlship, mlship_json, predict, write_project

pytestmark = pytest.mark.docker


class ClientLoop(threading.Thread):
    """Sequential /predict requests, bounded in count and time; counts failures and versions seen."""

    def __init__(self, url: str, seconds: float, limit: int = 3000):
        super().__init__(daemon=True)
        self.url, self.seconds, self.limit = url, seconds, limit
        self.ok, self.failures, self.versions = 0, [], {}
        self.stop = threading.Event()

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        while not self.stop.is_set() and time.monotonic() < end and self.ok + len(self.failures) < self.limit:
            request = urllib.request.Request(
                f"{self.url}/predict",
                data=b'{"records": [{"x": 2}]}',
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    body = json.loads(response.read())
                assert body["predictions"] == [4.0]
                self.ok += 1
                self.versions[body["model_version"]] = self.versions.get(body["model_version"], 0) + 1
            except Exception as exc:  # every failure counts, whatever its kind
                self.failures.append(repr(exc))
            time.sleep(0.01)


@pytest.fixture
def project(tmp_path, project_name, images, registries, swarm):
    env = {
        "target": "swarm",
        "publish": "edge",
        "registry": registries[0],
        "port": free_port(),
        "replicas": 2,
        "update_delay": 0.5,
        "gate": {"readiness_timeout": 6, "monitor_seconds": 2},
    }
    return write_project(tmp_path / "proj", project_name, {"staging": env})


def test_swarm_rollout_zero_failures_and_rollbacks(project):
    first = mlship_json("deploy", "staging", "--image", "mlship-t7-app:v1", cwd=project)
    url = first["url"]
    assert first["target"] == "swarm" and predict(url) == (4.0, "1")

    loop = ClientLoop(url, seconds=90)
    loop.start()
    time.sleep(0.5)
    second = mlship_json("deploy", "staging", "--image", "mlship-t7-app:v2", cwd=project)
    time.sleep(1)
    loop.stop.set()
    loop.join(10)
    assert second["replaced"]["version"] == "1"
    assert loop.failures == [] and loop.ok > 50
    assert set(loop.versions) == {"1", "2"}, loop.versions

    # Caught by the preflight candidate: the service is not touched.
    wrong = mlship("deploy", "staging", "--image", "mlship-t7-app:v3-wrong", cwd=project)
    assert wrong.returncode == 4 and "the service was not touched" in wrong.stderr, wrong.stderr
    assert predict(url) == (4.0, "2")

    # Without the preflight, swarm's own health check and failure_action roll the update back.
    text = (
        (project / "mlship.yaml")
        .read_text()
        .replace("monitor_seconds: 2", "monitor_seconds: 2\n      preflight: false")
    )
    (project / "mlship.yaml").write_text(text)
    loop = ClientLoop(url, seconds=120)
    loop.start()
    unready = mlship("deploy", "staging", "--image", "mlship-t7-app:v3-unready", cwd=project)
    loop.stop.set()
    loop.join(10)
    assert unready.returncode == 4 and "rolled the service back" in unready.stderr, unready.stderr
    assert loop.failures == [] and set(loop.versions) == {"2"}
    status = mlship_json("status", "staging", "-C", str(project), cwd=project)["environments"][0]
    assert status["current"]["version"] == "2" and status["replicas"] == {"running": 2, "desired": 2}

    back = mlship_json("rollback", "staging", cwd=project)
    assert back["release"]["version"] == "1" and predict(url) == (4.0, "1")
    history = mlship_json("history", "staging", "-C", str(project), cwd=project)["entries"]
    assert [e["version"] for e in history if e["source"] == "target"] == ["1", "2", "1"]
