"""GPU rules: the framework build (cpu, cu126, cu130, ...) against each environment's GPU need and
NVIDIA driver, and mixed CUDA 12/13 libraries, all from the shipped compatibility table.
"""

from __future__ import annotations

from mlship.deps.context import Context
from mlship.deps.gpu import driver_at_least, mixed_cuda_majors, parse_variant


def _framework_pins(ctx: Context) -> list[tuple[str, str, str, str]]:
    """(distribution, framework, version, variant) for every framework pin in the lock."""
    assert ctx.lock is not None
    out = []
    plugins = {name: ctx.table.jax_plugin_cuda(name) for name in ctx.lock.pins}
    jax_cuda = next((f"cuda{major}" for major in plugins.values() if major), None)
    for pin in ctx.lock.pins.values():
        framework, version, variant = parse_variant(f"{pin.name}=={pin.version}")
        if not framework or pin.name == "jax":
            continue  # jax (pure Python) follows jaxlib; the plugins say which CUDA
        if framework == "jax":
            variant = jax_cuda or "cpu"
        out.append((pin.name, framework, version, variant))
    return out


def check_gpu(ctx: Context) -> None:
    if ctx.lock is None:
        return
    pins = _framework_pins(ctx)
    for env_name, env in ctx.environments.items():
        need = env.gpu if env.gpu is not None else ctx.config.gpu
        needs_gpu = need not in (False, None)
        for dist, framework, version, variant in pins:
            _check_one(ctx, env_name, env.gpu_driver, need, needs_gpu, dist, framework, version, variant)
    groups = mixed_cuda_majors((p.name, p.version) for p in ctx.lock.pins.values())
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


def _check_one(
    ctx: Context,
    env_name: str,
    driver: str | None,
    need: object,
    needs_gpu: bool,
    dist: str,
    framework: str,
    version: str,
    variant: str,
) -> None:
    table = ctx.table
    pinned = ctx.lock.pins[dist].version if ctx.lock else version
    loc = {"package": dist, "version": pinned, "environment": env_name}
    if not table.knows(framework, version) and (needs_gpu or variant != "cpu"):
        ctx.unknown(
            "gpu-table-unknown",
            "gpu",
            f"{framework} {version} is not in mlship's GPU table {table.version}: its CUDA was not checked",
            "upgrade mlship for a newer table, or pin a release the table knows",
            **loc,
        )
        return
    cuda = table.cuda_of(framework, version, variant)
    label = f"{dist} {version}" + (f"+{variant}" if variant not in ("default",) else "")
    if need == "required" and cuda is None:
        ctx.add(
            "gpu-cpu-build",
            "gpu",
            f"{label} is a CPU-only build, but environment {env_name} requires a GPU",
            "pin a CUDA build: one of "
            + ", ".join(v for v in table.variants(framework, version) if v != "cpu"),
            **loc,
        )
        return
    if not needs_gpu:
        if cuda is not None:
            ctx.add(
                "cuda-in-cpu-image",
                "gpu",
                f"{label} bundles CUDA {cuda} libraries, but environment {env_name} has no GPU",
                "pin the +cpu build (gigabytes smaller), or set gpu in mlship.yaml",
                **loc,
            )
        return
    if cuda is None:
        return
    if driver is None:
        ctx.unknown(
            "gpu-driver-unknown",
            "gpu",
            f"{label} needs CUDA {cuda}; environment {env_name} does not say which NVIDIA driver it runs",
            f"set environments.{env_name}.gpu_driver (from nvidia-smi)",
            **loc,
        )
        return
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
        return
    if not driver_at_least(driver, floor):
        fitting = [
            v
            for v in table.variants(framework, version)
            if (c := table.cuda_of(framework, version, v))
            and driver_at_least(driver, table.min_driver(c, minor_compat=True))
        ]
        hint = (
            f"pin {dist}=={version}+{fitting[-1]} (runs on driver {driver})"
            if fitting
            else f"upgrade the hosts' driver to {floor} or newer"
        )
        ctx.add(
            "gpu-driver",
            "gpu",
            f"{label} needs CUDA {cuda}, so NVIDIA driver >= {floor}; environment {env_name} has {driver}",
            hint,
            **loc,
        )
        return
    if "." in cuda and not driver_at_least(driver, table.min_driver(cuda)):
        ctx.add(
            "gpu-minor-compat",
            "gpu",
            f"{label} (CUDA {cuda}) runs on driver {driver} through CUDA minor version compatibility only",
            f"driver {table.min_driver(cuda)} or newer also allows PTX JIT of newer kernels",
            **loc,
        )
