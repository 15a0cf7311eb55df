"""Fixtures shared by every test area: a rendered example project, trained once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def run_mlship(*args: str, cwd: Path | None = None, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """The real `mlship` command in a subprocess (the same interpreter as the tests)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlship", *args], cwd=cwd, capture_output=True, text=True, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mlship {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


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


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:
        return False


def require_docker() -> None:
    """Skip docker tests only off CI; in CI a missing engine is a failure."""
    if docker_available():
        return
    if IN_CI:
        pytest.fail("the docker engine is not reachable, and CI requires docker tests to run")
    pytest.skip("no docker engine here (outside CI)")
