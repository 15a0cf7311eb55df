"""The build context: only what the image needs, no secrets, and a tar whose bytes depend only on content.

Layout (under `.mlship/build/context/`, readable by an engineer; `docker build` works on it by hand):
  Dockerfile  wheels/deps/  wheels/runtime/  runtime/mlship/  model/{runtime.json,artifacts/}  src/
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from mlship.errors import BuildError, InputError

# Names that hold credentials far more often than not.
SECRET_NAMES = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    "_netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    ".htpasswd",
    "credentials",
    "credentials.json",
    "credentials.db",
    "application_default_credentials.json",
    "service-account*.json",
    "*-sa-key.json",
    "kubeconfig",
    "secrets.yaml",
    "secrets.yml",
    "secrets.json",
    "secrets.toml",
    "*.tfvars",
    "terraform.tfstate",
)
# Directories of cloud and tool configuration (their contents are credentials).
SECRET_DIRS = (".aws", ".azure", ".gcloud", ".kube", ".docker", ".ssh", ".gnupg", ".config/gcloud")
SAFE_NAMES = (".env.example", ".env.sample", ".env.template", ".env.dist")
# Content that is a secret whatever the file is called (read from small files only).
SECRET_CONTENT = re.compile(
    rb"-----BEGIN (?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
    rb"|\bAKIA[0-9A-Z]{16}\b"
    rb'|"type"\s*:\s*"service_account"'
)
SNIFF_BYTES = 64 * 1024
# Never part of the image: caches, notebooks' checkpoints, editor and OS droppings.
ALWAYS_EXCLUDED = ("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", ".DS_Store", "*.egg-info", ".git")
FILE_MODE, EXEC_MODE, DIR_MODE = 0o644, 0o755, 0o755


def _excluded(rel: str, patterns: Iterable[str]) -> bool:
    parts = rel.split("/")
    return any(
        fnmatch.fnmatch(rel, pat) or any(fnmatch.fnmatch(part, pat) for part in parts) for pat in patterns
    )


def walk(root: Path, exclude: Iterable[str] = ()) -> Iterator[Path]:
    """Files under root, sorted, minus the excluded patterns (matched on the path and on each part)."""
    patterns = (*ALWAYS_EXCLUDED, *exclude)
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if _excluded(rel, patterns):
            continue
        if path.is_file() or (path.is_symlink() and not path.exists()):
            yield path


def looks_secret(path: Path, rel: str) -> str | None:
    """Why a file looks like a secret, or None."""
    name = path.name
    if name.lower() in SAFE_NAMES:
        return None
    if any(fnmatch.fnmatch(name, pat) for pat in SECRET_NAMES):
        return "its name is a credential file's"
    lowered = "/" + rel.lower()
    if any(f"/{d}/" in lowered for d in SECRET_DIRS):
        return "it sits in a credentials directory"
    try:
        if path.is_file() and path.stat().st_size <= 10 * 1024 * 1024:
            with path.open("rb") as handle:
                if SECRET_CONTENT.search(handle.read(SNIFF_BYTES)):
                    return "its content looks like a private key or cloud credential"
    except OSError:
        return None
    return None


def refuse_secrets(trees: dict[str, tuple[Path, tuple[str, ...]]], project_root: Path) -> None:
    """Raise naming every file of the would-be context that looks like a secret."""
    found = []
    for _, (root, exclude) in trees.items():
        if not root.is_dir():
            continue
        for path in walk(root, exclude):
            reason = looks_secret(path, path.relative_to(root).as_posix())
            if reason:
                found.append(f"{_display(path, project_root)} ({reason})")
    if found:
        listing = "\n".join(f"  {f}" for f in found)
        raise InputError(
            f"refusing to build: {len(found)} file(s) that look like secrets "
            f"would go into the image:\n{listing}",
            hint="move them out of the source and artifact directories (pass secrets at run time), "
            "or list them under image.exclude in mlship.yaml",
        )


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def copy_tree(src: Path, dest: Path, exclude: Iterable[str] = ()) -> int:
    """Copy the files of src into dest (hard links where the filesystem allows); returns bytes."""
    total = 0
    for path in walk(src, exclude):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            raise InputError(f"{path} is a symbolic link", hint="the image takes regular files only")
        link_or_copy(path, target)
        total += path.stat().st_size
    return total


def link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def serving_package_files(package: Path | None = None) -> list[tuple[Path, str]]:
    """(file, path inside the image's site-packages) of mlship's serving runtime: the package root
    `mlship/__init__.py` and `mlship/serving/`, nothing of the CLI. `package`: the installed mlship."""
    import mlship

    root = package or Path(mlship.__file__).resolve().parent
    serving = root / "serving"
    if not (serving / "__main__.py").is_file():
        # The image's CMD is `python -m mlship.serving`: without it the container could never start.
        raise BuildError(
            f"this mlship has no serving entry point ({serving}/__main__.py)",
            hint="install a complete mlship (the serving runtime ships with it) and build again",
        )
    files = [(root / "__init__.py", "mlship/__init__.py")]
    for path in walk(serving):
        files.append((path, f"mlship/serving/{path.relative_to(serving).as_posix()}"))
    return files


def write_runtime_package(context: Path) -> None:
    runtime = context / "runtime"
    shutil.rmtree(runtime, ignore_errors=True)
    for path, rel in serving_package_files():
        target = runtime / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _normalize(info: tarfile.TarInfo, mtime: int) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = mtime
    if info.isdir():
        info.mode = DIR_MODE
    elif info.isfile():
        info.mode = EXEC_MODE if info.mode & 0o111 else FILE_MODE
    return info


def tar_context(context: Path, out: IO[bytes], *, mtime: int) -> None:
    """Write the context as a tar with fixed owners, modes and mtimes: the same files give the same
    bytes, so COPY layers come out identical from build to build and machine to machine."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(context.rglob("*")):
            rel = path.relative_to(context).as_posix()
            info = _normalize(tar.gettarinfo(str(path), arcname=rel), mtime)
            if info.isfile():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    out.seek(0)
