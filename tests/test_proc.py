"""mlship.proc: the one runner of subprocesses keeps a failure's evidence and bounds every run."""

from __future__ import annotations

import logging
import sys

import pytest

from mlship import proc
from mlship.errors import ProcessError
from tests.support import stuck_server


def test_a_failure_keeps_the_command_the_status_and_the_output() -> None:
    argv = [sys.executable, "-c", "import sys; print('partial'); sys.stderr.write('boom'); sys.exit(3)"]
    with pytest.raises(ProcessError) as err:
        proc.run(argv, timeout=30)
    exc = err.value
    assert exc.argv == argv and exc.returncode == 3 and not exc.timed_out
    assert "partial" in exc.output and "boom" in exc.output and "boom" in (exc.details or "")
    assert "exited with 3" in exc.message


def test_check_false_hands_back_the_status() -> None:
    done = proc.run([sys.executable, "-c", "raise SystemExit(1)"], timeout=30, check=False)
    assert done.returncode == 1


def test_a_timeout_is_an_error_that_names_the_command_and_keeps_what_it_printed() -> None:
    argv = [sys.executable, "-u", "-c", "import time; print('started', flush=True); time.sleep(30)"]
    with pytest.raises(ProcessError) as err:
        proc.run(argv, timeout=1.5, check=False)  # a timeout raises whatever `check` says
    exc = err.value
    assert exc.timed_out and exc.returncode is None
    assert "did not finish in 1.5s" in exc.message and "started" in exc.output


def test_a_program_that_is_not_there_is_an_error_not_an_oserror() -> None:
    with pytest.raises(ProcessError) as err:
        proc.run(["mlship-no-such-program-seams13"], timeout=5)
    assert "cannot run" in err.value.message and err.value.returncode is None


def test_every_command_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="mlship.proc"):
        proc.run([sys.executable, "-c", "pass"], timeout=30)
    assert any("-c pass" in r.getMessage() for r in caplog.records)


def test_no_other_module_runs_subprocesses() -> None:
    """One seam: `subprocess` is imported by mlship.proc only (build's `mlship check` call is going away
    with the in-process check)."""
    import ast
    from pathlib import Path

    src = Path(proc.__file__).parent
    found = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if "subprocess" in names:
                found.append(str(path.relative_to(src)))
    allowed = {"proc.py", "image/build.py"}
    assert set(found) <= allowed, sorted(set(found) - allowed)


def test_a_pip_download_from_an_index_that_never_answers_is_exit_3(tmp_path, monkeypatch) -> None:
    """`mlship build` downloads wheels with pip: a stuck index is bounded and is 'unreachable' (3)."""
    from mlship.errors import ExitCode, UnreachableError
    from mlship.image import wheelhouse

    monkeypatch.setattr(wheelhouse, "PIP_TIMEOUT", 3.0)
    with stuck_server() as port:
        url = f"http://127.0.0.1:{port}/simple"
        args = ["--index-url", url, "--timeout", "60", "--dest", str(tmp_path), "demo-seams13==1.0"]
        with pytest.raises(UnreachableError, match="did not finish in 3s") as err:
            wheelhouse._pip_download(args, "demo-seams13")
    assert err.value.exit_code == ExitCode.UNREACHABLE
