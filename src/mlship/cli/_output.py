"""Rendering shared by every command: data to stdout, status and progress to stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console

# No emoji codes: user data (log lines, paths, messages) may contain text like ":x:".
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
stdout = Console(highlight=False, soft_wrap=True, emoji=False)

JSON_HELP = "Print the result as JSON on stdout (no colour, no progress)."

# Where `--json` results go: `main()` points this at the real stdout and sends everything else that
# writes to stdout (the project's own prints) to stderr. None: sys.stdout (e.g. under CliRunner).
data_stream: TextIO | None = None


def quiet_mode(json_mode: bool) -> bool:
    """No progress or decoration: --json, CI, or output that is not a terminal."""
    return json_mode or os.environ.get("CI", "").lower() in {"1", "true", "yes"} or not sys.stderr.isatty()


def emit(result: Any, *, json_mode: bool, render: Callable[[Any], None]) -> None:
    data = result.to_dict() if hasattr(result, "to_dict") else result
    if json_mode:
        out = data_stream or sys.stdout
        out.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        out.flush()
    else:
        render(result)


def status(message: str, *, json_mode: bool = False) -> None:
    if not json_mode:
        stderr.print(message)


@contextmanager
def progress(description: str, *, json_mode: bool) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr for long work; in quiet mode, plain lines (or none with --json)."""
    if quiet_mode(json_mode):

        def update(text: str) -> None:
            if not json_mode:
                stderr.print(f"  {text}", markup=False)

        if not json_mode:
            stderr.print(description)
        yield update
        return
    with stderr.status(description) as spinner:
        yield lambda text: spinner.update(f"{description} [dim]{text}[/]")
