"""GPU or CPU image: pick framework wheel variants, the CUDA source and the driver floor from the table.

The facts (variants per release, CUDA per variant, driver floors) come from `mlship.deps.gpu`'s
compatibility table, the same one `mlship check` uses; this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mlship.deps.gpu import (
    TORCH_FAMILY,
    GpuTable,
    is_cuda_library,
    load_table,
    lock_cuda,
    lock_wide_cuda,
    parse_variant,
)
from mlship.errors import UsageError
from mlship.image.requirements import Requirement

TORCH_INDEX = "https://download.pytorch.org/whl/{variant}"
# tensorflow's pip-installed CUDA libraries (the [and-cuda] extra) exist from 2.14 on.
TF_AND_CUDA_SINCE = (2, 14)
NVIDIA_CAPABILITIES = "compute,utility"


@dataclass
class GpuPlan:
    """What the image needs for the GPU decision: rewritten requirements, pip options, env and labels."""

    gpu: bool
    reason: str
    requirements: list[Requirement]
    framework: str | None = None
    version: str | None = None
    variant: str | None = None
    cuda: str | None = None
    cuda_source: str | None = None  # "wheels" (the wheels bring CUDA) or "system" (a CUDA base image)
    min_driver: str | None = None
    cudnn: str | None = None
    pip_args: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The NVIDIA container runtime's variables: which GPUs, which driver libraries, which CUDA."""
        if not self.gpu:
            return {}
        env = {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": NVIDIA_CAPABILITIES}
        if self.cuda:
            # Wheels bundle their CUDA runtime, so any driver of the same CUDA major will do.
            need = f"{self.cuda.split('.')[0]}.0" if self.cuda_source == "wheels" else self.cuda
            env["NVIDIA_REQUIRE_CUDA"] = f"cuda>={need}"
        return env

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu,
            "reason": self.reason,
            "framework": self.framework,
            "version": self.version,
            "variant": self.variant,
            "cuda": self.cuda,
            "cuda_source": self.cuda_source,
            "min_driver": self.min_driver,
            "pip_args": self.pip_args,
            "dropped": self.dropped,
            "notes": self.notes,
            "env": self.env,
        }


def want_gpu(project_gpu: Any, env_gpu: bool | None, flag: bool | None) -> tuple[bool, str]:
    """Precedence: --gpu/--no-gpu > the environment's `gpu` > mlship.yaml's `gpu` (optional means CPU)."""
    if flag is not None:
        return flag, "--gpu" if flag else "--no-gpu"
    if env_gpu is not None:
        return env_gpu, f"environment gpu: {str(env_gpu).lower()}"
    if project_gpu == "required":
        return True, "gpu: required"
    return False, f"gpu: {project_gpu if project_gpu else 'false'}"


def plan_gpu(
    requirements: list[Requirement],
    *,
    project_gpu: Any = False,
    env_gpu: bool | None = None,
    flag: bool | None = None,
    driver: str | None = None,
    table: GpuTable | None = None,
) -> GpuPlan:
    table = table or load_table()
    gpu, reason = want_gpu(project_gpu, env_gpu, flag)
    frameworks = [(r, *parse_variant(r.text)) for r in requirements]
    found = [(r, fw, ver, var) for r, fw, ver, var in frameworks if fw and r.name in _MAIN_DIST]
    plan = GpuPlan(gpu=gpu, reason=reason, requirements=list(requirements))
    if not found:
        if gpu:
            _cuda_libraries_gpu(plan, table, driver, reason)
        return plan
    if len({fw for _, fw, _, _ in found}) > 1:
        plan.notes.append("several GPU frameworks are pinned; the first decides the CUDA version")
    req, framework, version, variant = found[0]
    plan.framework, plan.version = framework, version
    chooser = _GPU_CHOOSERS[framework] if gpu else _CPU_CHOOSERS[framework]
    chooser(plan, req, version, variant, table, driver, reason)
    for other in found[1:]:
        if not gpu:
            _CPU_CHOOSERS[other[1]](plan, other[0], other[2], other[3], table, None, reason, primary=False)
    _drop_cuda_libraries(plan)
    if plan.cuda:
        minor_compat = plan.cuda_source == "wheels"
        plan.min_driver = table.min_driver(plan.cuda, minor_compat=minor_compat)
    return plan


def _cuda_libraries_gpu(plan: GpuPlan, table: GpuTable, driver: str | None, reason: str) -> None:
    """A GPU image without torch/tensorflow/jax: the locked CUDA wheels (nvidia-*, cupy-cuda12x,
    cuda-toolkit) are what uses the GPU, and their own pins tell the CUDA and so the driver floor."""
    pins = {r.name: r.version for r in plan.requirements if r.version}
    facts = {n: f for n, f in lock_cuda(pins).items() if is_cuda_library(n)}
    whole = lock_wide_cuda(facts)
    if whole is None:
        mixed = " and ".join(sorted({f"CUDA {f.major}" for f in facts.values()}))
        raise UsageError(
            f"a GPU image was asked for ({reason}) but the lock pins no GPU framework "
            "(torch, tensorflow, jax) and no CUDA library"
            + (f" of one CUDA version ({mixed})" if facts else "")
            + ": nothing in the image would use the GPU",
            hint="add a CUDA build of your framework (or the CUDA wheels you load) to the requirements, "
            "or build with --no-gpu",
        )
    if driver is not None and not table.driver_ok(whole.cuda, driver):
        floor = table.min_driver(whole.cuda, minor_compat=True)
        raise _driver_error(
            f"the locked CUDA {whole.cuda} libraries", driver, [f"CUDA {whole.cuda} >= {floor}"]
        )
    plan.framework, plan.variant = "cuda", f"cuda{whole.major}"
    plan.cuda, plan.cuda_source = whole.cuda, "wheels"
    plan.min_driver = table.min_driver(whole.cuda, minor_compat=True)
    plan.notes.append(f"no GPU framework pinned: CUDA {whole.cuda} from {whole.source}")


# Which distribution carries the framework's build decision (jaxlib follows jax).
_MAIN_DIST = {"torch", "tensorflow", "tensorflow-cpu", "jax"}


def _replace_req(plan: GpuPlan, old: Requirement, text: str, note: str) -> None:
    """Swap a requirement; its hashes belong to the other build, so they go (the lock needs re-making)."""
    index = plan.requirements.index(old)
    plan.requirements[index] = replace(old, text=text, hashes=())
    plan.notes.append(note)


def _version_tuple(version: str) -> tuple[int, ...]:
    out = []
    for part in version.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def _marker(text: str) -> str:
    _, sep, marker = text.partition(";")
    return f" ;{marker}" if sep else ""


# --- CPU images -------------------------------------------------------------------------------


def _torch_cpu(plan, req, version, variant, table, driver, reason, primary=True) -> None:  # type: ignore[no-untyped-def]
    if primary:
        plan.variant = "cpu"
    if variant != "cpu":
        _replace_req(plan, req, f"torch=={version}+cpu{_marker(req.text)}", f"torch {version}: CPU wheel")
    _switch_companions(plan, "cpu")
    if not table.knows("torch", version):
        plan.notes.append(f"torch {version} is not in the compatibility table {table.version}")
    index = TORCH_INDEX.format(variant="cpu")
    if index not in plan.pip_args:
        plan.pip_args += ["--extra-index-url", index]


def _tf_cpu(plan, req, version, variant, table, driver, reason, primary=True) -> None:  # type: ignore[no-untyped-def]
    if primary:
        plan.variant = "cpu"
    if variant != "cpu":
        _replace_req(
            plan,
            req,
            f"tensorflow-cpu=={version}{_marker(req.text)}",
            f"tensorflow {version}: tensorflow-cpu",
        )


def _jax_cpu(plan, req, version, variant, table, driver, reason, primary=True) -> None:  # type: ignore[no-untyped-def]
    if primary:
        plan.variant = "cpu"
    if variant not in ("default", "cpu"):
        _replace_req(plan, req, f"jax=={version}{_marker(req.text)}", f"jax {version}: CPU jaxlib only")


_CPU_CHOOSERS = {"torch": _torch_cpu, "tensorflow": _tf_cpu, "jax": _jax_cpu}


# --- GPU images -------------------------------------------------------------------------------


def _cpu_pin_error(req: Requirement, reason: str) -> UsageError:
    return UsageError(
        f"a GPU image was asked for ({reason}) but the lock pins a CPU-only build: {req.text}",
        hint="pin the CUDA build (e.g. drop '+cpu' / use 'tensorflow' / 'jax[cuda12]') and run `mlship lock`,"
        " or build with --no-gpu",
    )


def _driver_error(what: str, driver: str, floors: list[str]) -> UsageError:
    return UsageError(
        f"no build of {what} runs on NVIDIA driver {driver}",
        hint="the builds need: " + ", ".join(floors) + "; upgrade the driver or pin an older framework",
    )


def _pick_by_driver(cudas: list[tuple[str, str]], table: GpuTable, driver: str | None) -> str | None:
    """The newest (variant, cuda) whose CUDA runs on the driver; with no driver known, the lowest floor."""
    if driver is None:
        floors = [(_version_tuple(table.min_driver(c, minor_compat=True)), v) for v, c in cudas]
        return min(floors)[1] if floors else None
    for variant, cuda in sorted(cudas, key=lambda vc: _version_tuple(vc[1]), reverse=True):
        if table.driver_ok(cuda, driver):
            return variant
    return None


def _torch_gpu(plan, req, version, variant, table, driver, reason) -> None:  # type: ignore[no-untyped-def]
    if variant == "cpu":
        raise _cpu_pin_error(req, reason)
    plan.cuda_source = "wheels"
    cuda = table.cuda_of("torch", version, variant)
    if cuda is None and variant == "default":
        # A release newer than the table: the lock's own CUDA libraries (cuda-toolkit, nvidia-*) tell it.
        whole = lock_wide_cuda(lock_cuda({r.name: r.version for r in plan.requirements if r.version}))
        cuda = whole.cuda if whole is not None else None
    if cuda is None:
        raise UsageError(
            f"torch {version} is not in the compatibility table {table.version}: its CUDA is unknown",
            hint="pin a CUDA build explicitly (e.g. torch=={version}+cu124) or update mlship",
        )
    if driver is None or table.driver_ok(cuda, driver):
        plan.variant, plan.cuda = variant, cuda
    else:
        options = [(v, table.cuda_of("torch", version, v)) for v in table.variants("torch", version)]
        cudas = [(v, c) for v, c in options if c]
        chosen = _pick_by_driver(cudas, table, driver)
        if chosen is None:
            floors = [f"{v} >= {table.min_driver(c, minor_compat=True)}" for v, c in cudas]
            raise _driver_error(f"torch {version}", driver, floors or [f"CUDA {cuda}"])
        plan.variant, plan.cuda = chosen, table.cuda_of("torch", version, chosen)
        _replace_req(
            plan,
            req,
            f"torch=={version}+{chosen}{_marker(req.text)}",
            f"torch {version}: {chosen} build (the default CUDA {cuda} needs a newer driver than {driver})",
        )
        _switch_companions(plan, chosen)
    if plan.variant != "default":
        plan.pip_args += ["--extra-index-url", TORCH_INDEX.format(variant=plan.variant)]


def _tf_gpu(plan, req, version, variant, table, driver, reason) -> None:  # type: ignore[no-untyped-def]
    if variant == "cpu":
        raise _cpu_pin_error(req, reason)
    cuda = table.default_cuda("tensorflow", version)
    if cuda is None:
        raise UsageError(
            f"tensorflow {version} is not in the compatibility table {table.version}: its CUDA is unknown",
            hint="update mlship, or build with --no-gpu",
        )
    if driver is not None and not table.driver_ok(cuda, driver):
        raise _driver_error(
            f"tensorflow {version}", driver, [f"CUDA {cuda} >= {table.min_driver(cuda, minor_compat=True)}"]
        )
    plan.variant, plan.cuda = f"cu{cuda.replace('.', '')}", cuda
    plan.cudnn = table.data["frameworks"]["tensorflow"]["releases"].get(_minor(version), {}).get("cudnn")
    if _version_tuple(version) >= TF_AND_CUDA_SINCE:
        plan.cuda_source = "wheels"
        if "and-cuda" not in req.text:
            _replace_req(
                plan,
                req,
                f"tensorflow[and-cuda]=={version}{_marker(req.text)}",
                f"tensorflow {version}: the [and-cuda] extra brings CUDA {cuda} as wheels",
            )
    else:
        plan.cuda_source = "system"
        plan.notes.append(f"tensorflow {version} needs system CUDA {cuda}: CUDA runtime base image")


def _jax_gpu(plan, req, version, variant, table, driver, reason) -> None:  # type: ignore[no-untyped-def]
    if variant == "cpu":
        raise _cpu_pin_error(req, reason)
    local = variant.endswith("_local")
    if variant == "default":
        # The locked plugins (jax-cuda13-plugin, ...) say which CUDA the lock was made for: keep it
        # while the driver runs it; otherwise the extra picks another, and the plugins move together.
        locked = next((m for r in plan.requirements if (m := table.jax_plugin_cuda(r.name))), None)
        if locked and (driver is None or table.driver_ok(locked, driver)):
            variant = f"cuda{locked}"
    if variant == "default":
        cudas = [(v, v[4:]) for v in table.variants("jax", version) if v.startswith("cuda")]
        chosen = _pick_by_driver(cudas, table, driver)
        if chosen is None:
            floors = [f"{v} >= {table.min_driver(c, minor_compat=True)}" for v, c in cudas]
            raise _driver_error(f"jax {version}", driver or "?", floors or ["a CUDA plugin"])
        variant = chosen
        _replace_req(
            plan, req, f"jax[{chosen}]=={version}{_marker(req.text)}", f"jax {version}: the [{chosen}] plugin"
        )
    cuda = variant[4:].split("_")[0]
    if driver is not None and not table.driver_ok(cuda, driver):
        raise _driver_error(
            f"jax {version} [{variant}]", driver, [f"CUDA {cuda} >= {table.min_driver(cuda)}"]
        )
    plan.variant, plan.cuda = variant, cuda
    plan.cuda_source = "system" if local else "wheels"


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


_GPU_CHOOSERS = {"torch": _torch_gpu, "tensorflow": _tf_gpu, "jax": _jax_gpu}


def _drop_cuda_libraries(plan: GpuPlan) -> None:
    """CPU images get no CUDA libraries; GPU images only those of the chosen CUDA major.

    A library that numbers itself (nvidia-cufft 12.0 in CUDA 13) is judged by the CUDA the lock gives
    it, never by its own version; one the lock says nothing about stays in a GPU image.
    """
    keep_major = plan.cuda.split(".")[0] if plan.gpu and plan.cuda and plan.cuda_source == "wheels" else None
    facts = lock_cuda({r.name: r.version for r in plan.requirements if r.version})
    kept = []
    for req in plan.requirements:
        fact = facts.get(req.name)
        major = fact.major if fact is not None and is_cuda_library(req.name) else None
        # triton is torch's GPU kernel compiler: only GPU images use it.
        is_gpu_only = is_cuda_library(req.name) or (req.name == "triton" and plan.framework == "torch")
        other_major = major is not None and keep_major is not None and major != keep_major
        if (is_gpu_only and not plan.gpu) or other_major:
            plan.dropped.append(req.text)
        else:
            kept.append(req)
    if plan.dropped:
        plan.notes.append(f"left out {len(plan.dropped)} CUDA package(s) the chosen build does not use")
    plan.requirements = kept


def _switch_companions(plan: GpuPlan, variant: str) -> None:
    """torchvision and torchaudio are built per torch variant: move them with torch, or import fails."""
    for req in list(plan.requirements):
        if req.name not in TORCH_FAMILY[1:] or not req.version:
            continue
        public, _, local = req.version.partition("+")
        wanted = "" if variant == "default" else variant
        if local == wanted:
            continue
        text = f"{req.name}=={public}" + (f"+{wanted}" if wanted else "") + _marker(req.text)
        _replace_req(plan, req, text, f"{req.name} {public}: the {variant} build, as torch")
