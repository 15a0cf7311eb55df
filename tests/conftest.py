"""Fixtures shared by every test area: a rendered example project, trained once per session."""

from __future__ import annotations

import shutil
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
