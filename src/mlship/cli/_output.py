"""Rendering shared by every command: data to stdout, status and progress to stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console

# No emoji codes: user data (log lines, paths, messages) may contain text like ":x:".
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
stdout = Console(highlight=False, soft_wrap=True, emoji=False)

JSON_HELP = "Print the result as JSON on stdout (no colour, no progress)."

# Where `--json` results go: `main()` points this at the real stdout and sends everything else that
# writes to stdout (the project's own prints) to stderr. None: sys.stdout (e.g. under CliRunner).
data_stream: TextIO | None = None
# Whether this command already printed its --json result: a failure after it (a check that found
# problems) is told by that result, not by a second JSON document.
emitted = False


def quiet_mode(json_mode: bool) -> bool:
    """No progress or decoration: --json, CI, or output that is not a terminal."""
    return json_mode or os.environ.get("CI", "").lower() in {"1", "true", "yes"} or not sys.stderr.isatty()


def emit(result: Any, *, json_mode: bool, render: Callable[[Any], None]) -> None:
    global emitted
    data = result.to_dict() if hasattr(result, "to_dict") else result
    if json_mode:
        emitted = True
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


@dataclass(frozen=True)
class Column:
    """A table column. `keep`: never wrapped nor dropped (a URL, a date or digest to copy whole);
    `drop`: dropped when the table does not fit, highest first (0: never)."""

    header: str
    keep: bool = False
    drop: int = 0


def fit_table(columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, width: int) -> Any:
    """A rich Table that fits `width`: cells wrap between words (folded only when the terminal is
    narrower than one word), `keep` columns stay whole, and the least useful columns are left out
    until each column has room for its longest word."""
    from rich.table import Table
    from rich.text import Text

    rows = [list(r) for r in rows]

    def plain(cell: Any) -> str:
        return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain

    def room(i: int) -> int:  # the narrowest the column can be without breaking a word (or a kept cell)
        cells = [plain(row[i]) for row in rows]
        if columns[i].keep:
            return max(len(columns[i].header), *(len(c) for c in cells))
        return max(len(w) for text in [columns[i].header, *cells] for w in text.split() or [""])

    shown = list(range(len(columns)))
    while True:
        needed = sum(room(i) for i in shown) + 3 * len(shown) + 1  # a border and two spaces per column
        droppable = [i for i in shown if columns[i].drop]
        if needed <= width or not droppable:
            break
        shown.remove(max(droppable, key=lambda i: columns[i].drop))
    fits = needed <= width
    table = Table()
    for i in shown:
        col = columns[i]
        table.add_column(col.header, no_wrap=col.keep, overflow="fold", min_width=room(i) if fits else None)
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table
