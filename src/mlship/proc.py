"""The one place mlship runs a subprocess: it logs the command, bounds it with a timeout, and turns a
failure, a timeout or a missing program into a ProcessError that keeps the command, status and output.

Callers decide what a failure means (an unreachable index is exit 3, a failed build 4) from that error.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlship.errors import ProcessError

log = logging.getLogger("mlship.proc")


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    check: bool = True,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` to completion (text in and out, both captured).

    A non-zero exit raises ProcessError when `check`; a timeout or a program that cannot start always does.
    """
    argv = [str(a) for a in argv]
    log.debug("run (timeout %gs): %s", timeout, shlex.join(argv))
    try:
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=dict(env) if env is not None else None,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        raise ProcessError.from_process(argv, None, output, timeout=timeout) from None
    except OSError as exc:  # not installed, not executable, a bad cwd
        reason = f"{type(exc).__name__}: {exc}"
        raise ProcessError.from_process(argv, None, reason, start_error=True) from None
    log.debug("exit %s: %s", done.returncode, argv[0])
    if check and done.returncode != 0:
        raise ProcessError.from_process(argv, done.returncode, done.stdout + done.stderr)
    return done


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
