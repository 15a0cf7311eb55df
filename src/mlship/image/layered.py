"""The image without a Dockerfile: layers written on the host (`layers.py`), an image config whose
every field is fixed by the inputs, loaded into the engine as a docker-save archive.

The image id is the sha256 of that config, so two builds of the same inputs, on any machine and with
or without a cache, give the same id. Layers the engine already holds are not sent again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlship.errors import BuildError
from mlship.image import layers as lay
from mlship.image.builder import ImageBuilder, LineSink

# Bump when the layout of a layer changes, so cached layer tars are not reused across versions.
FORMAT = "1"
STEPS = 7  # probe the base, five layers, load
LAYERS = 5
PROBE_DIRS = ("/app", "/etc", "/home", "/opt")
# Run once per base image with its own python3: what the layers must agree with.
PROBE = r"""
import json, os, platform, re, site, sys
def stat(p):
    try:
        s = os.stat(p)
    except OSError:
        return None
    return [s.st_mode & 0o7777, s.st_uid, s.st_gid]
tools = []
where = site.getsitepackages() + [p for p in sys.path if p.endswith(("dist-packages", "site-packages"))]
for d in sorted(set(where)):
    if os.path.isdir(d):
        for name in sorted(os.listdir(d)):
            if re.match(TOOLS, name) or name in TOOL_FILES:
                tools.append(os.path.join(d, name))
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2], "version": platform.python_version(),
    "executable": sys.executable, "cache_tag": sys.implementation.cache_tag,
    "passwd": open("/etc/passwd").read(), "group": open("/etc/group").read(),
    "dirs": {p: stat(p) for p in DIRS}, "tools": tools,
}))
"""


@dataclass(frozen=True)
class ImageSpec:
    """What the image is, apart from its files: the same facts the Dockerfile template renders."""

    base: str
    python: str
    venv: str
    site_packages: str
    user: str
    uid: int
    log_dir: str
    env: dict[str, str]
    port: int
    cmd: list[str]
    healthcheck: list[str]
    labels: dict[str, str]
    created: int  # seconds since the epoch: SOURCE_DATE_EPOCH, the commit time, or LAYER_MTIME
    gpu: bool


def usable(python: str) -> bool:
    """The host can compile the image's bytecode only with the same minor version of CPython."""
    return sys.implementation.name == "cpython" and python == "{}.{}".format(*sys.version_info[:2])


def probe_base(builder: ImageBuilder, base: str, cache: Path) -> dict[str, Any]:
    base_id = builder.inspect(base).id
    path = cache / f"probe-{base_id.split(':')[-1][:24]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    given = (
        f"DIRS = {PROBE_DIRS!r}\nTOOLS = {lay.BUILD_TOOLS.pattern!r}\nTOOL_FILES = {lay.BUILD_TOOL_FILES!r}\n"
    )
    output = builder.run_python(base, given + PROBE)
    try:
        facts = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BuildError(f"could not read the base image {base}'s python", details=output[-2000:]) from None
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts, sort_keys=True))
    return facts


Make = Callable[[lay.LayerTar, Path], None]  # writes a layer's entries, given a scratch directory


class LayerCache:
    """Built layer tars by kind and input key under .mlship/build/layers/ (the newest of each kind)."""

    def __init__(self, root: Path, parents: dict[str, tuple[int, ...]], rebuild: bool = False):
        self.root = root
        self.parents = parents
        self.rebuild = rebuild
        self.reused = 0
        root.mkdir(parents=True, exist_ok=True)

    def get(self, kind: str, key: str, make: Make) -> tuple[Path, str]:
        tar_path = self.root / f"{kind}-{key[:32]}.tar"
        id_path = tar_path.with_suffix(".diffid")
        if tar_path.is_file() and id_path.is_file() and not self.rebuild:
            self.reused += 1
            return tar_path, id_path.read_text().strip()
        stage = lay.fresh_stage(self.root / f"stage-{kind}")
        layer = lay.LayerTar(parents=self.parents)  # type: ignore[arg-type]
        try:
            make(layer, stage)
            partial = tar_path.with_suffix(".partial")
            with partial.open("wb") as out:
                diff_id = layer.write(out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        for old in self.root.glob(f"{kind}-*"):
            if old != partial:
                old.unlink()
        partial.replace(tar_path)
        id_path.write_text(diff_id + "\n")
        return tar_path, diff_id


def build(
    *,
    builder: ImageBuilder,
    spec: ImageSpec,
    context: Path,
    state: Path,
    previous_layers: list[str],
    on_line: LineSink,
    notes: list[str],
    nocache: bool = False,
) -> tuple[str, int]:
    """Build the image from the assembled context dir; returns its id (the sha256 of its config)
    and how many of the layers were reused from the layer cache."""
    started = time.perf_counter()
    total = STEPS

    def step(n: int, text: str) -> None:
        on_line(f"[{n}/{total}] {text} ({time.perf_counter() - started:.1f}s)")

    step(1, f"reading the base image {spec.base}")
    facts = probe_base(builder, spec.base, state / "layers")
    if facts["python"] != spec.python:
        raise BuildError(
            f"the base image {spec.base} has python {facts['python']}, mlship.yaml asks for {spec.python}",
            hint="set python: in mlship.yaml to the base's, or choose another base (--base / image.base)",
        )
    cache = LayerCache(state / "layers", {p: tuple(v) for p, v in facts["dirs"].items() if v}, nocache)
    dep_wheels = sorted((context / "wheels" / "deps").glob("*.whl"))
    cuda = [w for w in dep_wheels if not spec.gpu and lay.CUDA_WHEEL.match(_dist(w))]
    if cuda:
        names = ", ".join(_dist(w) for w in cuda)
        notes.append(f"left out of the CPU image (CUDA libraries, for GPU images only): {names}")
        dep_wheels = [w for w in dep_wheels if w not in cuda]
    runtime_wheels = sorted((context / "wheels" / "runtime").glob("*.whl"))
    python = (FORMAT, facts["version"], facts["executable"], spec.venv)
    # (kind, what it is, key of its inputs, how to write it), from least to most often changed.
    plan: list[tuple[str, str, str, Make]] = [
        (
            "system",
            "user and directories",
            _key(FORMAT, facts, spec.uid),
            lambda t, s: _system(t, spec, facts),
        ),
        (
            "deps",
            "dependencies",
            _key(*python, lay.file_digest(dep_wheels)),
            lambda t, s: _venv(t, s, spec, facts, dep_wheels),
        ),
        (
            "runtime",
            "serving runtime",
            _key(*python, lay.file_digest(runtime_wheels), _tree_digest(context / "runtime")),
            lambda t, s: _runtime(t, s, spec, runtime_wheels, context),
        ),
        (
            "model",
            "model",
            _tree_digest(context / "model"),
            lambda t, s: t.add_tree(context / "model", "/app"),
        ),
        (
            "code",
            "code",
            _key(*python, _tree_digest(context / "src")),
            lambda t, s: _code(t, s, context / "src"),
        ),
    ]
    found: list[tuple[Path, str, str]] = []
    for n, (kind, what, key, make) in enumerate(plan, start=2):
        step(n, f"layer: {what}")
        found.append((*cache.get(kind, key, make), what))

    step(7, "loading into the engine")
    base_info = builder.inspect(spec.base)
    diff_ids = [*base_info.layers, *(d for _, d, _ in found)]
    config = image_config(
        spec,
        builder.image_config(spec.base),
        base_info.architecture,
        diff_ids,
        builder.history(spec.base),
        [w for _, _, w in found],
    )
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = "sha256:" + hashlib.sha256(blob).hexdigest()
    present = _shared_prefix(diff_ids, previous_layers, len(base_info.layers))
    try:
        _load(builder, blob, found, diff_ids, present, state)
    except BuildError:
        if present <= len(base_info.layers):
            raise
        _load(builder, blob, found, diff_ids, len(base_info.layers), state)
    step(7, f"loaded {image_id[:19]}")
    return image_id, cache.reused


def _load(
    builder: ImageBuilder, blob: bytes, found: list, diff_ids: list[str], present: int, state: Path
) -> None:  # type: ignore[type-arg]
    """A docker-save archive with the config and the layers the engine lacks (beyond `present`)."""
    config_name = hashlib.sha256(blob).hexdigest() + ".json"
    names = [f"{d.split(':')[-1]}/layer.tar" for d in diff_ids]
    base_count = len(diff_ids) - len(found)
    manifest = json.dumps([{"Config": config_name, "RepoTags": None, "Layers": names}]).encode()
    with tempfile.TemporaryFile(prefix="mlship-load-", dir=state) as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            _add_bytes(tar, config_name, blob)
            for i, (path, _, _) in enumerate(found):
                if base_count + i >= present:
                    tar.add(str(path), arcname=names[base_count + i])
            _add_bytes(tar, "manifest.json", manifest)
        archive.seek(0)
        builder.load(archive)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), lay.LAYER_MTIME, 0o644
    tar.addfile(info, io.BytesIO(data))


def _shared_prefix(ours: list[str], theirs: list[str], floor: int) -> int:
    count = 0
    for a, b in zip(ours, theirs, strict=False):
        if a != b:
            break
        count += 1
    return max(count, floor)


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _dist(wheel: Path) -> str:
    from mlship.image.wheelhouse import wheel_name_version

    return wheel_name_version(wheel)[0]


def _system(layer: lay.LayerTar, spec: ImageSpec, facts: dict[str, Any]) -> None:
    """The non-root user, its home, the log directory; the base's pip/setuptools/wheel hidden."""
    passwd = facts["passwd"].rstrip("\n") + "\n"
    group = facts["group"].rstrip("\n") + "\n"
    if not any(line.split(":")[0] == spec.user for line in passwd.splitlines()):
        passwd += f"{spec.user}:x:{spec.uid}:{spec.uid}::/home/{spec.user}:/usr/sbin/nologin\n"
        group += f"{spec.user}:x:{spec.uid}:\n"
    layer.add_file("/etc/passwd", data=passwd.encode())
    layer.add_file("/etc/group", data=group.encode())
    layer.add_dir(f"/home/{spec.user}", uid=spec.uid, gid=spec.uid)
    layer.add_dir("/app")
    layer.add_dir(spec.log_dir, uid=spec.uid, gid=spec.uid)
    for path in facts["tools"]:
        layer.whiteout(path)


def _venv(
    layer: lay.LayerTar, stage: Path, spec: ImageSpec, facts: dict[str, Any], wheels: list[Path]
) -> None:
    lay.venv_skeleton(
        layer,
        venv=spec.venv,
        python=spec.python,
        base_python=facts["executable"],
        full_version=facts["version"],
    )
    lay.install_wheels(wheels, stage=stage, venv=spec.venv, python=spec.python)
    lay.compile_bytecode(stage, [spec.venv])
    layer.add_tree(stage)


def _runtime(layer: lay.LayerTar, stage: Path, spec: ImageSpec, wheels: list[Path], context: Path) -> None:
    lay.install_wheels(wheels, stage=stage, venv=spec.venv, python=spec.python)
    scripts = stage / spec.venv.lstrip("/") / "bin"
    shutil.rmtree(scripts, ignore_errors=True)  # uvicorn's CLI: the image runs `python -m mlship.serving`
    site = stage / spec.site_packages.lstrip("/")
    shutil.copytree(context / "runtime", site, dirs_exist_ok=True)
    lay.compile_bytecode(stage, [spec.site_packages])
    layer.add_tree(stage)


def _code(layer: lay.LayerTar, stage: Path, src: Path) -> None:
    shutil.copytree(src, stage / "app" / "src")
    lay.compile_bytecode(stage, ["/app/src"])
    layer.add_tree(stage)


def image_config(
    spec: ImageSpec,
    base_config: dict[str, Any],
    architecture: str,
    diff_ids: list[str],
    base_history: list[dict[str, Any]],
    what: list[str],
) -> dict[str, Any]:
    """The image config (OCI/docker v1.2): the base's settings plus ours; every time is `created`."""
    created = datetime.fromtimestamp(spec.created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = list(base_config.get("Env") or [])
    path = next((e.split("=", 1)[1] for e in env if e.startswith("PATH=")), "/usr/local/bin:/usr/bin:/bin")
    ours = {
        "PATH": f"{spec.venv}/bin:{path}",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": f"/home/{spec.user}",
        "PORT": str(spec.port),
        "MLSHIP_LOG_DIR": spec.log_dir,
        **spec.env,
    }
    merged = [e for e in env if e.split("=", 1)[0] not in ours] + [f"{k}={v}" for k, v in ours.items()]
    second = 1_000_000_000
    config = {
        key: base_config[key]
        for key in ("Entrypoint", "WorkingDir", "StopSignal", "Shell", "Volumes")
        if base_config.get(key)
    }
    config.update(
        {
            "Env": merged,
            "User": f"{spec.uid}:{spec.uid}",
            "ExposedPorts": {f"{spec.port}/tcp": {}},
            "Cmd": spec.cmd,
            "Healthcheck": {
                "Test": spec.healthcheck,
                "Interval": 10 * second,
                "Timeout": 3 * second,
                "StartPeriod": 30 * second,
                "Retries": 3,
            },
            "Labels": {**(base_config.get("Labels") or {}), **spec.labels},
        }
    )
    return {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": _history(base_history, len(diff_ids) - len(what))
        + [{"created": created, "created_by": f"mlship: {w}", "comment": "mlship build"} for w in what],
    }


def _history(entries: list[dict[str, Any]], layers: int) -> list[dict[str, Any]]:
    """The base's history, oldest first, with exactly `layers` entries that are not empty."""
    oldest_first = list(reversed(entries))
    out = []
    for e in oldest_first:
        item: dict[str, Any] = {
            "created": datetime.fromtimestamp(int(e.get("Created") or 0), tz=timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "created_by": str(e.get("CreatedBy") or ""),
        }
        if e.get("Comment"):
            item["comment"] = str(e["Comment"])
        if not e.get("Size"):
            item["empty_layer"] = True
        out.append(item)
    if sum(1 for i in out if not i.get("empty_layer")) != layers:
        out = [{"created_by": "base image layer"} for _ in range(layers)]
    return out
