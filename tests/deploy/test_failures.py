"""No failed step leaves nothing serving: errors in the middle of a rollout, on the real engine and swarm
(kubernetes: a kubectl stand-in that fails, since no cluster exists here). Each one restores the
previous release, is written to the deployment journal as failed, and exits 4."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from mlship.deploy.state import read_labels

from .deploy_helpers import free_port, mlship, mlship_json, predict, write_project

pytestmark = pytest.mark.docker


def _edit(project: Path, environment: str, **changes) -> None:
    config = yaml.safe_load((project / "mlship.yaml").read_text())
    config["environments"][environment].update(changes)
    (project / "mlship.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _failures(project: Path, environment: str) -> list[dict]:
    entries = mlship_json("history", environment, "-C", str(project), cwd=project)["entries"]
    return [e for e in entries if e["result"] == "failed"]


def test_recreate_failures_start_the_old_version_again(tmp_path, project_name, images):
    """recreate stops the old container first: an unwritable log directory, an engine refusal and a
    vanished image each leave the previous version answering."""
    import docker

    client = docker.from_env()
    tag = f"mlship-t7-app:nonroot-{project_name}"
    client.images.build(
        fileobj=io.BytesIO(f"FROM mlship-t7-app:v1\nUSER 10001\nLABEL t={project_name}\n".encode()),
        tag=tag,
        rm=True,
    )
    try:
        gate = {"readiness_timeout": 10}
        project = write_project(
            tmp_path / "proj",
            project_name,
            {"local": {"port": free_port(), "gate": gate, "strategy": "recreate"}},
        )
        url = mlship_json("deploy", "local", "--image", tag, cwd=project)["url"]
        assert predict(url) == (4.0, "1")
        logs = project / "logs" / "environments" / "local"  # the default log directory, made for uid 10001
        assert logs.is_dir() and logs.stat().st_uid == 10001

        os.chown(logs, 0, 0)
        logs.chmod(0o755)
        refused = mlship("deploy", "local", "--image", tag, cwd=project)
        assert refused.returncode == 2 and "not writable by the image's user" in refused.stderr, (
            refused.stderr
        )
        assert predict(url) == (4.0, "1")
        os.chown(logs, 10001, 10001)

        _edit(project, "local", resources={"memory": "1Mi"})  # the engine refuses to create it
        engine = mlship("deploy", "local", "--image", "mlship-t7-app:v2", cwd=project)
        assert engine.returncode == 4, engine.stderr
        assert "Minimum memory limit" in engine.stderr and "version 1 keeps serving" in engine.stderr
        assert predict(url) == (4.0, "1")

        _edit(project, "local", resources={})
        assert mlship_json("deploy", "local", "--image", "mlship-t7-app:v2", cwd=project)["url"] == url
        client.images.remove(tag, force=True)
        gone = mlship("rollback", "local", cwd=project)
        assert gone.returncode == 4 and "not on this engine any more" in gone.stderr, gone.stderr
        assert predict(url) == (4.0, "2")

        reasons = [e["reason"] for e in _failures(project, "local")]
        assert len(reasons) == 3, reasons
        assert any("not on this engine" in r for r in reasons)
        assert any("Minimum memory limit" in r for r in reasons)
        assert any("not writable" in r for r in reasons)
    finally:
        for container in client.containers.list(
            all=True, filters={"label": f"io.mlship.project={project_name}"}
        ):
            container.remove(force=True)
        if client.images.list(name=tag):
            client.images.remove(tag, force=True)


def test_swarm_update_the_engine_refuses_is_undone(tmp_path, project_name, images, registries, swarm):
    """services.update refused by the manager (the port another service holds) is exit 4, not 70."""
    import docker

    client = docker.from_env()
    taken = free_port()
    client.services.create(
        "mlship-base:bookworm",
        command=["sleep", "600"],
        name=f"{project_name}-holder",
        labels={"io.mlship.project": project_name},
        endpoint_spec=docker.types.EndpointSpec(ports={taken: 8080}),
    )
    env = {
        "target": "swarm",
        "publish": "edge",
        "registry": registries[0],
        "port": free_port(),
        "gate": {"readiness_timeout": 6, "monitor_seconds": 1, "preflight": False},
    }
    project = write_project(tmp_path / "proj", project_name, {"staging": env})
    url = mlship_json("deploy", "staging", "--image", "mlship-t7-app:v1", cwd=project)["url"]
    assert predict(url) == (4.0, "1")

    _edit(project, "staging", publish="ingress", port=taken)
    refused = mlship("deploy", "staging", "--image", "mlship-t7-app:v2", cwd=project)
    assert refused.returncode == 4, refused.stderr
    assert "already in use" in refused.stderr and "version 1 keeps serving" in refused.stderr
    assert predict(url) == (4.0, "1")
    [failure] = _failures(project, "staging")
    assert failure["version"] == "2" and "already in use" in failure["reason"]


STANDIN = '''#!{python}
"""kubectl stand-in: Deployments kept as JSON files; `apply` of the Deployment named in FAIL fails."""
import json, os, sys
from pathlib import Path
import yaml

state = Path(os.environ["KUBE_STANDIN"])
args = sys.argv[1:]
while args and args[0] in ("--namespace", "--context"):
    args = args[2:]
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["get", "deployment"]:
    found = state / (args[2] + ".json")
    print(found.read_text() if found.exists() else "")
elif args[:1] == ["apply"]:
    for doc in yaml.safe_load_all(sys.stdin.read()):
        if not doc or doc["kind"] != "Deployment":
            continue
        name = doc["metadata"]["name"]
        if name == os.environ.get("FAIL"):
            sys.stderr.write('error: admission webhook "policy" denied the request\\n')
            sys.exit(1)
        doc["status"] = {{"readyReplicas": doc["spec"]["replicas"]}}
        (state / (name + ".json")).write_text(json.dumps(doc))
elif args[:2] == ["delete", "deployment"]:
    (state / (args[2] + ".json")).unlink(missing_ok=True)
'''


def test_kubectl_failing_mid_canary_removes_the_canary(tmp_path, project_name, images, registries):
    """The stable Deployment's apply fails after the canary went out: exit 4, no canary left, the
    stable Deployment untouched (no `rollout undo` of a revision that was never applied)."""
    state = tmp_path / "cluster"
    state.mkdir()
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "kubectl").write_text(STANDIN.format(python=sys.executable))
    (tools / "kubectl").chmod(0o755)
    env = {
        "target": "kubernetes",
        "registry": registries[0],
        "strategy": "canary",
        "gate": {"monitor_seconds": 0, "preflight": False},
    }
    project = write_project(tmp_path / "proj", project_name, {"prod": env})
    name = f"mlship-{project_name}-prod"
    shell = {"PATH": f"{tools}:{os.environ['PATH']}", "KUBE_STANDIN": str(state), "FAIL": name}
    first = mlship("deploy", "prod", "--image", "mlship-t7-app:v1", cwd=project, env={**shell, "FAIL": ""})
    assert first.returncode == 0, first.stderr

    failed = mlship("deploy", "prod", "--image", "mlship-t7-app:v2", cwd=project, env=shell)
    assert failed.returncode == 4, failed.stderr
    assert "admission webhook" in failed.stderr and "version 1 keeps serving" in failed.stderr
    assert not (state / f"{name}-canary.json").exists()
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    assert ["delete", "deployment", f"{name}-canary", "--ignore-not-found"] in calls
    assert not any(c[:2] == ["rollout", "undo"] for c in calls)
    stable, _ = read_labels(json.loads((state / f"{name}.json").read_text())["metadata"]["annotations"])
    assert stable is not None and stable.version == "1"
    history = mlship("history", "prod", "-C", str(project), "--json", cwd=project, env=shell)
    entries = json.loads(history.stdout)["entries"]
    assert sorted((e["version"], e["result"]) for e in entries) == [("1", "live"), ("2", "failed")]
    assert "admission webhook" in next(e["reason"] for e in entries if e["result"] == "failed")
