"""The CLI surface of `mlship check` / `mlship lock`: the documented --json shape and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import MLSHIP, run_mlship, stuck_server

# docs/deps.md documents this shape; changing it is a breaking change for CI users.
TOP_KEYS = [
    "schema",
    "project",
    "ok",
    "exit_code",
    "summary",
    "target",
    "index",
    "policy",
    "gpu_table",
    "checked",
    "findings",
    "seconds",
]
FINDING_KEYS = [
    "code",
    "check",
    "severity",
    "status",
    "message",
    "hint",
    "package",
    "version",
    "environment",
    "where",
]
SUMMARY_KEYS = ["error", "warning", "info", "unknown"]
INDEX_KEYS = [
    "url",
    "extra_urls",
    "advisory_url",
    "offline",
    "requests",
    "failed_requests",
    "cache_hits",
    "cache_dir",
]
CHECKED_KEYS = ["requirements", "lock", "pins", "imports", "environments"]
TARGET_KEYS = ["python", "platforms", "glibc"]


def test_json_shape_is_pinned(seeded_project: Path) -> None:
    result = run_mlship("check", str(seeded_project), "--json", timeout=300)
    data = json.loads(result.stdout)
    assert list(data) == TOP_KEYS
    assert data["schema"] == "mlship.check/1"
    assert list(data["summary"]) == SUMMARY_KEYS
    assert list(data["index"]) == INDEX_KEYS
    assert list(data["checked"]) == CHECKED_KEYS
    assert list(data["target"]) == TARGET_KEYS
    assert data["findings"] and all(list(f) == FINDING_KEYS for f in data["findings"])
    assert {f["severity"] for f in data["findings"]} <= {"error", "warning", "info"}
    assert {f["status"] for f in data["findings"]} <= {"fail", "unknown"}
    assert data["summary"] == {"error": 6, "warning": 1, "info": 0, "unknown": 0}


def test_human_output_and_exit_code_through_the_real_entry_point(seeded_project: Path) -> None:
    proc = run_mlship("check", str(seeded_project), timeout=60)
    assert proc.returncode == 1
    assert "yankpkg" in proc.stdout and "bleeding" not in proc.stderr
    assert "failed" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_errors_exit_2(seeded_project: Path, tmp_path: Path) -> None:
    proc = run_mlship("check", str(seeded_project), "--env", "nope", timeout=60)
    assert proc.returncode == 2 and "unknown environment" in proc.stderr
    proc = run_mlship("check", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "mlship.yaml" in proc.stderr


def test_lock_against_an_unreachable_index_exits_3(example_project: Path) -> None:
    index = "http://127.0.0.1:9/simple"
    env = {**os.environ, "UV_HTTP_RETRIES": "0"}
    proc = run_mlship("lock", str(example_project), "--index-url", index, timeout=120, env=env)
    assert proc.returncode == 3, proc.stderr
    assert not (example_project / "requirements.lock").exists()


def test_lock_against_an_index_that_never_answers_exits_3(
    example_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stuck index (accepts the connection, never answers) is bounded by mlship's timeout and is exit 3,
    not a hang and not an internal error (70)."""
    from mlship.cli import main
    from mlship.deps import lock

    monkeypatch.setattr(lock, "LOCK_TIMEOUT", 3.0)
    monkeypatch.setenv("UV_HTTP_TIMEOUT", "60")
    with stuck_server() as port, pytest.raises(SystemExit) as exited:
        main(["lock", str(example_project), "--index-url", f"http://127.0.0.1:{port}/simple"])
    assert exited.value.code == 3
    assert "did not finish in 3s" in capsys.readouterr().err
    assert not (example_project / "requirements.lock").exists()


def test_ctrl_c_prints_one_line_and_exits_130(example_project: Path) -> None:
    """SIGINT while `mlship lock` waits on a stuck index: one line on stderr, exit 130, with --json one
    error object on stdout, and no lock written."""
    import signal
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    url = f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    argv = [*MLSHIP, "lock", str(example_project), "--index-url", url, "--json"]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        server.settimeout(1)
        while time.monotonic() < deadline:  # wait until uv is asking the index
            try:
                conn, _ = server.accept()
                break
            except TimeoutError:
                continue
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        conn.close()
    finally:
        server.close()
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err
    assert json.loads(out)["kind"] == "interrupted"
    assert not (example_project / "requirements.lock").exists()
