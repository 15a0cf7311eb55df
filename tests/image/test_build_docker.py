"""`mlship build` on the real docker engine: the image serves what `mlship predict` computes, layers
are reused across code-only and model-only changes, and a failed build leaves no tag."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from mlship import labels as L

pytestmark = pytest.mark.docker
RECORDS = 40


def _wait_ready(container: Any, timeout: float = 60.0) -> str:
    import httpx

    container.reload()
    port = container.ports["8080/tcp"][0]["HostPort"]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        container.reload()
        if container.status == "exited":
            pytest.fail("container exited:\n" + container.logs().decode()[-3000:])
        time.sleep(0.5)
    pytest.fail("container not ready:\n" + container.logs().decode()[-3000:])


def test_image_serves_the_same_predictions_as_mlship_predict(
    built: Any, container: Any, tmp_path: Path, cli: Any
) -> None:
    import httpx
    import pandas as pd

    out = tmp_path / "scored.csv"
    data = str(built.project / "data/train.csv")
    code, _, err = cli("predict", str(built.project), "--input", data, "--output", str(out))
    assert code == 0, err
    scored = pd.read_csv(out).head(RECORDS)
    records = json.loads(scored.drop(columns=["prediction", "demand"]).to_json(orient="records"))

    url = _wait_ready(container(built.result.image))
    response = httpx.post(f"{url}/predict", json={"records": records}, timeout=30)
    assert response.status_code == 200, response.text
    served = response.json()["predictions"]
    assert served == pytest.approx(scored["prediction"].tolist(), abs=1e-9)


def test_image_metadata_user_labels_and_port(built: Any, docker: Any, container: Any) -> None:
    image = docker.images.get(built.result.image)
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "8080/tcp" in config["ExposedPorts"]
    assert "/readyz" in " ".join(config["Healthcheck"]["Test"])
    labels = config["Labels"]
    for key in (
        "org.opencontainers.image.source",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.created",
        "org.opencontainers.image.version",
    ):
        assert key in labels
    assert labels[L.MODEL_SHA256] and len(labels[L.LOCK_SHA256]) == 64
    assert labels[L.GPU] == "false" and labels[L.MIN_DRIVER] == ""
    # PORT moves the server; the health check follows it.
    c = container(built.result.image, environment={"PORT": "9000"}, ports={"9000/tcp": ("127.0.0.1", None)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        c.reload()
        if c.attrs["State"].get("Health", {}).get("Status") == "healthy":
            break
        assert c.status != "exited", c.logs().decode()[-2000:]
        time.sleep(1)
    assert c.attrs["State"]["Health"]["Status"] == "healthy"
    user = c.exec_run(["id", "-u"]).output.decode().strip()
    assert user == "10001"


def test_code_only_change_reuses_every_lower_layer(built: Any, project_copy: Path, cli: Any) -> None:
    predict_py = next(project_copy.glob("src/*/predict.py"))
    predict_py.write_text(predict_py.read_text() + "\n# a code-only change\n")
    ref = built.tag("code")
    code, out, err = cli("build", str(project_copy), "--tag", ref, "--skip-check", "--json")
    assert code == 0, err
    data = json.loads(out)
    before, after = built.result.layers, data["layers"]
    assert len(before) == len(after)
    assert after[:-1] == before[:-1], "base, deps, runtime and model layers must be reused"
    assert after[-1] != before[-1], "the code layer must change"
    assert data["image"] == ref and data["image_id"].startswith("sha256:") and data["size"] > 0
    # Without --json: the reference, id and size on stdout, the summary on stderr.
    code, out, err = cli("build", str(project_copy), "--tag", ref, "--skip-check")
    assert code == 0, err
    assert (
        out.splitlines()[0] == ref and out.splitlines()[1].startswith("id      sha256:") and "size    " in out
    )
    assert "Built" in err and "layers cached" in err


def test_artifact_only_change_reuses_the_dependency_layers(built: Any, project_copy: Path) -> None:
    from mlship.image.build import build_image
    from mlship.project import Project
    from mlship.stages import train

    config = project_copy / "mlship.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
    train(Project.load(project_copy))
    result = build_image(directory=project_copy, tag=built.tag("model"), skip_check=True)
    before, after = built.result.layers, result.layers
    # base, user, venv (locked deps), serving runtime: identical; the model layer: new; the code: the same.
    assert after[:4] == before[:4]
    assert after[4] != before[4]
    assert after[5:] == before[5:]
    assert result.labels[L.MODEL_SHA256] != built.result.labels[L.MODEL_SHA256]


@pytest.mark.parametrize(
    ("builder", "says"),
    [
        ("layers", ("cannot run python3", "executable file not found")),
        ("dockerfile", ("python3: not found", "returned a non-zero code")),
    ],
)
def test_failed_build_exits_4_with_the_step_log_and_tags_nothing(
    built: Any,
    project_copy: Path,
    docker: Any,
    build_env: dict[str, str],
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    builder: str,
    says: tuple[str, str],
) -> None:
    broken = built.tag("nopython")
    docker.images.build(
        fileobj=__import__("io").BytesIO(
            f"FROM {build_env['MLSHIP_BASE_IMAGE']}\nRUN rm -f /usr/bin/python3*\n".encode()
        ),
        tag=broken,
        rm=True,
        network_mode="none",
    )
    monkeypatch.setenv("MLSHIP_BUILDER", builder)
    ref = built.tag("never")
    code, _, err = cli("build", str(project_copy), "--base", broken, "--tag", ref, "--skip-check")
    assert code == 4, err
    assert all(text in err for text in says), err
    assert not docker.images.list(filters={"reference": ref})


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("where", ["unreachable", "missing"])
def test_a_base_that_cannot_be_pulled_says_how_to_use_a_local_one(
    built: Any, project_copy: Path, docker: Any, cli: Any, request: pytest.FixtureRequest, where: str
) -> None:
    """The base is pulled when the engine lacks it; when that fails (no registry access, or no such
    image), the hint names the local-base settings instead of 'the failing step's output'."""
    host = f"127.0.0.1:{_free_port()}" if where == "unreachable" else request.getfixturevalue("registry")
    base = f"{host}/mlship-t6-nobase:1"
    ref = built.tag("never")
    code, _, err = cli("build", str(project_copy), "--base", base, "--tag", ref, "--skip-check", "--locked")
    assert code == (3 if where == "unreachable" else 4), err
    assert f"the base image {base} is not on this docker engine and cannot be pulled" in err
    for setting in ("MLSHIP_BASE_IMAGE", "image.base", "scripts/base-image.sh"):
        assert setting in err, err
    assert "failing step" not in err and "Traceback" not in err
    assert not docker.images.list(filters={"reference": ref})


@pytest.fixture
def registry(tmp_path: Path) -> Any:
    """A real registry (scripts/registry.sh) on a free loopback port, its state in tmp_path; stopped after."""
    import os
    import socket
    import subprocess

    script = Path(__file__).resolve().parents[2] / "scripts" / "registry.sh"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLSHIP_REGISTRY_STATE_DIR": str(tmp_path / "registry")}
    proc = subprocess.run(
        [str(script), "start", str(port)], capture_output=True, text=True, timeout=120, env=env
    )
    if proc.returncode != 0:
        pytest.fail(f"registry did not start: {proc.stderr[-2000:]}")
    yield proc.stdout.strip()
    subprocess.run([str(script), "stop", str(port)], capture_output=True, timeout=60, env=env)
    shutil.rmtree(tmp_path / "registry", ignore_errors=True)


@pytest.fixture
def auth_registry(tmp_path: Path) -> Any:
    """A real registry that requires Basic auth (user `ci`, password `s3cret`); stopped after."""
    import os
    import subprocess

    import bcrypt

    from tests.support import free_port

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(b"ci:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=5)) + b"\n")
    script = Path(__file__).resolve().parents[2] / "scripts" / "registry.sh"
    port = str(free_port())
    env = {
        **os.environ,
        "MLSHIP_REGISTRY_STATE_DIR": str(tmp_path / "registry"),
        "MLSHIP_REGISTRY_HTPASSWD": str(htpasswd),
    }
    proc = subprocess.run([str(script), "start", port], capture_output=True, text=True, timeout=120, env=env)
    if proc.returncode != 0:
        pytest.fail(f"registry did not start: {proc.stderr[-2000:]}")
    yield proc.stdout.strip()
    subprocess.run([str(script), "stop", port], capture_output=True, timeout=60, env=env)


def test_build_push_uses_the_credentials_deploy_uses(
    built: Any, auth_registry: str, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One push path: `build --push` sends MLSHIP_REGISTRY_USER/PASSWORD (or docker's config) as
    `deploy` does; without them a registry that wants credentials refuses, and the error says how."""
    import httpx

    ref = f"{auth_registry}/mlship-t6-demo:auth"
    built.tags.append(ref)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-login"))
    monkeypatch.delenv("MLSHIP_REGISTRY_USER", raising=False)
    monkeypatch.delenv("MLSHIP_REGISTRY_PASSWORD", raising=False)
    code, _, err = cli("build", str(built.project), "--tag", ref, "--push", "--skip-check")
    assert code == 4 and "MLSHIP_REGISTRY_USER" in err, err
    monkeypatch.setenv("MLSHIP_REGISTRY_USER", "ci")
    monkeypatch.setenv("MLSHIP_REGISTRY_PASSWORD", "s3cret")
    code, out, err = cli("build", str(built.project), "--tag", ref, "--push", "--skip-check", "--json")
    assert code == 0, err
    digest = json.loads(out)["digest"]
    manifest = httpx.get(
        f"http://{auth_registry}/v2/mlship-t6-demo/manifests/auth",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        auth=("ci", "s3cret"),
        timeout=10,
    )
    assert (
        manifest.status_code == 200 and manifest.headers["Docker-Content-Digest"] == digest.split("@", 1)[1]
    )


def test_push_sends_the_image_and_reports_the_registry_digest(built: Any, registry: str, cli: Any) -> None:
    import httpx

    ref = f"{registry}/mlship-t6-demo:push"
    built.tags.append(ref)
    code, out, err = cli("build", str(built.project), "--tag", ref, "--push", "--skip-check", "--json")
    assert code == 0, err
    digest = json.loads(out)["digest"]
    assert digest.startswith(f"{registry}/mlship-t6-demo@sha256:")
    manifest = httpx.get(
        f"http://{registry}/v2/mlship-t6-demo/manifests/push",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == digest.split("@", 1)[1]


def test_build_runs_the_dependency_check_in_process_and_refuses_a_missing_import(
    built: Any, project_copy: Path, docker: Any, cli: Any
) -> None:
    """`mlship build` without --skip-check runs `mlship check`'s core: code importing a package that
    requirements.txt does not list fails it (exit 1, the finding named), before anything is built."""
    predict = next((project_copy / "src").glob("*/predict.py"))
    predict.write_text("import requests  # not in requirements.txt\n" + predict.read_text())
    tag = built.tag("unchecked")
    code, _, err = cli("build", str(project_copy), "--tag", tag)
    assert code == 1, err
    assert "missing-import" in err and "requests" in err and "--skip-check" in err
    assert not docker.images.list(name=tag)
