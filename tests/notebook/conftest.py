"""Shared, session-scoped work: each example notebook is converted once and verified once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .nb_helpers import EXAMPLES, GOOD_CELLS, NAMES, python_in, write_notebook


@pytest.fixture
def make_notebook():
    return write_notebook


@pytest.fixture
def run_python():
    return python_in


@pytest.fixture
def small_notebook(tmp_path) -> Path:
    """A minimal valid notebook next to a copy of the example data."""
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    return write_notebook(tmp_path / "small.ipynb", GOOD_CELLS)


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> dict[str, Path]:
    from mlship.notebook.convert import convert_notebook

    base = tmp_path_factory.mktemp("converted")
    projects = {}
    for name in NAMES:
        convert_notebook(notebook=EXAMPLES / f"{name}.ipynb", directory=base / name)
        projects[name] = base / name
    return projects


@pytest.fixture(scope="session")
def verified(converted):
    """One real kernel run and one fresh-process pipeline run per example (the slow part)."""
    from mlship.notebook.parity import verify_project
    from mlship.project import Project

    return {name: verify_project(Project.load(path)) for name, path in converted.items()}
