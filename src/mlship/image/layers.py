"""Image layers written on the host as tar files whose bytes depend only on their content.

Every entry is sorted, owned by fixed ids, and stamped with one fixed mtime; `.pyc` files are
compiled with the paths they have inside the image and unchecked-hash invalidation, so the same
inputs give the same layer digest on any machine, cached or not. Wheels are installed with pypa's
`installer` into a staging tree that is the image's root; test suites are left out, and so are CUDA
libraries in a CPU image.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import sys
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from mlship import proc
from mlship.errors import BuildError, ProcessError

# 1980-01-01: zip-safe, and it never changes, so a commit does not invalidate the dependency layer.
LAYER_MTIME = 315532800
# Test suites inside packages (pandas/tests, numpy/_core/tests, scipy/*/tests, sklearn/*/tests):
# a directory of this name below a top-level package. Nothing imports them to serve.
TEST_DIRS = frozenset({"tests", "test"})
# CUDA user-space libraries as wheels (nvidia-nccl-cu12 from xgboost, nvidia-*-cu12 from torch).
CUDA_WHEEL = re.compile(r"^nvidia-[a-z0-9-]+-cu\d+$")
# The base's packaging tools: nothing in a serving image runs them (the venv never sees them).
BUILD_TOOLS = re.compile(r"^(pip|setuptools|wheel|pkg_resources|_distutils_hack)([-.].*)?$")
BUILD_TOOL_FILES = ("distutils-precedence.pth",)


@dataclass(frozen=True)
class Entry:
    kind: str  # dir, file, symlink
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    source: Path | None = None
    data: bytes | None = None
    target: str = ""


@dataclass
class LayerTar:
    """A layer's entries by path inside the image; `write` gives the tar and its diff id (sha256)."""

    parents: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # the base's (mode, uid, gid)
    entries: dict[str, Entry] = field(default_factory=dict)

    def _parents(self, path: str) -> None:
        parent = PurePosixPath(path).parent
        while str(parent) not in ("/", "."):
            key = str(parent).lstrip("/")
            if key not in self.entries:
                mode, uid, gid = self.parents.get("/" + key, (0o755, 0, 0))
                self.entries[key] = Entry("dir", mode, uid, gid)
            parent = parent.parent

    def add_dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self._parents(path)
        self.entries[path.strip("/")] = Entry("dir", mode, uid, gid)

    def add_file(
        self, path: str, *, data: bytes | None = None, source: Path | None = None, mode: int = 0o644
    ) -> None:
        self._parents(path)
        self.entries[path.lstrip("/")] = Entry("file", mode, source=source, data=data)

    def add_symlink(self, path: str, target: str) -> None:
        self._parents(path)
        self.entries[path.lstrip("/")] = Entry("symlink", 0o777, target=target)

    def whiteout(self, path: str) -> None:
        """Hide a file or directory of a lower layer (the OCI `.wh.` convention)."""
        p = PurePosixPath(path)
        self.add_file(str(p.parent / f".wh.{p.name}"), data=b"")

    def add_tree(self, root: Path, dest: str = "/") -> None:
        """Every directory, file and symlink under `root`, placed under `dest`; modes kept as 0644/0755."""
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            inside = f"{dest.rstrip('/')}/{rel}"
            if path.is_symlink():
                self.add_symlink(inside, os.readlink(path))
            elif path.is_dir():
                self.add_dir(inside)
            else:
                self.add_file(inside, source=path, mode=0o755 if os.access(path, os.X_OK) else 0o644)

    def write(self, out: IO[bytes]) -> str:
        """Write the tar (sorted, fixed owners and mtime, no atime/ctime); returns "sha256:<hex>"."""
        hasher = _HashingWriter(out)
        with tarfile.open(fileobj=hasher, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for name in sorted(self.entries):
                entry = self.entries[name]
                info = tarfile.TarInfo(name)
                info.mtime = LAYER_MTIME
                info.mode, info.uid, info.gid = entry.mode, entry.uid, entry.gid
                if entry.kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif entry.kind == "symlink":
                    info.type, info.linkname = tarfile.SYMTYPE, entry.target
                    tar.addfile(info)
                elif entry.source is not None:
                    info.size = entry.source.stat().st_size
                    with entry.source.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    data = entry.data or b""
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return "sha256:" + hasher.digest.hexdigest()


class _HashingWriter(io.RawIOBase):
    def __init__(self, out: IO[bytes]):
        self.out = out
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.out.write(data)
        return len(data)


def is_test_path(rel: str) -> bool:
    """A file inside a package's test suite (`pkg/tests/...`, `pkg/sub/tests/...`), site-packages-relative."""
    parts = rel.split("/")
    return any(part in TEST_DIRS for part in parts[1:-1])


def install_wheels(
    wheels: Iterable[Path], *, stage: Path, venv: str, python: str, strip_tests: bool = True
) -> int:
    """Install `wheels` into `stage` as if `stage` were `/` and the venv at `venv`; returns files left out."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    site = f"{venv}/lib/python{python}/site-packages"
    schemes = {
        "purelib": site,
        "platlib": site,
        "headers": f"{venv}/include/site/python{python}",
        "scripts": f"{venv}/bin",
        "data": venv,
    }
    skipped: set[str] = set()

    class Lean(SchemeDictionaryDestination):
        def write_file(self, scheme, path, stream, is_executable):  # type: ignore[no-untyped-def]
            rel = os.fspath(path)
            if strip_tests and scheme in ("purelib", "platlib") and is_test_path(rel):
                skipped.add(rel)
                from installer.records import RecordEntry

                return RecordEntry(rel, None, None)
            return super().write_file(scheme, path, stream, is_executable)

        def finalize_installation(self, scheme, record_file_path, records):  # type: ignore[no-untyped-def]
            kept = [(s, r) for s, r in records if r.path not in skipped]
            super().finalize_installation(scheme, record_file_path, kept)

    destination = Lean(
        schemes,
        interpreter=f"{venv}/bin/python",
        script_kind="posix",
        destdir=str(stage),
        overwrite_existing=True,
    )
    for wheel in sorted(wheels):
        try:
            with WheelFile.open(wheel) as source:
                install(source, destination, additional_metadata={"INSTALLER": b"mlship\n"})
        except Exception as exc:  # a broken wheel: name it, whatever installer raised
            raise BuildError(f"cannot install {wheel.name} into the image: {exc}") from None
    return len(skipped)


def compile_bytecode(stage: Path, paths: Iterable[str]) -> None:
    """Compile `.py` under each image path to `.pyc` as the image's python would (this interpreter is
    the same minor version): unchecked-hash, embedded paths the image's own, fixed hash seed."""
    dirs = [str(stage / p.lstrip("/")) for p in paths if (stage / p.lstrip("/")).is_dir()]
    if not dirs:
        return
    argv = [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    argv += ["-s", str(stage), "-p", "/", *dirs]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("SOURCE_DATE_EPOCH", None)
    try:
        done = proc.run(argv, check=False, env=env, timeout=1800)
    except ProcessError as exc:
        message = f"compiling the image's bytecode failed: {exc.message}"
        raise BuildError(message, details=exc.details) from None
    # compileall exits 1 when a file does not compile (py2-only test data in some wheels): those
    # files stay without .pyc, as pip would leave them; anything else is a failure.
    if done.returncode not in (0, 1):
        raise BuildError("compiling the image's bytecode failed", details=(done.stdout + done.stderr)[-3000:])


def venv_skeleton(layer: LayerTar, *, venv: str, python: str, base_python: str, full_version: str) -> None:
    """What `python -m venv --without-pip` writes, for the base's interpreter."""
    layer.add_dir(venv)
    layer.add_file(
        f"{venv}/pyvenv.cfg",
        data=(
            f"home = {PurePosixPath(base_python).parent}\n"
            "include-system-site-packages = false\n"
            f"version = {full_version}\n"
        ).encode(),
    )
    layer.add_symlink(f"{venv}/bin/python", base_python)
    layer.add_symlink(f"{venv}/bin/python3", "python")
    layer.add_symlink(f"{venv}/bin/python{python}", "python")
    layer.add_dir(f"{venv}/include")
    layer.add_dir(f"{venv}/lib/python{python}/site-packages")
    layer.add_symlink(f"{venv}/lib64", "lib")


def fresh_stage(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def file_digest(paths: Iterable[Path]) -> str:
    """sha256 over the names and bytes of files: the key under which a built layer is reused."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
