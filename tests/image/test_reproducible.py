"""Images reproducible to the byte and lean, on the real engine: copies of a project built from
scratch give the same image id, the image holds no test suites or packaging tools, and the
project's behaviour contract passes against the image itself."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.image.test_build_docker import _wait_ready

pytestmark = pytest.mark.docker


def _copy(project: Path, dest: Path) -> Path:
    """The project as a teammate would check it out: no .mlship state (no layer cache, no last build)."""
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(".mlship"))
    return dest


def test_clean_builds_of_copies_and_a_cached_build_give_one_image_id(built: Any, tmp_path: Path) -> None:
    from mlship.image.build import build_image

    first = _copy(built.project, tmp_path / "a" / "demo")
    second = _copy(built.project, tmp_path / "b" / "demo")
    a = build_image(directory=first, tag=built.tag("copy-a"), skip_check=True, nocache=True)
    b = build_image(directory=second, tag=built.tag("copy-b"), skip_check=True, nocache=True)
    assert a.builder == "mlship-layers"
    assert a.layers == b.layers == built.result.layers
    assert a.image_id == b.image_id == built.result.image_id
    cached = build_image(directory=first, tag=built.tag("copy-a-cached"), skip_check=True)
    assert cached.cached_steps == 5 and cached.image_id == a.image_id


def test_image_is_lean_and_keeps_what_imports_need(built: Any, docker: Any) -> None:
    script = (
        "import importlib.util as u, os, sys\n"
        "site = '/opt/venv/lib/python3.11/site-packages'\n"
        "tests = [r for r, d, f in os.walk(site) if os.path.basename(r) in ('tests', 'test')]\n"
        "tools = [m for m in ('pip', 'setuptools', 'wheel') if u.find_spec(m)]\n"
        "base = [p for p in os.listdir('/usr/lib/python3/dist-packages') if p.startswith('pip')]\n"
        "import numpy, pandas, sklearn, scipy, joblib, mlship.serving, starlette, uvicorn\n"
        "print(len(tests), tools, base, numpy.__spec__.cached)\n"
    )
    out = docker.containers.run(
        built.result.image, ["python", "-c", script], remove=True, network_disabled=True
    ).decode()
    assert out.split()[:3] == ["0", "[]", "[]"], out
    assert out.strip().endswith("__init__.cpython-311.pyc"), out


def test_the_contract_passes_against_the_image(built: Any, container: Any, cli: Any) -> None:
    url = _wait_ready(container(built.result.image))
    code, out, err = cli("test", str(built.project), "--against", url)
    assert code == 0, out + err
