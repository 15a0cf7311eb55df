"""Fixtures for the contract tests: the template project, trained once, and ways to break it.

Projects whose code a test changes are only ever run in a subprocess (`mlship test`): in this
process the project's package is imported once, and a changed copy would not be re-imported.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import served

from .contract_support import edit_source, mlship


@pytest.fixture(scope="session")
def trained_demand(tmp_path_factory) -> Path:
    """`mlship init --no-input` + `mlship train`, once; tests copy it before changing it."""
    root = tmp_path_factory.mktemp("contract") / "demand-model"
    for args in (("init", str(root), "--no-input"), ("train", str(root))):
        proc = mlship(*args)
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def demand(trained_demand, tmp_path) -> Path:
    dest = tmp_path / "demand-model"
    shutil.copytree(trained_demand, dest)
    return dest


@pytest.fixture(scope="session")
def service(trained_demand, tmp_path_factory) -> Iterator[Any]:
    """The real runtime, `mlship serve`, around the trained model (what a deployment runs)."""
    with served(trained_demand, log_dir=tmp_path_factory.mktemp("served-log")) as url:
        yield SimpleNamespace(url=url)


@pytest.fixture
def shifted_service(trained_demand, tmp_path) -> Iterator[Any]:
    """`start(offset)`: `mlship serve` around a copy of the model whose every prediction is `offset`
    higher, standing for a deployed model that differs from the candidate."""
    with contextlib.ExitStack() as stack:

        def start(offset: float) -> SimpleNamespace:
            project = tmp_path / f"shifted-{offset:g}" / "demand-model"
            shutil.copytree(trained_demand, project)
            answer = "np.clip(demand, 0, None).round(2)"
            edit_source(project, "predict", f"return {answer}\n", f"return {answer} + {offset!r}\n")
            url = stack.enter_context(served(project, log_dir=project.parent / "log"))
            return SimpleNamespace(url=url)

        yield start
