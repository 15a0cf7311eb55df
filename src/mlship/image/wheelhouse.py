"""The wheelhouse: binary wheels for the image's platform and Python, fetched on the host with pip.

Wheels are cached in a shared directory (`MLSHIP_WHEELHOUSE`, else `.mlship/wheelhouse/`) and copied
into the build context from there without the network when the cache already holds them, so a second
build (or an air-gapped one with a pre-filled cache) needs no index at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mlship import platforms, proc
from mlship.deps.requirements import canonical
from mlship.errors import BuildError, ProcessError, UnreachableError
from mlship.image.requirements import Requirement

OLDEST_GLIBC = 17  # manylinux2014 == manylinux_2_17
# What the serving runtime imports besides the standard library (pandas: Pipeline.predict_records).
RUNTIME_FALLBACK = ("starlette>=0.37", "uvicorn>=0.29", "prometheus-client>=0.20", "msgspec>=0.18")
RUNTIME_ALWAYS = ("pandas>=2.0",)
# pip retries a slow socket by itself; this bounds the whole download (CUDA wheels are gigabytes)
PIP_TIMEOUT = 3600.0
_OFFLINE_MISSES = ("No matching distribution", "Could not find a version", "ResolutionImpossible")
_NETWORK_ERRORS = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Could not fetch URL",
    "ConnectTimeoutError",
    "Network is unreachable",
)


@dataclass(frozen=True)
class WheelTarget:
    """The platform and interpreter the wheels must fit."""

    platform: str  # linux/amd64
    python: str  # 3.11
    glibc: int = 36  # the base image's glibc minor (bookworm: 2.36)

    @property
    def arch(self) -> str:
        return platforms.arch(self.platform)

    @property
    def key(self) -> str:
        return f"{self.arch}-cp{self.python.replace('.', '')}-glibc2.{self.glibc}"

    def pip_args(self) -> list[str]:
        """pip's target options: every manylinux tag the base's glibc runs, newest first."""
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        args += ["--abi", f"cp{self.python.replace('.', '')}"]
        for minor in range(self.glibc, OLDEST_GLIBC - 1, -1):
            args += ["--platform", f"manylinux_2_{minor}_{self.arch}"]
        args += ["--platform", f"manylinux2014_{self.arch}"]
        return args


def cache_dir(project_state: Path, target: WheelTarget) -> Path:
    root = Path(os.environ["MLSHIP_WHEELHOUSE"]) if os.environ.get("MLSHIP_WHEELHOUSE") else project_state
    path = (root if os.environ.get("MLSHIP_WHEELHOUSE") else root / "wheelhouse") / target.key
    path.mkdir(parents=True, exist_ok=True)
    return path


def runtime_requirements() -> list[str]:
    """The serving runtime's own requirements: mlship's `serve` extra, plus pandas."""
    from mlship import DISTRIBUTION

    declared: list[str] = []
    for name in (DISTRIBUTION, "mlship"):  # "mlship": a checkout installed before the rename
        try:
            declared = metadata.requires(name) or []
            break
        except metadata.PackageNotFoundError:
            continue
    serve = [r.split(";")[0].strip() for r in declared if re.search(r"extra\s*==\s*['\"]serve['\"]", r)]
    return [*(serve or RUNTIME_FALLBACK), *RUNTIME_ALWAYS]


def installed_pins(requirements: list[Requirement]) -> list[str]:
    """`name==version` of each unpinned requirement as installed here, where the model was trained.

    Without a lock, the image would otherwise get whatever is newest on the index, which may not
    load the artifacts this environment wrote.
    """
    pins = []
    for req in requirements:
        if req.version or not req.name:
            continue
        try:
            pins.append(f"{req.name}=={metadata.version(req.name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def wheel_name_version(path: Path) -> tuple[str, str]:
    from packaging.utils import parse_wheel_filename

    name, version, _, _ = parse_wheel_filename(path.name)
    return canonical(str(name)), str(version)


def _pip_download(args: list[str], what: str, command: str = "download") -> tuple[int, str]:
    argv = [sys.executable, "-m", "pip", command, "--disable-pip-version-check", "--no-input", *args]
    try:
        done = proc.run(argv, timeout=PIP_TIMEOUT, check=False, env={**os.environ, "PIP_NO_INPUT": "1"})
    except ProcessError as exc:
        if not exc.timed_out:
            message = f"cannot run pip to download the wheels for {what}"
            raise BuildError(message, details=exc.details) from None
        raise UnreachableError(
            f"downloading the wheels for {what} did not finish in {PIP_TIMEOUT:g}s: "
            "the package index does not answer",
            hint="retry when the index answers, or pre-fill MLSHIP_WHEELHOUSE",
            details=exc.details,
        ) from None
    return done.returncode, done.stdout + done.stderr


def _fail(output: str, what: str, target: WheelTarget) -> Exception:
    tail = "\n".join(output.strip().splitlines()[-15:])
    if any(marker in output for marker in _NETWORK_ERRORS):
        return UnreachableError(
            f"cannot download the wheels for {what}: the package index is unreachable",
            hint="build on a connected machine once (the wheels are cached), or pre-fill MLSHIP_WHEELHOUSE",
            details=tail,
        )
    if any(marker in output for marker in _OFFLINE_MISSES):
        return BuildError(
            f"no binary wheel for {what} fits {target.platform} / python {target.python}",
            hint="pin versions that publish manylinux wheels for the target (`mlship lock`), "
            "or choose another --platform",
            details=tail,
        )
    return BuildError(f"pip could not prepare the wheels for {what}", details=tail)


def fetch(
    requirements: list[str],
    *,
    dest: Path,
    cache: Path,
    target: WheelTarget,
    what: str,
    index_args: list[str] = (),  # type: ignore[assignment]
    constraints: Path | None = None,
) -> list[Path]:
    """Copy the wheels of `requirements` (and their dependencies) into `dest`, from the cache when it can.

    Returns the wheel files now in `dest`. The index is asked only for what the cache lacks.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return []
    with tempfile.TemporaryDirectory(prefix="mlship-reqs-") as tmp:
        req_file = Path(tmp) / "requirements.txt"
        req_file.write_text("\n".join(requirements) + "\n")
        common = [*target.pip_args(), "-r", str(req_file)]
        if constraints is not None:
            common += ["-c", str(constraints)]
        offline = ["--no-index", "--find-links", str(cache), "-d", str(dest), *common]
        code, output = _pip_download(offline, what)
        if code != 0:
            if not any(marker in output for marker in _OFFLINE_MISSES):
                raise _fail(output, what, target)
            online = ["--find-links", str(cache), "-d", str(cache), *index_args, *common]
            code, output = _pip_download(online, what)
            if code != 0:
                raise _fail(output, what, target)
            code, output = _pip_download(offline, what)
            if code != 0:
                raise _fail(output, what, target)
    return sorted(dest.glob("*.whl"))


def is_direct(req: Requirement) -> bool:
    """`name @ git+https://...@<commit>` (or any URL): built from its source, not fetched from an index."""
    return not req.version and " @ " in req.text.split(";")[0]


def build_direct(
    requirements: list[Requirement], *, dest: Path, cache: Path, target: WheelTarget
) -> list[Path]:
    """Wheels for the lock's direct URL pins (a git commit), built once on the host and cached.

    pip cannot hash a repository, so these lines stay out of the hashed install; the commit in the
    URL is what pins them. Only pure-Python wheels are platform-independent enough to build here.
    """
    out = []
    for req in requirements:
        text = req.text.split(";")[0].strip()
        keep = cache / "direct" / hashlib.sha256(text.encode()).hexdigest()[:16]
        if not list(keep.glob("*.whl")):
            with tempfile.TemporaryDirectory(prefix="mlship-direct-") as tmp:
                code, output = _pip_download(["--no-deps", "-w", tmp, text], text, command="wheel")
                if code != 0:
                    raise _fail(output, req.name or text, target)
                keep.mkdir(parents=True, exist_ok=True)
                for wheel in Path(tmp).glob("*.whl"):
                    shutil.move(str(wheel), keep / wheel.name)
        for wheel in sorted(keep.glob("*.whl")):
            if not wheel.name.endswith("-none-any.whl"):
                raise BuildError(
                    f"{req.name or text} (from its URL) builds a platform wheel here ({wheel.name}), "
                    f"which may not run on {target.platform} / python {target.python}",
                    hint="publish a wheel for it to an index and pin that version, "
                    "or vendor it into the project's code",
                )
            shutil.copy2(wheel, dest / wheel.name)
            out.append(dest / wheel.name)
    return out


def prepare(
    deps: list[Requirement],
    *,
    context: Path,
    cache: Path,
    target: WheelTarget,
    index_args: list[str],
    training_pins: list[str] = (),  # type: ignore[assignment]
) -> tuple[list[Path], list[Path]]:
    """Fill `context/wheels/deps` (the locked closure) and `context/wheels/runtime` (what only serving adds).

    The runtime is resolved under constraints pinning the project's own closure, so the two agree
    and the runtime layer never replaces a package the model was trained with.
    """
    wheels = context / "wheels"
    direct = [r for r in deps if is_direct(r)]
    indexed = [r for r in deps if not is_direct(r)]
    hashed = any(r.hashes for r in indexed)
    lines = [r.line(with_hashes=hashed) for r in indexed] + [f"direct: {r.text}" for r in direct]
    # The same inputs as last time: the wheels already in the context are the answer (no pip run).
    key = hashlib.sha256(
        json.dumps([lines, target.key, index_args, list(training_pins), runtime_requirements()]).encode()
    ).hexdigest()
    stamp = wheels / "inputs.sha256"
    if stamp.is_file() and stamp.read_text().strip() == key:
        return sorted((wheels / "deps").glob("*.whl")), sorted((wheels / "runtime").glob("*.whl"))
    shutil.rmtree(wheels, ignore_errors=True)
    trained_with = None
    if training_pins:
        trained_with = wheels / "trained-with.txt"
        trained_with.parent.mkdir(parents=True, exist_ok=True)
        trained_with.write_text("".join(f"{pin}\n" for pin in training_pins))
    dep_wheels = fetch(
        [r.line(with_hashes=hashed) for r in indexed],
        dest=wheels / "deps",
        cache=cache,
        target=target,
        what="the locked dependencies",
        index_args=index_args,
        constraints=trained_with,
    )
    if direct:
        (wheels / "deps").mkdir(parents=True, exist_ok=True)
        built = build_direct(direct, dest=wheels / "deps", cache=cache, target=target)
        dep_wheels = sorted(dep_wheels + built)
    if trained_with is not None:
        trained_with.unlink()
    pins = sorted(wheel_name_version(w) for w in dep_wheels)
    (wheels / "deps" / "requirements.txt").write_text("".join(f"{n}=={v}\n" for n, v in pins))
    constraints = wheels / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in pins))
    scratch = wheels / "runtime-all"
    all_runtime = fetch(
        runtime_requirements(),
        dest=scratch,
        cache=cache,
        target=target,
        what="the serving runtime",
        index_args=index_args,
        constraints=constraints,
    )
    have = {n for n, _ in pins}
    runtime_dir = wheels / "runtime"
    runtime_dir.mkdir(parents=True, exist_ok=True)
    for wheel in all_runtime:
        if wheel_name_version(wheel)[0] not in have:
            shutil.move(str(wheel), runtime_dir / wheel.name)
    shutil.rmtree(scratch)
    constraints.unlink()
    stamp.write_text(key + "\n")
    return dep_wheels, sorted(runtime_dir.glob("*.whl"))
