"""The project's pinned requirements, read from its lock file (or requirements.txt) as logical lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mlship.errors import InputError

# Looked for in this order: `mlship lock` writes the first; a hand-kept requirements.txt is the fallback.
LOCK_FILES = ("requirements.lock", "requirements.txt")
_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """One logical requirement line: the requirement text and its `--hash` options, kept apart."""

    text: str
    hashes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        match = _NAME_RE.match(self.text)
        return normalize(match.group(1)) if match else ""

    @property
    def version(self) -> str:
        """The pinned version (`==X`), or "" for a range."""
        match = re.search(r"===?\s*([^;\s,]+)", self.text)
        return match.group(1) if match else ""

    def line(self, *, with_hashes: bool = True) -> str:
        if with_hashes and self.hashes:
            return " ".join([self.text, *(f"--hash={h}" for h in self.hashes)])
        return self.text


@dataclass
class LockFile:
    path: Path | None
    requirements: list[Requirement] = field(default_factory=list)
    options: list[str] = field(default_factory=list)  # e.g. --index-url lines, passed to pip download

    @property
    def hashed(self) -> bool:
        return any(r.hashes for r in self.requirements)


def find_lock(root: Path) -> Path | None:
    for name in LOCK_FILES:
        if (root / name).is_file():
            return root / name
    return None


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations and drop comments (pip's own rules, simplified)."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def parse_lock(text: str, path: Path | None = None) -> LockFile:
    lock = LockFile(path)
    where = path.name if path else "requirements"
    for line in _logical_lines(text):
        if line.startswith(("-r", "--requirement", "-c", "--constraint", "-e", "--editable")):
            raise InputError(
                f"{where}: `{line.split()[0]}` is not supported in the image's requirements",
                hint="list the packages themselves, or run `mlship lock` to write a complete lock",
            )
        if line.startswith("-"):
            lock.options.extend(line.split())
            continue
        parts = line.split()
        hashes = tuple(p.split("=", 1)[1] for p in parts if p.startswith("--hash="))
        text_part = " ".join(p for p in parts if not p.startswith("--hash="))
        lock.requirements.append(Requirement(text_part, hashes))
    return lock


def read_lock(root: Path) -> LockFile:
    """The lock file's requirements; an empty lock when the project has neither file."""
    path = find_lock(root)
    if path is None:
        return LockFile(None)
    try:
        return parse_lock(path.read_text(encoding="utf-8"), path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
