"""Files mlship writes where the user said (--output, --junit, --report): checked before the work,
written whole or not at all, and every file-system refusal reported as the user's input problem.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from mlship.errors import InputError, UsageError


def check_target(path: Path, option: str) -> None:
    """Refuse a target that can never be written, before any work is done for it."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a directory", hint="give a file name")
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise InputError(f"cannot write {option} {path}: {blocker} is a file, not a directory")


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is a file (so nothing can be created under it)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def write_whole(path: Path, write: Callable[[Path], object], option: str) -> Path:
    """`write(tmp)` next to the target, then rename over it: a failed write never leaves half a file,
    and an existing file is only replaced by a complete one."""
    check_target(path, option)
    # A name of our own (not mkstemp's 0600 file): the output gets the umask's permissions.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write {option} {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str, option: str) -> Path:
    return write_whole(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), option)
