"""Fixtures for the deploy tests: stand-in service images, two real registries, a swarm, a project.

The images are built FROM mlship-base:bookworm with a stdlib HTTP server (testimage/server.py) whose
version and faults are build args: deploy mechanics do not depend on what the image serves.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .deploy_helpers import require_docker

ROOT = Path(__file__).resolve().parents[2]
TESTIMAGE = Path(__file__).parent / "testimage"
IMAGE = "mlship-t7-app"
VARIANTS = {
    "v1": ("1", ""),
    "v2": ("2", ""),
    "v3-unready": ("3", "readiness"),
    "v3-wrong": ("3", "answer"),
    "v3-flaky": ("3", "others"),
}
REGISTRY_PORTS = (5000, 5001)


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Tag -> image id of the four stand-in images."""
    require_docker()
    subprocess.run([str(ROOT / "scripts" / "base-image.sh")], check=True, capture_output=True)
    built = {}
    for tag, (version, broken) in VARIANTS.items():
        done = subprocess.run(
            [
                "docker",
                "build",
                "-q",
                "-t",
                f"{IMAGE}:{tag}",
                "--build-arg",
                f"VERSION={version}",
                "--build-arg",
                f"BROKEN={broken}",
                str(TESTIMAGE),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        built[tag] = done.stdout.strip().splitlines()[-1]
    return built


@pytest.fixture(scope="session")
def registries() -> tuple[str, str]:
    """Two real registries (Debian's docker-registry) on 127.0.0.1."""
    require_docker()
    script = ROOT / "scripts" / "registry.sh"
    return tuple(  # type: ignore[return-value]
        subprocess.run(
            [str(script), "start", str(p)], check=True, capture_output=True, text=True
        ).stdout.strip()
        for p in REGISTRY_PORTS
    )


@pytest.fixture(scope="session")
def swarm() -> None:
    """A single-node swarm on this engine (left initialised: it is shared)."""
    require_docker()
    import docker

    if not docker.from_env().info().get("Swarm", {}).get("ControlAvailable"):
        subprocess.run(
            ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True, capture_output=True
        )


@pytest.fixture
def project_name() -> str:
    """A unique project per test; everything it creates is removed by its labels afterwards."""
    name = f"t7-{uuid.uuid4().hex[:6]}"
    yield name
    _cleanup(name)


def _cleanup(project: str) -> None:
    import docker

    try:
        client = docker.from_env()
    except Exception:
        return
    selector = {"label": f"io.mlship.project={project}"}
    try:
        for service in client.services.list(filters=selector):
            service.remove()
    except docker.errors.APIError:
        pass
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    for port in REGISTRY_PORTS:  # a push tags the image with its registry name on this engine too
        for image in client.images.list(name=f"127.0.0.1:{port}/{project}"):
            for tag in image.tags:
                if tag.startswith(f"127.0.0.1:{port}/{project}:"):
                    with contextlib.suppress(docker.errors.APIError):
                        client.images.remove(tag)
    for network in client.networks.list(filters=selector):
        for _ in range(20):  # swarm tasks take a few seconds to leave the overlay network
            try:
                network.remove()
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                time.sleep(0.5)
