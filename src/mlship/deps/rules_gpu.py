"""GPU rules: each environment's GPU need and NVIDIA driver against the CUDA the lock brings, CUDA
libraries in CPU images, mixed CUDA 12/13 libraries, and a compatibility table older than the lock.

The CUDA of each pin comes from the lock's own evidence first (`mlship.deps.gpu.lock_cuda`: nvidia-* and
cuda-toolkit pins, `+cuXYZ` labels, the requirements the wheels declare); the shipped table fills in only
what that evidence cannot tell (the plain PyPI wheel's CUDA when its metadata is not at hand, the
variants a release was published in).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from mlship.deps.context import RuleContext
from mlship.deps.gpu import (
    TORCH_FAMILY,
    CudaFact,
    driver_at_least,
    is_cuda_library,
    lock_cuda,
    lock_wide_cuda,
    mixed_cuda_majors,
    parse_variant,
    requirement_names,
)


@dataclass(frozen=True)
class _Framework:
    dist: str
    framework: str
    version: str
    variant: str
    cuda: str | None  # what it needs on a GPU (None: a CPU build, or not known)
    bundled: bool  # the lock carries CUDA libraries for it (a CPU image would ship them for nothing)
    source: str  # what says so


def _frameworks(ctx: RuleContext, facts: dict[str, CudaFact]) -> list[_Framework]:
    """Every framework pin in the lock, with the CUDA the lock's evidence (or else the table) gives it."""
    assert ctx.lock is not None
    table = ctx.table
    plugins = {name: table.jax_plugin_cuda(name) for name in ctx.lock.pins}
    jax_cuda = next((f"cuda{major}" for major in plugins.values() if major), None)
    whole = lock_wide_cuda(facts)
    out = []
    for pin in ctx.lock.pins.values():
        framework, version, variant = parse_variant(f"{pin.name}=={pin.version}")
        if not framework or pin.name == "jax":
            continue  # jax (pure Python) follows jaxlib; the plugins say which CUDA
        if framework == "jax":
            variant = jax_cuda or "cpu"
        fact = facts.get(pin.name)
        if framework == "jax" and jax_cuda:
            fact = next((facts[p] for p, m in plugins.items() if m and p in facts), fact)
        if variant == "cpu":
            cuda, bundled, source = None, False, "a CPU build"
        elif fact is not None:
            cuda, bundled, source = fact.cuda, True, fact.source
        elif framework == "tensorflow":
            # The plain wheel brings no CUDA libraries; the [and-cuda] extra does, and they are not locked.
            cuda, bundled, source = table.default_cuda(framework, version), False, "the table"
        elif table.knows(framework, version):
            cuda, bundled, source = table.cuda_of(framework, version, variant), True, "the table"
        elif whole is not None:
            cuda, bundled, source = whole.cuda, True, f"the lock's CUDA libraries ({whole.source})"
        else:
            cuda, bundled, source = None, False, ""
        out.append(_Framework(pin.name, framework, version, variant, cuda, bundled, source))
    return out


def _requires_map(ctx: RuleContext) -> dict[str, list[str]]:
    assert ctx.lock is not None
    return {name: [str(r) for r in ctx.requires(name)] for name in ctx.lock.pins}


def check_gpu(ctx: RuleContext) -> None:
    if ctx.lock is None:
        return
    requires = _requires_map(ctx)
    versions = {p.name: p.version for p in ctx.lock.pins.values()}
    facts = lock_cuda(versions, requires)
    frameworks = _frameworks(ctx, facts)
    for env_name, env in ctx.environments.items():
        need = env.gpu if env.gpu is not None else ctx.config.gpu
        needs_gpu = need not in (False, None)
        flagged = set()
        for fw in frameworks:
            if _check_one(ctx, env_name, env.gpu_driver, need, needs_gpu, fw):
                flagged.add(fw.dist)
        if not needs_gpu:
            _cuda_libraries_in_cpu_image(ctx, env_name, requires, flagged)
    _table_age(ctx, frameworks)
    groups = mixed_cuda_majors(versions.items(), requires)
    if len(groups) > 1:
        detail = "; ".join(
            f"CUDA {major}: {', '.join(sorted(names)[:4])}" for major, names in sorted(groups.items())
        )
        ctx.add(
            "mixed-cuda",
            "gpu",
            f"the lock mixes CUDA major versions ({detail})",
            "pin every framework to builds of one CUDA major (all cu12x or all cu13x), then `mlship lock`",
        )


def _cuda_libraries_in_cpu_image(
    ctx: RuleContext, env_name: str, requires: dict[str, list[str]], flagged: set[str]
) -> None:
    """CUDA libraries a CPU image would carry that no already-reported framework build explains."""
    assert ctx.lock is not None
    wanted_by: dict[str, list[str]] = {}
    for parent, reqs in requires.items():
        for child in {_name(r) for r in reqs}:
            wanted_by.setdefault(child, []).append(parent)
    shown = []
    for pin in sorted(ctx.lock.pins.values(), key=lambda p: p.name):
        if not is_cuda_library(pin.name):
            continue
        parents = sorted(wanted_by.get(pin.name, []))
        if (parents and set(parents) & flagged) or (not parents and flagged):
            continue  # the framework's own finding already covers its CUDA libraries
        by = f" (required by {', '.join(parents)})" if parents else ""
        shown.append(f"{pin.name}=={pin.version}{by}")
    if shown:
        more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
        ctx.add(
            "cuda-in-cpu-image",
            "gpu",
            f"CUDA libraries in the lock, but environment {env_name} has no GPU: "
            f"{', '.join(shown[:4])}{more}",
            "they add hundreds of MB no GPU will use: pin a CPU build of what requires them "
            "(e.g. xgboost-cpu), or set gpu in mlship.yaml",
            environment=env_name,
        )


def _name(requirement: str) -> str:
    names = requirement_names([requirement])
    return next(iter(names)) if names else ""


def _table_age(ctx: RuleContext, frameworks: list[_Framework]) -> None:
    """Say when a framework in the lock has releases newer than the table knows (the table has aged)."""
    for framework in sorted({fw.framework for fw in frameworks}):
        known = ctx.table.latest_known(framework)
        if known is None:
            continue
        newest = _newest_release(ctx, [fw for fw in frameworks if fw.framework == framework])
        if newest is not None and _minor_key(newest) > _minor_key(known):
            ctx.add(
                "gpu-table-stale",
                "gpu",
                f"mlship's GPU table {ctx.table.version} stops at {framework} {known}; "
                f"{framework} {newest} is released",
                "regenerate it (scripts/update_gpu_table.py) or upgrade mlship; the lock's own CUDA "
                "evidence is used where it has some",
                package=framework,
            )


def _newest_release(ctx: RuleContext, frameworks: list[_Framework]) -> str | None:
    versions: list[Version] = []
    for fw in frameworks:
        candidates = [fw.version]
        facts = ctx.facts.get(fw.dist)
        if facts is not None:
            candidates += [str(v) for v in facts.releases() if not v.is_prerelease]
        for text in candidates:
            try:
                versions.append(Version(text))
            except InvalidVersion:
                continue
    return str(max(versions)) if versions else None


def _minor_key(version: str) -> tuple[int, int]:
    release = Version(version).release
    return (release[0], release[1] if len(release) > 1 else 0)


def _switch_hint(ctx: RuleContext, dist: str, version: str, variant: str, driver: str) -> str:
    """Pin text for the framework and, for torch, torchvision and torchaudio at the same build.

    jax has no local builds: its [cudaNN] extra picks the plugins, and the locked ones of the other
    CUDA go with the re-lock.
    """
    assert ctx.lock is not None
    if dist in ("jax", "jaxlib"):
        going = sorted(p for p in ctx.lock.pins if ctx.table.jax_plugin_cuda(p) not in (None, variant[4:]))
        tail = f" in place of {', '.join(going)}" if going else ""
        return f"pin jax[{variant}]=={version}{tail} and run `mlship lock` (runs on driver {driver})"
    pins = [f"{dist}=={version}+{variant}"]
    if dist == "torch":
        for companion in TORCH_FAMILY[1:]:
            pin = ctx.lock.pins.get(companion)
            if pin is not None:
                pins.append(f"{companion}=={pin.public_version}+{variant}")
    return f"pin {', '.join(pins)} (runs on driver {driver})"


def _check_one(
    ctx: RuleContext, env_name: str, driver: str | None, need: object, needs_gpu: bool, fw: _Framework
) -> bool:
    """Check one framework pin for one environment; True when a finding was recorded."""
    assert ctx.lock is not None
    table = ctx.table
    dist, framework, version, variant, cuda = fw.dist, fw.framework, fw.version, fw.variant, fw.cuda
    loc = {"package": dist, "version": ctx.lock.pins[dist].version, "environment": env_name}
    label = f"{dist} {version}" + (f"+{variant}" if variant not in ("default",) else "")
    if (
        cuda is None
        and variant != "cpu"
        and not table.knows(framework, version)
        and (needs_gpu or fw.bundled)
    ):
        ctx.unknown(
            "gpu-table-unknown",
            "gpu",
            f"{framework} {version} is not in mlship's GPU table {table.version} and the lock names no "
            "CUDA for it: its CUDA was not checked",
            "regenerate the table (scripts/update_gpu_table.py), upgrade mlship, or pin a +cuXYZ build",
            **loc,
        )
        return True
    if need == "required" and cuda is None:
        ctx.add(
            "gpu-cpu-build",
            "gpu",
            f"{label} is a CPU-only build, but environment {env_name} requires a GPU",
            "pin a CUDA build: one of "
            + ", ".join(v for v in table.variants(framework, version) if v != "cpu"),
            **loc,
        )
        return True
    if not needs_gpu:
        if fw.bundled and cuda is not None:
            ctx.add(
                "cuda-in-cpu-image",
                "gpu",
                f"{label} bundles CUDA {cuda} libraries, but environment {env_name} has no GPU",
                "pin the +cpu build (gigabytes smaller), or set gpu in mlship.yaml",
                **loc,
            )
            return True
        return False
    if cuda is None:
        return False
    how = f" ({fw.source})" if fw.source and fw.source != "the table" else ""
    if driver is None:
        ctx.unknown(
            "gpu-driver-unknown",
            "gpu",
            f"{label} needs CUDA {cuda}{how}; environment {env_name} does not say which NVIDIA driver "
            "it runs",
            f"set environments.{env_name}.gpu_driver (from nvidia-smi)",
            **loc,
        )
        return True
    try:
        floor = table.min_driver(cuda, minor_compat=True)
    except KeyError:
        ctx.unknown(
            "gpu-table-unknown",
            "gpu",
            f"CUDA {cuda} is not in mlship's GPU table {table.version}",
            "upgrade mlship",
            **loc,
        )
        return True
    if not driver_at_least(driver, floor):
        fitting = [
            v
            for v in table.variants(framework, version)
            if (c := table.cuda_of(framework, version, v))
            and driver_at_least(driver, table.min_driver(c, minor_compat=True))
        ]
        hint = (
            _switch_hint(ctx, dist, version, fitting[-1], driver)
            if fitting
            else f"upgrade the hosts' driver to {floor} or newer"
        )
        ctx.add(
            "gpu-driver",
            "gpu",
            f"{label} needs CUDA {cuda}{how}, so NVIDIA driver >= {floor}; "
            f"environment {env_name} has {driver}",
            hint,
            **loc,
        )
        return True
    if "." in cuda and cuda in table.data["cuda"] and not driver_at_least(driver, table.min_driver(cuda)):
        ctx.add(
            "gpu-minor-compat",
            "gpu",
            f"{label} (CUDA {cuda}) runs on driver {driver} through CUDA minor version compatibility only",
            f"driver {table.min_driver(cuda)} or newer also allows PTX JIT of newer kernels",
            **loc,
        )
        return True
    return False
