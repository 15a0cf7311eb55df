"""`mlship lock`: resolve requirements.txt for the target platform(s) and Python with uv, inside the
policy's release-age window, into hashed lock files that `mlship check` and the image build read.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlship import proc
from mlship.config import Environment
from mlship.deps.index import check_index_url
from mlship.deps.policy import resolve_policy
from mlship.deps.requirements import HEADER_PREFIX, lock_path, project_requirements, read_lock
from mlship.deps.target import uv_platform
from mlship.errors import ProcessError, UnreachableError, UsageError
from mlship.image.dockerfile import base_glibc
from mlship.platforms import ARCH
from mlship.project import Project

# uv retries and times out a slow request itself; this bounds the whole resolution (a stuck index)
LOCK_TIMEOUT = 900.0


@dataclass
class LockResult:
    project: str
    files: list[dict[str, Any]] = field(default_factory=list)
    exclude_newer: str = ""
    index_url: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "files": self.files,
            "exclude_newer": self.exclude_newer,
            "index_url": self.index_url,
            "seconds": round(self.seconds, 3),
        }


def uv_binary() -> str:
    """uv ships as a PyPI wheel (a dependency of mlship); its binary sits beside this interpreter."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        candidate = Path(sys.executable).with_name("uv")
        if candidate.exists():
            return str(candidate)
    raise UsageError("uv is not installed", hint="pip install uv (mlship depends on it)")


def lock(
    *,
    directory: Path,
    policy_file: Path | None = None,
    platforms: list[str] | None = None,
    index_url: str | None = None,
    now: datetime | None = None,
) -> LockResult:
    started = time.perf_counter()
    project = Project.load(directory)
    policy = resolve_policy(project, policy_file)
    req_path, requirements = project_requirements(project.root)
    targets = platforms or policy.platforms
    unknown = [p for p in targets if p not in ARCH]
    if unknown:
        raise UsageError(f"unknown --platform {', '.join(unknown)}", hint=f"use {' or '.join(sorted(ARCH))}")
    # Wheels for the glibc of the base `build` chooses (a jammy CUDA base has 2.35, bookworm 2.36).
    glibc = base_glibc(project, (project.config.environments or {"local": Environment()}).values())
    # An --index-url line in requirements.txt wins over the default index (uv reads it from the file).
    file_index = any(o.startswith(("--index-url", "-i ")) for o in requirements.options)
    index = index_url or policy.index_url or os.environ.get("MLSHIP_INDEX_URL")
    if not index and not file_index:
        index = "https://pypi.org/simple"
    if index:
        check_index_url(index, local_dir_ok=True)
        if Path(index).is_dir():  # a local directory, named from here: uv runs in the project's
            index = str(Path(index).resolve())
    moment = now or datetime.now(timezone.utc)
    # Only releases older than the window are candidates, so a fresh lock passes its own age check.
    cutoff = (moment - timedelta(days=policy.min_age_days)).replace(microsecond=0)
    result = LockResult(
        project.config.name, exclude_newer=cutoff.isoformat().replace("+00:00", "Z"), index_url=index
    )
    for platform in targets:
        out = lock_path(project.root, platform, targets)
        _compile(
            req_path,
            out,
            platform=uv_platform(platform, glibc),
            python=project.config.python,
            index=index,
            cutoff=result.exclude_newer,
            header={
                "python": project.config.python,
                "platform": platform,
                "requirements-sha256": requirements.digest,
                "exclude-newer": result.exclude_newer,
            },
        )
        pins = read_lock(out).pins
        result.files.append(
            {"path": str(out.relative_to(project.root)), "platform": platform, "packages": len(pins)}
        )
    result.seconds = time.perf_counter() - started
    return result


def _compile(
    req: Path,
    out: Path,
    *,
    platform: str,
    python: str,
    index: str | None,
    cutoff: str,
    header: dict[str, str],
) -> None:
    with tempfile.TemporaryDirectory(prefix="mlship-lock-") as tmp:
        produced = Path(tmp) / "lock.txt"
        argv = [
            uv_binary(),
            "pip",
            "compile",
            req.name,
            "--output-file",
            str(produced),
            "--python-platform",
            platform,
            "--python-version",
            python,
            "--generate-hashes",
            *(["--index-url", index] if index else []),
            "--exclude-newer",
            cutoff,
            "--no-header",
            "--quiet",
            "--no-config",
            "--only-binary",
            ":all:",
        ]
        env = {**os.environ, "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(_uv_cache()))}
        # From the project's directory, so the lock's `# via -r requirements.txt` names no path of this
        # checkout: copies of a project lock to the same bytes.
        try:
            done = proc.run(argv, env=env, cwd=req.parent, timeout=LOCK_TIMEOUT, check=False)
        except ProcessError as exc:
            if not exc.timed_out:
                raise
            raise UnreachableError(
                f"locking did not finish in {LOCK_TIMEOUT:g}s: the package index "
                f"{index or 'https://pypi.org/simple'} does not answer",
                hint="check policy.index_url / MLSHIP_INDEX_URL and the network, then lock again",
                details=exc.details,
            ) from None
        if done.returncode != 0:
            output = done.stderr + done.stdout
            git = _unreachable_git(output)
            if git is not None:
                raise git
            if any(
                s in output
                for s in ("Failed to fetch", "error sending request", "Connection refused", "dns error")
            ):
                raise UnreachableError(
                    f"the package index {_failed_index(output) or index} could not be reached",
                    details=output[-2000:],
                    hint="check policy.index_url / MLSHIP_INDEX_URL and the network",
                )
            raise ProcessError.from_process(
                argv[:3],
                done.returncode,
                output,
                hint="no set of versions satisfies requirements.txt within the policy "
                "(release-age window, wheels only, target Python/platform)",
            )
        body = produced.read_text(encoding="utf-8")
    lines = [
        "# Written by `mlship lock`; do not edit. Install with: pip install --require-hashes -r " + out.name,
        HEADER_PREFIX + " " + " ".join(f"{k}={v}" for k, v in header.items()),
    ]
    tmp_out = out.with_suffix(".lock.tmp")
    tmp_out.write_text("\n".join(lines) + "\n" + body, encoding="utf-8")
    tmp_out.replace(out)  # the previous lock stays in place until the new one is complete


_FETCH = re.compile(r"Failed to fetch: `?(?P<url>[a-z]+://[^\s`]+)")


def _failed_index(output: str) -> str | None:
    """The index uv could not read (the main one or an --extra-index-url): the project page it asked
    for is <index>/<project>/."""
    match = _FETCH.search(output)
    return match.group("url").rstrip("/").rsplit("/", 1)[0] if match else None


# What git (through uv) says when it cannot reach a repository's host at all.
_GIT_ACCESS = re.compile(r"unable to access '(?P<url>[^']+)'")
_GIT_UNREACHABLE = (
    "Failed to connect",
    "Couldn't connect",
    "Could not resolve host",
    "Connection refused",
    "Connection timed out",
    "Network is unreachable",
)


def _unreachable_git(output: str) -> UnreachableError | None:
    """A git requirement whose host did not answer: exit 3 naming the host, not a resolution failure."""
    match = _GIT_ACCESS.search(output)
    if "Git operation failed" not in output or match is None:
        return None
    if not any(s in output for s in _GIT_UNREACHABLE):
        return None
    url = match.group("url")
    host = urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1] or url
    fatal = next((line.strip() for line in output.splitlines() if "unable to access" in line), "")
    return UnreachableError(
        f"the git host {host} could not be reached (for git+{url.rstrip('/')} in requirements.txt)",
        details=fatal,
        hint="check the URL and the network, or require a release from the package index instead",
    )


def _uv_cache() -> Path:
    from mlship.deps.index import cache_root

    return cache_root() / "uv"
