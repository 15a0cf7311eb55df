"""What `pip install .` brings: the serving runtime comes with the CLI, and its absence is one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _project() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_every_serving_runtime_requirement_is_a_dependency_of_the_cli() -> None:
    """`pip install .` then `mlship serve` works: the image's runtime set (the `serve` extra) is a
    subset of what a plain install brings, markers included."""
    project = _project()
    core = {str(Requirement(r)) for r in project["dependencies"]}
    serve = [str(Requirement(r)) for r in project["optional-dependencies"]["serve"]]
    assert serve and [r for r in serve if r not in core] == []


def test_serve_without_the_runtime_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlship.cli import main
    from mlship.scaffold import init_project

    init_project(directory=tmp_path / "demo", name="demo", no_input=True)
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` raises ModuleNotFoundError
    with pytest.raises(SystemExit) as exc:
        main(["serve", str(tmp_path / "demo"), "--port", "18999"])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "uvicorn is not installed" in err
    assert 'pip install "mlship-cli[serve]"' in err
    assert "Traceback" not in err
