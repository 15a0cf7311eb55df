"""The serving package stands alone: the image installs it without the CLI's dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ["typer", "rich", "pydantic", "docker", "yaml", "jinja2", "nbconvert", "cookiecutter"]


def test_serving_imports_nothing_of_the_cli() -> None:
    code = (
        "import sys, json\n"
        "import mlship.serving.__main__, mlship.serving.server, mlship.serving.app\n"
        "from mlship.serving.server import run\n"
        f"mods = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}"
        " or (m.startswith('mlship.') and not m.startswith('mlship.serving'))]\n"
        "print(json.dumps(sorted(mods)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []


def test_entry_point_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlship.serving", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for option in ("--spec", "--host", "--port", "--workers", "--log-dir"):
        assert option in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "mlship.serving"], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "--spec" in missing.stderr
