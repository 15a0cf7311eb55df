"""schemathesis against the real runtime's own /openapi.json: no 5xx, and the server accepts what
the document allows and refuses what it does not (statuses, headers, bodies as documented)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlship.serving.pipeline import RuntimeSpec

from .conftest import spec_with, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

CONFIG = Path(__file__).with_name("schemathesis.toml")


LENIENT = """
# Lenient mode also: the template's preprocess refuses numbers past 1e12 (422), which the
# published schema cannot know (ranges are not enforced outside strict mode).
[[operations]]
include-path = "/predict"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]
"""


def fuzz(url: str, tmp_path: Path, seconds: int, config: Path) -> subprocess.CompletedProcess[str]:
    """Every phase and every check, a few dozen examples per operation, bounded in time twice."""
    st = Path(sys.executable).with_name("st")
    argv = [str(st), "--config-file", str(config), "--no-color", "run", f"{url}/openapi.json"]
    argv += ["--checks", "all", "--max-examples", "25", "--max-time", str(seconds), "--workers", "1"]
    argv += ["--request-timeout", "10", "--seed", "17", "--report", "junit"]
    argv += ["--report-dir", str(tmp_path / "report")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, cwd=tmp_path)


def _lenient_config(tmp_path: Path) -> Path:
    path = tmp_path / "schemathesis.toml"
    path.write_text(CONFIG.read_text() + LENIENT)
    return path


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_schemathesis_finds_nothing(
    spec: RuntimeSpec, server_factory: Any, tmp_path: Path, strict: bool
) -> None:
    # Strict: the contract schema is the API. Lenient (the default): numbers as text are read too.
    served = spec_with(spec, tmp_path / "log", strict_schema=strict, max_body_bytes=65536)
    server = server_factory(served)
    wait_ready(server.url, server.process)
    config = CONFIG if strict else _lenient_config(tmp_path)
    result = fuzz(server.url, tmp_path, seconds=45, config=config)
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "failures" not in summary.splitlines()[-1] and "error" not in summary.splitlines()[-1], summary
    assert " passed" in summary
    assert server.process.poll() is None  # the server lived through it
