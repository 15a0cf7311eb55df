"""The docker target end to end: real engine, real registries, the real command line."""

from __future__ import annotations

import pytest

from .deploy_helpers import free_port, mlship, mlship_json, predict, write_project

pytestmark = pytest.mark.docker


@pytest.fixture
def project(tmp_path, project_name, images, registries):
    dev_port, prod_port, local_port = free_port(), free_port(), free_port()
    gate = {"readiness_timeout": 5, "latency_p99_ms": 1000, "latency_requests": 5}
    return write_project(
        tmp_path / "proj",
        project_name,
        {
            "local": {"port": local_port, "gate": gate},
            "dev": {"registry": registries[0], "port": dev_port, "gate": gate},
            "prod": {"registry": f"{registries[1]}/team", "port": prod_port, "gate": gate},
        },
    )


def _url(project, env):
    return mlship_json("status", env, "-C", str(project), cwd=project)["environments"][0]["url"]


def test_deploy_upgrade_broken_rollback(project):
    first = mlship_json("deploy", "local", "--image", "mlship-t7-app:v1", cwd=project)
    assert first["release"]["version"] == "1" and first["target"] == "docker"
    url = first["url"]
    assert predict(url) == (4.0, "1")
    assert [c["check"] for c in first["gates"][0]["checks"]] == ["readiness", "doubles", "latency"]

    second = mlship_json("deploy", "local", "--image", "mlship-t7-app:v2", cwd=project)
    assert second["replaced"]["version"] == "1" and predict(url) == (4.0, "2")

    # A wrong answer is caught on the candidate: exit 4, v2 never stopped.
    wrong = mlship("deploy", "local", "--image", "mlship-t7-app:v3-wrong", cwd=project)
    assert wrong.returncode == 4, wrong.stderr
    assert "expected 4" in wrong.stderr and "version 2 keeps serving" in wrong.stderr
    assert predict(url) == (4.0, "2")

    # recreate stops v2 first; v3 never gets ready, so v2 is started again.
    unready = mlship(
        "deploy", "local", "--image", "mlship-t7-app:v3-unready", "--strategy", "recreate", cwd=project
    )
    assert unready.returncode == 4, unready.stderr
    assert "readiness" in unready.stderr
    assert predict(url) == (4.0, "2")

    back = mlship_json("rollback", "local", "--to", "1", cwd=project)
    assert back["action"] == "rollback" and predict(url) == (4.0, "1")

    history = mlship_json("history", "local", "-C", str(project), cwd=project)["entries"]
    assert [(e["version"], e["result"]) for e in history][:2] == [("1", "live"), ("3", "failed")]
    assert "readiness" in history[1]["reason"]
    assert {e["version"] for e in history if e["source"] == "target"} == {"1", "2"}
    status = mlship_json("status", "local", "-C", str(project), cwd=project)["environments"][0]
    assert status["ready"] is True and status["current"]["version"] == "1"


def test_promote_moves_the_same_digest(project, project_name, registries):
    dev = mlship_json("deploy", "dev", "--image", "mlship-t7-app:v2", cwd=project)
    assert dev["release"]["image"].startswith(f"{registries[0]}/")
    prod = mlship_json("promote", "dev", "prod", cwd=project)
    assert prod["release"]["digest"] == dev["release"]["digest"]
    assert prod["release"]["image"] == f"{registries[1]}/team/{project_name}@{dev['release']['digest']}"
    assert predict(prod["url"]) == (4.0, "2")
    assert (
        mlship_json("status", "prod", "-C", str(project), cwd=project)["environments"][0]["current"]["digest"]
        == dev["release"]["digest"]
    )


def test_bad_input_changes_nothing(project):
    mlship_json("deploy", "local", "--image", "mlship-t7-app:v1", cwd=project)
    url = _url(project, "local")

    unknown = mlship("deploy", "nowhere", "--image", "mlship-t7-app:v2", cwd=project)
    assert unknown.returncode == 2 and "unknown environment 'nowhere'" in unknown.stderr

    missing = mlship("deploy", "local", "--image", "mlship-t7-nope:v9", cwd=project)
    assert missing.returncode == 2 and "does not exist" in missing.stderr

    down = mlship(
        "deploy",
        "local",
        "--image",
        "mlship-t7-app:v2",
        cwd=project,
        env={"DOCKER_HOST": "tcp://127.0.0.1:9"},
    )
    assert down.returncode == 3 and "cannot reach the docker engine" in down.stderr

    text = (project / "mlship.yaml").read_text().replace("127.0.0.1:5000", f"127.0.0.1:{free_port()}")
    (project / "mlship.yaml").write_text(text)
    unreachable = mlship("deploy", "dev", "--image", "mlship-t7-app:v2", cwd=project)
    assert unreachable.returncode == 3 and "cannot reach the registry" in unreachable.stderr
    assert mlship_json("status", "dev", "-C", str(project), cwd=project)["environments"][0]["current"] is None

    assert predict(url) == (4.0, "1")
    nothing = mlship("rollback", "local", cwd=project)
    assert nothing.returncode == 2 and "no record of an earlier release" in nothing.stderr


def test_log_dir_is_prepared_for_a_non_root_image(tmp_path, project_name, images):
    """A missing log_dir is created for the image's user; one that user cannot write is refused first."""
    import io

    import docker

    client = docker.from_env()
    tag = f"mlship-t7-app:nonroot-{project_name}"
    client.images.build(fileobj=io.BytesIO(b"FROM mlship-t7-app:v1\nUSER 10001\n"), tag=tag, rm=True)
    try:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o755)
        fresh = tmp_path / "new" / "logs"
        gate = {"readiness_timeout": 10}
        project = write_project(
            tmp_path / "proj",
            project_name,
            {
                "locked": {"port": free_port(), "gate": gate, "log_dir": str(locked)},
                "fresh": {"port": free_port(), "gate": gate, "log_dir": str(fresh)},
            },
        )
        refused = mlship("deploy", "locked", "--image", tag, cwd=project)
        assert refused.returncode == 2, refused.stderr
        assert "is not writable by the image's user (uid 10001)" in refused.stderr
        assert not client.containers.list(all=True, filters={"label": f"io.mlship.project={project_name}"})

        deployed = mlship_json("deploy", "fresh", "--image", tag, cwd=project)
        assert predict(deployed["url"]) == (4.0, "1")
        assert fresh.stat().st_uid == 10001
    finally:
        for container in client.containers.list(
            all=True, filters={"label": f"io.mlship.project={project_name}"}
        ):
            container.remove(force=True)
        client.images.remove(tag, force=True)
