"""Real wheels from PyPI (downloaded once with pip into ~/.cache/mlship-test-wheels), served by the local
index: uv locks them and the check maps their modules from the wheels' own file lists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlship.deps.check import check
from mlship.deps.lock import lock

from .localindex import IndexProcess, build_tree
from .test_rules import make_project

REAL = ["six==1.17.0", "python-dateutil==2.9.0.post0", "pyyaml==6.0.2"]
WHEELS = Path(os.environ.get("MLSHIP_TEST_WHEELS", Path.home() / ".cache" / "mlship-test-wheels"))


@pytest.fixture(scope="module")
def real_wheels() -> list[Path]:
    WHEELS.mkdir(parents=True, exist_ok=True)
    found = sorted(WHEELS.glob("*.whl"))
    if len(found) < len(REAL):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--python-version",
                "3.11",
                "--platform",
                "manylinux_2_17_x86_64",
                "--dest",
                str(WHEELS),
                *REAL,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"cannot download the real test wheels from PyPI:\n{proc.stderr[-1500:]}")
            pytest.skip("PyPI is not reachable for the one-time download of the real test wheels")
        found = sorted(WHEELS.glob("*.whl"))
    return found


def test_real_wheels_lock_and_map_modules(tmp_path: Path, real_wheels: list[Path]) -> None:
    tree = build_tree(tmp_path / "index", [], real_files=[(w, 200) for w in real_wheels])
    server = IndexProcess(tree)
    try:
        # dateutil comes from python-dateutil, yaml from PyYAML: only the wheels' RECORDs say so here.
        root = make_project(
            tmp_path / "p",
            server.url,
            "python-dateutil>=2.8\nPyYAML>=6\n",
            "import dateutil.parser\nimport yaml\nimport six\n",
        )
        result = lock(directory=root)
        text = (root / "requirements.lock").read_text()
        assert "python-dateutil==2.9.0.post0" in text and "six==1.17.0" in text and "pyyaml==6.0.2" in text
        assert result.files[0]["packages"] == 3
        findings = check(directory=root).findings
    finally:
        server.stop()
    assert [(f.code, f.package) for f in findings] == [("transitive-only-import", "six")]
