"""Fixtures for `mlship build` tests: a trained example project and one image built from it per session.

Builds are slow on small machines, so every docker test shares the session's image and rebuilds
only what it changes. Images and containers are named `mlship-t6-*` and removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PREFIX = "mlship-t6-"
BASE_IMAGE = os.environ.get("MLSHIP_BASE_IMAGE", "mlship-base:bookworm")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _docker() -> Any:
    from mlship.engine import docker_client
    from mlship.errors import UnreachableError

    try:
        return docker_client(timeout=600)
    except UnreachableError as exc:
        if IN_CI:
            pytest.fail(f"docker engine required in CI: {exc.message}")
        pytest.skip(f"no docker engine: {exc.message}")


@pytest.fixture
def cli(capsys: Any) -> Any:
    """Run the real `mlship ARGS` (tests/support.run_mlship); returns (exit code, stdout, stderr)."""
    from tests.support import run_mlship

    def run(*args: str) -> tuple[int, str, str]:
        done = run_mlship(*args, timeout=900)
        return done.returncode, done.stdout, done.stderr

    return run


@pytest.fixture(scope="session")
def docker() -> Any:
    client = _docker()
    try:
        client.images.get(BASE_IMAGE)
    except Exception:
        message = f"base image {BASE_IMAGE} missing: run scripts/base-image.sh"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return client


def make_project(directory: Path) -> Path:
    """The example project, rendered from templates/project and trained."""
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    init_project(directory=directory, name="demo", no_input=True)
    train(Project.load(directory))
    return directory


@pytest.fixture(scope="session")
def build_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Base image and a wheelhouse shared by every build of the session (MLSHIP_WHEELHOUSE wins)."""
    wheelhouse = os.environ.get("MLSHIP_WHEELHOUSE") or str(tmp_path_factory.mktemp("wheelhouse"))
    saved = {k: os.environ.get(k) for k in ("MLSHIP_BASE_IMAGE", "MLSHIP_WHEELHOUSE")}
    os.environ["MLSHIP_BASE_IMAGE"] = BASE_IMAGE
    os.environ["MLSHIP_WHEELHOUSE"] = wheelhouse
    yield {"MLSHIP_BASE_IMAGE": BASE_IMAGE, "MLSHIP_WHEELHOUSE": wheelhouse}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass
class Built:
    project: Path
    result: Any  # mlship.image.build.BuildResult
    tags: list[str]
    lines: list[str]  # what the session's build reported

    def tag(self, suffix: str) -> str:
        ref = f"{PREFIX}demo:{suffix}-{uuid.uuid4().hex[:6]}"
        self.tags.append(ref)
        return ref


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project, trained (tests that change it work on a copy)."""
    return make_project(tmp_path_factory.mktemp("build") / "demo")


@pytest.fixture(scope="session")
def built(docker: Any, build_env: dict[str, str], trained: Path) -> Iterator[Built]:
    """The example project's image, built once on the real engine as `mlship build` does: locking
    requirements.txt first. So the project holds its requirements.lock from this build on, and every
    later build of it or of a copy (CLI or not) installs the same pins -- not this environment's
    installed versions, which differ from a fresh lock whenever a release is younger than the
    policy's age window."""
    from mlship.image.build import build_image

    project = trained
    holder = Built(project, None, [], [])
    before = set(stage_images(docker))
    # The dependency check runs as in every user's build (in-process, a fraction of a second).
    holder.result = build_image(
        directory=project, tag=holder.tag("base"), locking="auto", on_line=holder.lines.append
    )
    assert "Running mlship check" in " ".join(holder.lines)
    assert (project / "requirements.lock").is_file()
    yield holder
    for ref in reversed(holder.tags):
        with contextlib.suppress(Exception):
            docker.images.remove(ref, force=True)
    # The stage images this session left as build cache (deps, runtime, installer).
    for image_id in set(stage_images(docker)) - before:
        with contextlib.suppress(Exception):
            docker.images.remove(image_id, force=True)


def stage_images(docker: Any) -> list[str]:
    from mlship.labels import BUILD_CACHE

    return [i.id for i in docker.images.list(filters={"dangling": True, "label": f"{BUILD_CACHE}=demo"})]


@pytest.fixture
def project_copy(built: Built, tmp_path: Path) -> Path:
    """A copy of the built project (with its .mlship state) that a test may change."""
    target = tmp_path / "demo"
    shutil.copytree(built.project, target, symlinks=True)
    return target


@pytest.fixture
def container(docker: Any) -> Iterator[Any]:
    """Start containers named mlship-t6-*; every one is removed after the test."""
    started: list[Any] = []

    def run(image: str, **kwargs: Any) -> Any:
        name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
        kwargs.setdefault("ports", {"8080/tcp": ("127.0.0.1", None)})
        c = docker.containers.run(image, name=name, detach=True, **kwargs)
        started.append(c)
        return c

    yield run
    for c in started:
        with contextlib.suppress(Exception):
            c.remove(force=True)
