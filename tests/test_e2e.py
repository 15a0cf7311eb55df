"""The whole spine on the real engine: template -> train -> build -> deploy (gate) -> traffic -> log
-> monitor -> contract against the deployed service."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from mlship import labels
from tests.support import free_port, require_docker, run_mlship

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def add_environment(project: Path, name: str, **settings: object) -> None:
    path = project / "mlship.yaml"
    config = yaml.safe_load(path.read_text())
    config["environments"][name] = settings
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def engine():
    require_docker()
    import docker

    client = docker.from_env()
    made: list[str] = []
    yield client, made
    for container in client.containers.list(all=True, filters={"label": f"{labels.ENVIRONMENT}=e2e"}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": f"{labels.ENVIRONMENT}=e2e"}):
        with contextlib.suppress(docker.errors.DockerException):
            network.remove()  # the docker target's proxy network
    for ref in made:
        with contextlib.suppress(docker.errors.DockerException):
            client.images.remove(ref, force=True)


def test_template_to_monitored_service(example_project: Path, tmp_path: Path, engine) -> None:
    client, made = engine
    project = example_project
    port = free_port()
    log_dir = tmp_path / "service-logs"
    add_environment(project, "e2e", target="docker", port=port, log_dir=str(log_dir))
    env = {**os.environ, "MLSHIP_BASE_IMAGE": os.environ.get("MLSHIP_BASE_IMAGE", "mlship-base:bookworm")}

    ref = f"mlship-e2e-{uuid.uuid4().hex[:8]}:0.1.0"
    made.append(ref)
    built = run_mlship("build", str(project), "--tag", ref, "--skip-check", "--json", env=env, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    assert json.loads(built.stdout)["image"] == ref

    # deploy takes the image the last build recorded; the gate runs the template's golden examples.
    deployed = run_mlship("deploy", "e2e", str(project), "--json", timeout=600)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    result = json.loads(deployed.stdout)
    url = result["url"]
    assert url.endswith(f":{port}")

    raw = pd.read_csv(project / "data" / "train.csv").drop(columns=["demand"])
    local = run_mlship(
        "predict", str(project), "-i", "data/train.csv", "-o", str(tmp_path / "local.csv"), cwd=project
    )
    assert local.returncode == 0, local.stderr
    in_process = pd.read_csv(tmp_path / "local.csv")["prediction"].tolist()
    served: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for start in range(0, 400, 40):
            records = json.loads(raw.iloc[start : start + 40].to_json(orient="records"))
            answer = http.post("/predict", json={"records": records})
            assert answer.status_code == 200, answer.text
            served += answer.json()["predictions"]
        assert http.post("/predict", json={"records": [{"price": "free"}]}).status_code == 422
    assert served == pytest.approx(in_process, abs=1e-9)

    status = run_mlship("status", "e2e", "-C", str(project), "--json")
    assert status.returncode == 0, status.stderr
    (entry,) = json.loads(status.stdout)["environments"]
    assert entry["ready"] is True

    # The contract, run against the deployed service (its URL resolved from the environment).
    contract = run_mlship("test", str(project), "--against", "e2e", "--check", "examples", "--json")
    assert contract.returncode == 0, contract.stdout[-2000:] + contract.stderr[-2000:]

    # Every request was logged into the environment's log dir; traffic like training shows no drift.
    # The model container (the proxy in front of it carries the environment's label too).
    container = client.containers.list(
        filters={"label": [f"{labels.ENVIRONMENT}=e2e", "io.mlship.role=live"]}
    )[0]
    container.stop(timeout=30)  # SIGTERM: the runtime flushes the log before it exits
    logged = [json.loads(line) for path in log_dir.rglob("*.jsonl") for line in path.read_text().splitlines()]
    statuses = sorted(row["status"] for row in logged)
    assert statuses.count(422) >= 1 and statuses.count(200) >= 10
    monitor = run_mlship("monitor", str(project), "--env", "e2e", "--json")
    assert monitor.returncode == 0, monitor.stdout[-2000:] + monitor.stderr[-2000:]
    report = json.loads(monitor.stdout)
    assert report["verdict"] == "ok" and report["drifted"] == []
    assert report["traffic"]["failed"] >= 1
