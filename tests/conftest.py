"""Fixtures shared by every test area: a rendered example project, trained once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import run_mlship


@pytest.fixture(scope="session")
def trained_template_project(tmp_path_factory) -> Path:
    """`mlship init --no-input` + `mlship train`, once; copy it before changing it."""
    root = tmp_path_factory.mktemp("example") / "demand"
    run_mlship("init", str(root), "--no-input", check=True)
    run_mlship("train", str(root), check=True)
    return root


@pytest.fixture
def example_project(trained_template_project, tmp_path) -> Path:
    """A private, trained copy of the example project that a test may change."""
    dest = tmp_path / "demand"
    shutil.copytree(trained_template_project, dest)
    return dest


@pytest.fixture(scope="session")
def mlship_image(trained_template_project, tmp_path_factory) -> Iterator[str]:
    """A real image of the example project, made once per session by `mlship build`'s core (lock,
    dependency check, layers on the real engine); removed at the end."""
    import contextlib
    import os
    import uuid

    from tests.support import require_docker

    require_docker()
    from mlship.engine import docker_client
    from mlship.image.build import build_image

    project = tmp_path_factory.mktemp("image") / "demand"
    shutil.copytree(trained_template_project, project)
    tag = f"mlship-tests-demand:{uuid.uuid4().hex[:8]}"
    base = os.environ.get("MLSHIP_BASE_IMAGE")
    os.environ.setdefault("MLSHIP_BASE_IMAGE", "mlship-base:bookworm")
    try:
        build_image(directory=project, tag=tag, locking="auto")
    finally:
        if base is None:
            os.environ.pop("MLSHIP_BASE_IMAGE", None)
    yield tag
    with contextlib.suppress(Exception):
        docker_client().images.remove(tag, force=True)
