"""The project's declared requirements (requirements.txt) and its lock (requirements.lock, pip/uv format
with hashes and a header that records the target and the requirements it was made from).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from mlship.errors import InputError

REQUIREMENTS_FILE = "requirements.txt"
LOCK_FILE = "requirements.lock"
HEADER_PREFIX = "# mlship-lock:"


def lock_path(root: Path, platform: str, platforms: list[str]) -> Path:
    """The first target platform's lock is requirements.lock; others get requirements.<platform>.lock."""
    if not platforms or platform == platforms[0]:
        return root / LOCK_FILE
    return root / f"requirements.{platform}.lock"


@dataclass(frozen=True)
class Declared:
    requirement: Requirement
    source: str  # "requirements.txt:3"

    @property
    def name(self) -> str:
        return canonical(self.requirement.name)


@dataclass
class Requirements:
    items: list[Declared]
    options: list[str]  # --index-url / --extra-index-url lines, passed on to the resolver
    digest: str  # sha256 of the files' contents: the lock records it to notice drift

    def names(self) -> set[str]:
        return {d.name for d in self.items}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]
    marker: str | None
    line: int
    source: str = ""  # "requirements.txt:3" for a pin read from requirements.txt (no lock)

    @property
    def public_version(self) -> str:
        return self.version.split("+", 1)[0]


@dataclass
class Lock:
    path: Path
    pins: dict[str, Pin]
    header: dict[str, str] = field(default_factory=dict)
    # `name @ git+https://host/repo@<commit>`: pinned by its URL, not on an index, not hashable by pip.
    direct: dict[str, str] = field(default_factory=dict)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(root: Path) -> tuple[Path, Requirements]:
    """The project's requirements.txt and what it declares; an InputError when there is none."""
    path = root / REQUIREMENTS_FILE
    if not path.is_file():
        raise InputError(f"no {REQUIREMENTS_FILE} in {root}", hint="list what the model needs, one per line")
    return path, read_requirements(path)


def read_requirements(path: Path, *, _seen: set[Path] | None = None) -> Requirements:
    """Parse a requirements file (following -r includes); each bad line names file:line."""
    seen = _seen if _seen is not None else set()
    path = path.resolve()
    if path in seen:
        return Requirements([], [], "")
    seen.add(path)
    try:
        text = read_text(path)
    except OSError as exc:
        raise InputError(f"cannot read {path.name}: {exc.strerror}", hint="create requirements.txt") from None
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not UTF-8 text", hint=_HINT) from None
    items: list[Declared] = []
    options: list[str] = []
    digest = hashlib.sha256(text.encode())
    for number, line in logical_lines(text):
        where = f"{path.name}:{number}"
        if line.startswith(("-r ", "--requirement ")):
            nested = read_requirements(path.parent / line.split(None, 1)[1], _seen=seen)
            items += nested.items
            options += nested.options
            digest.update(nested.digest.encode())
        elif line.startswith(("--index-url", "-i ", "--extra-index-url", "--find-links", "-f ")):
            options.append(line)
        elif line.startswith("-"):
            raise InputError(f"{where}: mlship cannot lock the option {line.split()[0]!r}", hint=_HINT)
        elif _VCS_RE.match(line):
            items.append(_vcs_requirement(line, where))
        else:
            try:
                items.append(Declared(Requirement(line), where))
            except InvalidRequirement as exc:
                raise InputError(f"{where}: not a requirement ({exc})", hint=_HINT) from None
    return Requirements(items, options, digest.hexdigest())


# pip's bare VCS requirement lines: `git+https://host/repo.git@ref#egg=name` (uv reads them too).
_VCS_RE = re.compile(r"^(git|hg|svn|bzr)\+[a-z]+://", re.IGNORECASE)


def _vcs_requirement(line: str, where: str) -> Declared:
    """A bare VCS URL as `name @ URL`: the name from its `#egg=` fragment, else the repository's."""
    url = line.split(None, 1)[0]
    egg = re.search(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)", url)
    path = url.split("#", 1)[0].split("://", 1)[1].split("/", 1)[-1].split("@", 1)[0]
    name = egg.group(1) if egg else re.sub(r"\.git$", "", path.rstrip("/").rsplit("/", 1)[-1])
    try:
        return Declared(Requirement(f"{name} @ {url}"), where)
    except InvalidRequirement as exc:
        raise InputError(f"{where}: not a requirement ({exc})", hint=_HINT) from None


def requirement_pins(requirements: Requirements, path: Path) -> Lock:
    """Without a lock, what the index rules can still check: each declared requirement, with its
    version where it pins one exactly (`pandas==2.2.3`), else only its name (is it on the index?)."""
    pins: dict[str, Pin] = {}
    for item in requirements.items:
        if item.requirement.url:
            continue  # `name @ git+https://...`: it comes from its URL, not from the index
        specs = list(item.requirement.specifier)
        exact = specs[0].version if len(specs) == 1 and specs[0].operator in ("==", "===") else ""
        version = "" if "*" in exact else exact
        marker = str(item.requirement.marker) if item.requirement.marker else None
        line = int(item.source.rsplit(":", 1)[1]) if ":" in item.source else 0
        pins.setdefault(item.name, Pin(item.name, version, (), marker, line, item.source))
    return Lock(path, pins, {})


def lock_stale(lock: Lock, requirements: Requirements) -> bool:
    """requirements.txt changed since the lock was made (the digest its header records differs)."""
    made_from = lock.header.get("requirements-sha256")
    return bool(made_from) and made_from != requirements.digest


_LOCK_HINT = "every line of a lock is `name==version --hash=sha256:...`; run `mlship lock`"
_HINT = "one PEP 508 requirement per line, e.g. `pandas>=2.0`; local paths and -e are not lockable"


def read_text(path: Path) -> str:
    """UTF-8, or UTF-8/UTF-16 with a byte-order mark (PowerShell's `pip freeze >`), as pip reads it."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, logical line): backslash continuations joined, comments dropped."""
    lines, buffer, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            lines.append((start, buffer.strip()))
        buffer = ""
    return lines


_PIN_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*(?P<version>[^\s;\\]+)")


_DIRECT_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*@\s*(?P<url>[^\s;]+)")


def read_lock(path: Path) -> Lock:
    """Parse a lock written by `mlship lock` (or any hashed `name==version` requirements file)."""
    try:
        text = read_text(path)
    except OSError as exc:
        raise InputError(f"cannot read {path.name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not UTF-8 text", hint=_LOCK_HINT) from None
    header: dict[str, str] = {}
    pins: dict[str, Pin] = {}
    direct: dict[str, str] = {}
    for raw in text.splitlines():
        if raw.startswith(HEADER_PREFIX):
            for item in raw[len(HEADER_PREFIX) :].split():
                key, _, value = item.partition("=")
                header[key] = value
    for number, line in logical_lines(text):
        if line.startswith("-"):
            continue
        url = _DIRECT_RE.match(line)
        if url:
            direct[canonical(url.group("name"))] = url.group("url")
            continue
        match = _PIN_RE.match(line)
        if not match:
            raise InputError(
                f"{path.name}:{number}: not a pinned requirement ({line.split()[0]})",
                hint=_LOCK_HINT,
            )
        hashes = tuple(h.split(":", 1)[1] for h in re.findall(r"--hash=(\S+)", line) if ":" in h)
        marker = line.split(";", 1)[1].split("--hash")[0].strip() if ";" in line else None
        name = canonical(match.group("name"))
        pins[name] = Pin(name, match.group("version"), hashes, marker, number)
    return Lock(path, pins, header, direct)
