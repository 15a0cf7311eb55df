"""`mlship build`'s core: project -> checked, GPU-aware build context -> image on the engine -> result."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlship import labels as L
from mlship import proc
from mlship.engine import check_image_ref
from mlship.errors import CheckFailed, ProcessError, UnreachableError, UsageError
from mlship.image import context as ctx
from mlship.image import dockerfile, layered, layers, wheelhouse
from mlship.image.builder import BuildLog, ImageBuilder, LineSink, default_builder
from mlship.image.gpu import GpuPlan, plan_gpu
from mlship.image.requirements import build_lock
from mlship.platforms import PLATFORMS
from mlship.project import Project, runtime_spec

# Every file in the context gets this mtime, so layers depend on content only (1980-01-01, zip-safe).
LAYER_MTIME = layers.LAYER_MTIME
APP = "/app"
BUILDER_ENV = "MLSHIP_BUILDER"


@dataclass
class BuildResult:
    image: str
    image_id: str
    digest: str | None
    size: int
    platform: str
    base: dict[str, Any]
    gpu: dict[str, Any]
    labels: dict[str, str]
    layers: list[str]
    steps: int
    cached_steps: int
    seconds: float
    dockerfile: str
    context: str
    wheels: dict[str, int]
    builder: str
    pushed: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_image(
    *,
    directory: Path | str = ".",
    env: str | None = None,
    tag: str | None = None,
    platform: str | None = None,
    gpu: bool | None = None,
    base: str | None = None,
    push: bool = False,
    skip_check: bool = False,
    nocache: bool = False,
    locking: str = "as-is",
    builder: ImageBuilder | None = None,
    on_line: LineSink = lambda line: None,
) -> BuildResult:
    started = time.perf_counter()
    project = Project.load(directory)
    cfg = project.config
    environment = cfg.environment(env or "local")
    # Options are checked before the (long) check and build, not when the image is tagged at the end.
    if tag is not None:
        check_image_ref(tag, "--tag")
    if platform is not None and platform not in PLATFORMS:
        raise UsageError(f"unsupported --platform {platform!r}", hint="use " + " or ".join(PLATFORMS))
    if not project.artifact_sha256:
        raise UsageError(
            f"no trained model in {cfg.artifacts}/: the image serves the trained artifacts",
            hint="run `mlship train` first",
        )
    locked_here = ensure_lock(project, locking, on_line)
    if not skip_check:
        run_check(project.root, on_line)
    else:
        locked_here += unchecked_lock_notes(project, on_line)
    builder = builder or default_builder()
    platform_built = platform or engine_platform(builder)
    lock = build_lock(project, platform_built)
    plan = plan_gpu(
        lock.requirements,
        project_gpu=cfg.gpu,
        env_gpu=environment.gpu,
        flag=gpu,
        driver=environment.gpu_driver,
    )
    choice = dockerfile.choose_base(python=cfg.python, plan=plan, flag=base, config_base=cfg.image.base)
    trees = {
        "src": (project.source_dir, tuple(cfg.image.exclude)),
        "artifacts": (project.artifact_dir, tuple(cfg.image.exclude)),
    }
    ctx.refuse_secrets(trees, project.root)
    if not builder.has_image(choice.image):
        on_line(f"Pulling the base image {choice.image} ({choice.source})")
        builder.pull(choice.image, platform, on_line)
    target = wheelhouse.WheelTarget(platform_built, cfg.python, choice.glibc)
    on_line(f"Preparing wheels for {target.platform} / python {target.python}")
    context_dir, counts = assemble(project, plan, target, lock.options)
    image_labels = make_labels(project, plan, choice, context_dir, lock.path)
    log = BuildLog()
    reused = 0
    if layered_build(cfg, choice):
        spec = layered.ImageSpec(
            base=choice.image,
            python=cfg.python,
            venv=dockerfile.VENV,
            site_packages=f"{dockerfile.VENV}/lib/python{cfg.python}/site-packages",
            user=dockerfile.USER,
            uid=dockerfile.UID,
            log_dir=dockerfile.LOG_DIR,
            env=dict(sorted(plan.env.items())),
            port=cfg.serving.port,
            cmd=dockerfile.CMD,
            healthcheck=["CMD", *dockerfile.healthcheck(cfg.serving.port)],
            labels=image_labels,
            created=source_epoch(project.root),
            gpu=plan.gpu,
        )
        previous = [] if nocache else _previous_layers(project, builder)
        image_id, reused = layered.build(
            builder=builder,
            spec=spec,
            context=context_dir,
            state=project.state_dir / "build",
            previous_layers=previous,
            on_line=on_line,
            notes=plan.notes,
            nocache=nocache,
        )
        steps = layered.LAYERS
    else:
        write_dockerfile(project, context_dir, plan, choice, counts, image_labels)
        network = "default" if (cfg.image.system_packages or choice.system_cuda) else "none"
        with tempfile.TemporaryFile(prefix="mlship-context-", dir=project.state_dir) as tar:
            ctx.tar_context(context_dir, tar, mtime=LAYER_MTIME)
            image_id = builder.build(
                tar,
                labels={},  # they are in the Dockerfile's last instruction
                platform=platform,
                network=network,
                nocache=nocache,
                on_line=on_line,
                log=log,
            )
        steps, reused = len(log.steps), len(log.cached)
    ref = tag or default_tag(cfg.name, cfg.version, project.artifact_sha256, environment.registry)
    builder.tag(image_id, ref)
    info = builder.inspect(image_id)
    digest = None
    if push:
        if not names_registry(ref):
            raise UsageError(
                f"cannot push {ref}: it names no registry",
                hint="pass --env with a registry (environments.<env>.registry) or --tag REGISTRY/NAME:TAG",
            )
        on_line(f"Pushing {ref}")
        digest = f"{ref.rsplit(':', 1)[0]}@{builder.push(ref, on_line)}"
    result = BuildResult(
        image=ref,
        image_id=info.id,
        digest=digest,
        size=info.size,
        platform=target.platform,
        base=choice.to_dict(),
        gpu=plan.to_dict(),
        labels=image_labels,
        layers=info.layers,
        steps=steps,
        cached_steps=reused,
        seconds=round(time.perf_counter() - started, 2),
        dockerfile=str(project.state_dir / "build" / "Dockerfile"),
        context=str(context_dir),
        wheels=counts,
        builder="mlship-layers" if layered_build(cfg, choice) else builder.name,
        pushed=push,
        notes=[*locked_here, *plan.notes],
    )
    ctx.write_json(project.last_build_file, result.to_dict())
    return result


def ensure_lock(project: Project, mode: str, on_line: LineSink) -> list[str]:
    """Without a requirements.lock: `auto` locks requirements.txt (as `mlship lock`, and says so),
    `require` refuses (CI's `--locked`), `as-is` builds from requirements.txt. Returns notes."""
    from mlship.deps.requirements import REQUIREMENTS_FILE

    if mode == "as-is" or (project.root / "requirements.lock").is_file():
        return []
    if mode == "require":
        raise CheckFailed(
            "there is no requirements.lock (--locked)",
            hint="run `mlship lock` and commit requirements.lock, or build without --locked to lock now",
        )
    if not (project.root / REQUIREMENTS_FILE).is_file():
        return []
    from mlship.deps.lock import lock

    on_line("No requirements.lock: locking requirements.txt (as `mlship lock` does)")
    result = lock(directory=project.root)
    written = ", ".join(f["path"] for f in result.files)
    on_line(f"Wrote {written}: commit it, so that the next build and CI use the same pins")
    return [f"there was no requirements.lock: locked requirements.txt into {written} (commit it)"]


def unchecked_lock_notes(project: Project, on_line: LineSink) -> list[str]:
    """With --skip-check, the one thing still worth saying for free: the lock is older than
    requirements.txt, so the image installs pins that no longer match what the project asks for."""
    from mlship.deps.requirements import (
        LOCK_FILE,
        REQUIREMENTS_FILE,
        lock_stale,
        read_lock,
        read_requirements,
    )

    lock_file, req_file = project.root / LOCK_FILE, project.root / REQUIREMENTS_FILE
    if not (lock_file.is_file() and req_file.is_file()):
        return []
    if not lock_stale(read_lock(lock_file), read_requirements(req_file)):
        return []
    note = (
        f"{REQUIREMENTS_FILE} changed since {LOCK_FILE} was made: the image has the lock's pins, "
        "not what requirements.txt asks for (run `mlship lock`)"
    )
    on_line("Note: " + note)
    return [note]


def layered_build(cfg: Any, choice: dockerfile.BaseChoice) -> bool:
    """Layers written by mlship (reproducible to the byte, fast) unless the image needs a RUN step
    (apt for system packages or a system-CUDA base), the host python cannot compile the image's
    bytecode, or MLSHIP_BUILDER=dockerfile asks for the classic Dockerfile build."""
    if os.environ.get(BUILDER_ENV, "").strip().lower() in ("dockerfile", "classic"):
        return False
    return not (cfg.image.system_packages or choice.system_cuda) and layered.usable(cfg.python)


def _previous_layers(project: Project, builder: ImageBuilder) -> list[str]:
    """The layers of the last image built here, when the engine still has it (not sent again)."""
    try:
        last = json.loads(project.last_build_file.read_text())
        if builder.has_image(last["image_id"]):
            return list(builder.inspect(last["image_id"]).layers)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return []


def assemble(
    project: Project, plan: GpuPlan, target: wheelhouse.WheelTarget, index_options: list[str]
) -> tuple[Path, dict[str, int]]:
    """Write the build context under .mlship/build/context (all but the Dockerfile)."""
    cfg = project.config
    build_dir = project.state_dir / "build"
    context_dir = build_dir / "context"
    for sub in ("model", "src", "runtime"):
        shutil.rmtree(context_dir / sub, ignore_errors=True)
    context_dir.mkdir(parents=True, exist_ok=True)
    cache = wheelhouse.cache_dir(project.state_dir, target)
    pins = wheelhouse.installed_pins(plan.requirements)
    deps, runtime = wheelhouse.prepare(
        plan.requirements,
        context=context_dir,
        cache=cache,
        target=target,
        index_args=[*index_options, *plan.pip_args],
        training_pins=pins,
    )
    if pins:
        plan.notes.append("no lock pins: unpinned requirements follow this environment's installed versions")
    ctx.write_runtime_package(context_dir)
    ctx.copy_tree(project.artifact_dir, context_dir / "model" / "artifacts", cfg.image.exclude)
    ctx.copy_tree(project.source_dir, context_dir / "src", cfg.image.exclude)
    ctx.write_json(context_dir / "model" / "runtime.json", image_runtime_spec(project))
    return context_dir, {"deps": len(deps), "runtime": len(runtime)}


def write_dockerfile(
    project: Project,
    context_dir: Path,
    plan: GpuPlan,
    choice: dockerfile.BaseChoice,
    counts: dict[str, int],
    labels: dict[str, str],
) -> None:
    """The Dockerfile, into the context and beside it (.mlship/build/Dockerfile) for people to read."""
    cfg = project.config
    text = dockerfile.render(
        name=cfg.name,
        version=cfg.version,
        python=cfg.python,
        base=choice,
        plan=plan,
        port=cfg.serving.port,
        mtime=LAYER_MTIME,
        system_packages=list(cfg.image.system_packages),
        has_deps=counts["deps"] > 0,
        has_runtime_wheels=counts["runtime"] > 0,
        labels=labels,
    )
    (context_dir / "Dockerfile").write_text(text)
    (context_dir.parent / "Dockerfile").write_text(text)


def image_runtime_spec(project: Project) -> dict[str, Any]:
    """runtime.json for the image: the project's spec with paths valid inside the container."""
    cfg = project.config
    data = runtime_spec(project).to_dict()
    data["source_dir"] = f"{APP}/src"
    data["artifact_dir"] = f"{APP}/artifacts"
    logging = cfg.logging.model_dump(mode="json")
    logging["path"] = dockerfile.LOG_DIR
    data["extra"] = {
        "logging": logging,
        "serving": cfg.serving.model_dump(mode="json"),
        "contract_schema": {k: v.model_dump(mode="json") for k, v in cfg.contract.schema_.items()},
    }
    return data


def make_labels(
    project: Project, plan: GpuPlan, choice: dockerfile.BaseChoice, context_dir: Path, lock_path: Path | None
) -> dict[str, str]:
    cfg = project.config
    lock_bytes = (
        lock_path.read_bytes() if lock_path else (context_dir / "wheels/deps/requirements.txt").read_bytes()
    )
    revision, source = git_facts(project.root)
    labels = {
        "org.opencontainers.image.title": cfg.name,
        "org.opencontainers.image.description": cfg.description,
        "org.opencontainers.image.version": cfg.version,
        "org.opencontainers.image.created": created_timestamp(project.root),
        # The git remote; never a local path, which would make copies of a project differ.
        "org.opencontainers.image.source": source or "",
        "org.opencontainers.image.revision": revision or "",
        "org.opencontainers.image.base.name": choice.image,
        L.PROJECT: cfg.name,
        L.VERSION: cfg.version,
        L.MODEL_SHA256: project.artifact_sha256 or "",
        L.LOCK_SHA256: hashlib.sha256(lock_bytes).hexdigest(),
        L.GPU: "true" if plan.gpu else "false",
        L.MIN_DRIVER: plan.min_driver or "",
        L.CUDA: plan.cuda or "",
    }
    return labels


def source_epoch(root: Path) -> int:
    """The image's one time: SOURCE_DATE_EPOCH when set, else the project's last commit, else the
    fixed layer time -- never the clock, so the same inputs give the same image id."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return int(epoch)
        except ValueError:
            raise UsageError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds") from None
    committed = _git(root, "log", "-1", "--format=%ct")
    return int(committed) if committed and committed.isdigit() else LAYER_MTIME


def created_timestamp(root: Path) -> str:
    """RFC 3339 UTC of `source_epoch`."""
    return datetime.fromtimestamp(source_epoch(root), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_facts(root: Path) -> tuple[str | None, str | None]:
    """(HEAD commit, origin URL) of the project's git repository, when it is one; '-dirty' marks changes."""

    revision = _git(root, "rev-parse", "HEAD")
    if revision and _git(root, "status", "--porcelain", "--untracked-files=no"):
        revision += "-dirty"
    return revision, _git(root, "config", "--get", "remote.origin.url")


def _git(root: Path, *args: str) -> str | None:
    try:
        done = proc.run(["git", "-C", str(root), *args], timeout=10, check=False)
    except ProcessError:  # no git, or a stuck one: the labels go without it
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def default_tag(name: str, version: str, model_sha: str | None, registry: str) -> str:
    """NAME:VERSION-MODEL12, under the environment's registry when it has one: a retrain is a new tag."""
    tag = f"{name}:{version}-{(model_sha or 'untrained')[:12]}"
    return f"{registry.rstrip('/')}/{tag}" if registry else tag


def names_registry(ref: str) -> bool:
    """Whether the reference starts with a registry host (docker's rule: a '.' or ':' or 'localhost')."""
    first, sep, _ = ref.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def engine_platform(builder: ImageBuilder) -> str:
    arch = getattr(builder, "engine_arch", lambda: "amd64")()
    return f"linux/{arch}"


def run_check(root: Path, on_line: LineSink) -> None:
    """The dependency check (`mlship check`'s core, in-process); refuse to build when it fails."""
    from mlship.deps.check import check

    on_line("Running mlship check")
    result = check(directory=root)
    if result.exit_code == 0:
        return
    lines = [f"{f.severity} {f.code}: {f.message}" for f in result.findings[:20]]
    summary = "\n".join(lines) or None
    if result.exit_code == 3:
        raise UnreachableError(
            "`mlship check` could not reach what it needs (exit 3); not building",
            hint="build offline with --skip-check, or retry when the index is reachable",
            details=summary,
        )
    raise CheckFailed(
        f"`mlship check` found problems (exit {result.exit_code}); not building",
        hint="fix them (see `mlship check`), or build anyway with --skip-check",
        details=summary,
    )
