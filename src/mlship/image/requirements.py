"""The project's pinned requirements, read from its lock file (or requirements.txt) as logical lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship.deps.requirements import canonical, logical_lines
from mlship.errors import InputError, UsageError

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Requirement:
    """One logical requirement line: the requirement text and its `--hash` options, kept apart."""

    text: str
    hashes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        match = _NAME_RE.match(self.text)
        return canonical(match.group(1)) if match else ""

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


def parse_lock(text: str, path: Path | None = None) -> LockFile:
    lock = LockFile(path)
    where = path.name if path else "requirements"
    for _, line in logical_lines(text):
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


def build_lock(project: Any, platform: str) -> LockFile:
    """What `build` installs for `platform` (either spelling): the lock `mlship lock` wrote for that
    platform (requirements.lock for policy.platforms' first, requirements.<platform>.lock for the
    others), else requirements.txt when the project has no lock at all; an empty lock with neither."""
    from mlship.deps.policy import resolve_policy
    from mlship.deps.requirements import LOCK_FILE, REQUIREMENTS_FILE, lock_path
    from mlship.platforms import wheel_platform

    wanted = wheel_platform(platform)
    platforms = resolve_policy(project).platforms
    path = lock_path(project.root, wanted, platforms)
    if not path.is_file():
        if (project.root / LOCK_FILE).is_file():
            raise UsageError(
                f"no lock for {wanted}: {path.name} is missing (the project's locks are for "
                f"{', '.join(platforms)})",
                hint=f"add {wanted} to policy.platforms in mlship.yaml and run `mlship lock`",
            )
        path = project.root / REQUIREMENTS_FILE
        if not path.is_file():
            return LockFile(None)
    return read_requirements_file(path)


def read_requirements_file(path: Path) -> LockFile:
    """A lock or requirements file as the image installs it: requirement lines and pip options."""
    from mlship.deps.requirements import read_text

    try:
        return parse_lock(read_text(path), path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
