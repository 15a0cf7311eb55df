"""The GPU compatibility table (framework builds, CUDA, NVIDIA drivers) and the checks built on it.

The facts live in `data/gpu_compat.json`, a versioned file that lists its sources; this module
only reads it. The image build (issue 6) imports `load_table` and `parse_variant` from here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from mlship.deps.requirements import canonical

# Distribution name -> framework whose build decides the CUDA it needs.
_FRAMEWORK_OF = {
    "torch": "torch",
    "tensorflow": "tensorflow",
    "tensorflow-cpu": "tensorflow",
    "tf-nightly": "tensorflow",
    "jax": "jax",
    "jaxlib": "jax",
}
_REQ_RE = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)?\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?:===?|~=)?\s*(?P<version>[^;\s]*)"
)
_CU_RE = re.compile(r"^cu(?:da)?(\d{2,3})")


def _minor(version: str) -> str:
    """'2.5.1' -> '2.5' (the table is keyed by major.minor)."""
    parts = re.split(r"[.+]", version)
    return ".".join(parts[:2]) if len(parts) >= 2 else version


def _cuda_of_variant(variant: str) -> str | None:
    """'cu124' -> '12.4', 'cu130' -> '13.0', 'cuda12' -> '12', 'cpu' -> None."""
    match = _CU_RE.match(variant)
    if not match:
        return None
    digits = match.group(1)
    if variant.startswith("cuda"):
        return digits[:2] if len(digits) == 2 else f"{digits[:2]}.{digits[2:]}"
    return f"{digits[:-1]}.{digits[-1]}"


def _driver_tuple(driver: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(driver).strip().split("."))
    except ValueError:
        raise ValueError(
            f"not an NVIDIA driver version: {driver!r} (expected e.g. 535 or 535.104.05)"
        ) from None


def driver_at_least(driver: str, floor: str) -> bool:
    """Compare at the precision the driver was given: '535' means the R535 branch, so it meets '535.54.03'."""
    have, need = _driver_tuple(driver), _driver_tuple(floor)
    return have >= need[: len(have)]


def parse_variant(requirement_or_version: str) -> tuple[str, str, str]:
    """Split a pin into (framework, version, variant).

    "torch==2.5.1+cu124" -> ("torch", "2.5.1", "cu124"); "torch==2.5.1" -> ("torch", "2.5.1", "default")
    (PyPI's plain wheel); "tensorflow-cpu==2.18.0" -> ("tensorflow", "2.18.0", "cpu");
    "jax[cuda12]==0.4.30" -> ("jax", "0.4.30", "cuda12"); a bare "2.5.1+cpu" -> ("", "2.5.1", "cpu").
    The framework is "" for a distribution the table does not know.
    """
    text = requirement_or_version.strip()
    if text and text[0].isdigit():
        name, extras, version = "", "", text
    else:
        match = _REQ_RE.match(text)
        if not match:
            raise ValueError(f"cannot read a requirement from {requirement_or_version!r}")
        name = canonical(match.group("name") or "")
        extras, version = match.group("extras") or "", match.group("version") or ""
    framework = _FRAMEWORK_OF.get(name, "")
    public, _, local = version.partition("+")
    variant = "default"
    if local:
        # jaxlib used '+cuda12.cudnn89'; torch uses '+cu124' / '+cpu'.
        variant = local.split(".")[0]
    elif name == "tensorflow-cpu":
        variant = "cpu"
    elif framework == "jax":
        cuda_extras = [e.strip() for e in extras.split(",") if e.strip().startswith("cuda")]
        variant = cuda_extras[0].split("-")[0].replace("_pip", "") if cuda_extras else "default"
    return framework, public, variant


@dataclass(frozen=True)
class GpuTable:
    """The loaded compatibility table; every lookup names what it does not know instead of guessing."""

    data: dict[str, Any] = field(repr=False)

    @property
    def version(self) -> str:
        return str(self.data["table_version"])

    @property
    def sources(self) -> list[dict[str, str]]:
        return list(self.data["sources"])

    def cuda_versions(self) -> list[str]:
        return sorted(self.data["cuda"], key=lambda v: tuple(int(p) for p in v.split(".")))

    def min_driver(self, cuda: str, *, minor_compat: bool = False) -> str:
        """Linux minimum driver for a CUDA version such as "12.6".

        By default the driver NVIDIA pairs with that toolkit's GA release; with `minor_compat`
        the lower floor of its major family under CUDA minor version compatibility.
        """
        cuda = _minor(cuda) if "." in cuda else cuda
        major = cuda.split(".")[0]
        if minor_compat or "." not in cuda:
            floors = self.data["minor_version_compat"]
            if major not in floors:
                raise KeyError(f"CUDA {cuda} is not in the compatibility table {self.version}")
            return str(floors[major])
        entry = self.data["cuda"].get(cuda)
        if entry is None:
            raise KeyError(f"CUDA {cuda} is not in the compatibility table {self.version}")
        return str(entry["toolkit_driver"])

    def driver_ok(self, cuda: str, driver: str, *, minor_compat: bool = True) -> bool:
        """Whether binaries built with `cuda` run on `driver`.

        Framework wheels bundle their CUDA runtime, so minor version compatibility applies by
        default (12.x runs on >= 525.60.13); pass minor_compat=False for the toolkit's own driver.
        """
        return driver_at_least(driver, self.min_driver(cuda, minor_compat=minor_compat))

    def _release(self, framework: str, version: str) -> dict[str, Any] | None:
        fw = self.data["frameworks"].get(framework)
        if fw is None:
            return None
        return fw["releases"].get(_minor(version))

    def knows(self, framework: str, version: str) -> bool:
        return self._release(framework, version) is not None

    def variants(self, framework: str, version: str) -> list[str]:
        """Published build variants, e.g. ["cpu", "cu118", "cu121", "cu124"] for torch 2.5; [] if unknown."""
        release = self._release(framework, version)
        return list(release["variants"]) if release else []

    def default_cuda(self, framework: str, version: str) -> str | None:
        """The CUDA that PyPI's plain linux x86_64 wheel ships or was built against (None: CPU-only)."""
        release = self._release(framework, version)
        return release.get("default_cuda") if release else None

    def cuda_of(self, framework: str, version: str, variant: str) -> str | None:
        """The CUDA a (framework, version, variant) needs: None for cpu builds."""
        if variant == "default":
            return self.default_cuda(framework, version)
        return _cuda_of_variant(variant)

    def latest_known(self, framework: str) -> str | None:
        fw = self.data["frameworks"].get(framework)
        if not fw:
            return None
        return max(fw["releases"], key=lambda v: tuple(int(p) for p in v.split(".")))

    def jax_plugin_cuda(self, distribution: str) -> str | None:
        return self.data["frameworks"]["jax"].get("plugins", {}).get(canonical(distribution))


@lru_cache(maxsize=1)
def load_table() -> GpuTable:
    """The table shipped inside mlship (package data, read once per process)."""
    text = resources.files("mlship.deps").joinpath("data/gpu_compat.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("schema") != 1:
        raise ValueError(f"unsupported gpu_compat.json schema {data.get('schema')!r}")
    return GpuTable(data)


# Which CUDA a locked wheel belongs to, from the lock's own evidence. NVIDIA names CUDA 11/12 libraries
# with a suffix (nvidia-cublas-cu12); from CUDA 13 on most dropped it (nvidia-cublas 13.x). The CUDA
# runtime components (nvidia-cuda-runtime, -nvrtc, -cupti, cuda-toolkit) version exactly like CUDA
# (12.8.90 is CUDA 12.8); cublas, nvjitlink and nvtx share only the major; the rest number themselves
# (cufft 12.0 ships with CUDA 13.0, cufft-cu12 11.3 with CUDA 12.8) and say only their suffix's major.
_SUFFIX_RE = re.compile(r"-cu(?:da)?(1[0-9])(?:x|\d)?(?:-|$)")
_CUDA_VERSIONED = re.compile(r"^nvidia-cuda-[a-z-]+$")
_MAJOR_VERSIONED = re.compile(r"^nvidia-(cublas|nvjitlink|nvtx|nvvm|nvfatbin)$")
_OWN_NUMBERING = re.compile(
    r"^nvidia-(cudnn|cufft|cufile|curand|cusolver|cusparse[a-z]*|nccl|nvshmem|npp|nvjpeg|cutensor|cudss|nvcomp)$"
)
_LABEL_RE = re.compile(r"\+(cu(?:da)?\d{2,3})")
_NAME_OF_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


def _strip_suffix(norm: str) -> str:
    return _SUFFIX_RE.sub(lambda m: "-" if m.group(0).endswith("-") else "", norm)


def is_cuda_library(name: str) -> bool:
    """nvidia-*-cu12, the unsuffixed CUDA 13 nvidia-* libraries, cuda-toolkit, cupy-cuda12x, jax plugins."""
    norm = canonical(name)
    if norm == "cuda-toolkit":
        return True
    if _SUFFIX_RE.search(norm) and (norm.startswith(("nvidia-", "cupy-", "jax-", "cuda-")) or "-cu1" in norm):
        return True
    return bool(_CUDA_VERSIONED.match(norm) or _MAJOR_VERSIONED.match(norm) or _OWN_NUMBERING.match(norm))


def _major_minor(version: str) -> str | None:
    parts = version.split("+")[0].split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return f"{int(parts[0])}.{int(parts[1])}"
    return None


@dataclass(frozen=True)
class CudaFact:
    """The CUDA a locked distribution belongs to ("13.0", or only the major "12") and what says so."""

    cuda: str
    source: str

    @property
    def major(self) -> str:
        return self.cuda.split(".")[0]


def _own_fact(name: str, version: str) -> CudaFact | None:
    """What a pin says about its CUDA by itself: its name, its version or its local label."""
    norm = canonical(name)
    pin = f"{norm}=={version}"
    bare = _strip_suffix(norm)
    suffix = _SUFFIX_RE.search(norm)
    cuda = _major_minor(version)
    major = cuda.split(".")[0] if cuda else None
    versioned = norm == "cuda-toolkit" or _CUDA_VERSIONED.match(bare)
    if versioned and cuda and (suffix is None or suffix.group(1) == major):
        return CudaFact(cuda, pin)
    if suffix and is_cuda_library(norm):
        return CudaFact(suffix.group(1), pin)
    if _MAJOR_VERSIONED.match(norm) and major and int(major) >= 11:
        return CudaFact(major, pin)
    label = _LABEL_RE.search(version)
    if label:
        cuda = _cuda_of_variant(label.group(1))
        return CudaFact(cuda, f"{pin} (its +{label.group(1)} label)") if cuda else None
    return None


def _best(facts: Iterable[CudaFact]) -> CudaFact | None:
    """The most precise fact: a major.minor over a bare major, the newest over older ones."""
    ranked = sorted(facts, key=lambda f: (f.cuda.count("."), _version_key(f.cuda)), reverse=True)
    return ranked[0] if ranked else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def requirement_names(requires: Iterable[str]) -> set[str]:
    out = set()
    for raw in requires:
        match = _NAME_OF_REQ.match(raw)
        if match:
            out.add(canonical(match.group(1)))
    return out


def lock_cuda(
    pins: Mapping[str, str], requires: Mapping[str, Iterable[str]] | None = None
) -> dict[str, CudaFact]:
    """The CUDA of each locked distribution that has one, from the lock and the wheels' metadata.

    `pins` is distribution -> version; `requires` the Requires-Dist entries of each wheel that apply to
    the target (markers and requested extras evaluated). A pin's own name, version or `+cuXYZ` label
    decides first; a framework without a label takes the CUDA of the locked libraries it requires
    (torch 2.8.0 -> nvidia-cuda-runtime-cu12==12.8.90); a library with its own numbering (nvidia-cufft
    12.0 under CUDA 13) takes the CUDA of the pin that requires it (cuda-toolkit==13.0.2, torch+cu130).
    """
    pins = {canonical(n): v for n, v in pins.items()}
    needs = {canonical(n): requirement_names(r) & set(pins) for n, r in (requires or {}).items()}
    facts = {n: f for n, v in pins.items() if (f := _own_fact(n, v)) is not None}
    for _ in range(4):  # chains are short (torch -> cuda-toolkit -> nvidia-cufft); stop at a fixpoint
        changed = False
        for name in pins:
            if name in facts:
                continue
            below = _best(facts[d] for d in needs.get(name, ()) if d in facts and is_cuda_library(d))
            above = [
                facts[p] for p, deps in needs.items() if name in deps and p in facts and is_cuda_library(name)
            ]
            if below is not None and not is_cuda_library(name):
                facts[name] = CudaFact(below.cuda, f"it requires {below.source.split(' ')[0]}")
                changed = True
            elif above:
                best = _best(above)
                assert best is not None
                facts[name] = CudaFact(best.cuda, f"required by {best.source.split(' ')[0]}")
                changed = True
        if not changed:
            break
    return facts


def lock_wide_cuda(facts: Mapping[str, CudaFact]) -> CudaFact | None:
    """The lock's one CUDA (its most precise fact) when all facts agree on the major; else None."""
    if len({f.major for f in facts.values()}) != 1:
        return None
    return _best(facts.values())


def cuda_major_of(name: str, version: str = "") -> str | None:
    """The CUDA major a CUDA-library distribution's own name or version tells, or None.

    A library with its own numbering and no suffix (nvidia-cufft 12.0, a CUDA 13 library) tells
    nothing by itself: `lock_cuda` gives it the CUDA of what requires it.
    """
    if not is_cuda_library(name):
        return None
    fact = _own_fact(name, version) if version else None
    if fact is None and version == "":
        suffix = _SUFFIX_RE.search(canonical(name))
        return suffix.group(1) if suffix else None
    return fact.major if fact else None


def mixed_cuda_majors(
    pins: Iterable[tuple[str, str]], requires: Mapping[str, Iterable[str]] | None = None
) -> dict[str, list[str]]:
    """Group CUDA-carrying pins by CUDA major; more than one key means mixed CUDA 12/13 libraries."""
    versions = dict(pins)
    groups: dict[str, list[str]] = {}
    for name, fact in lock_cuda(versions, requires).items():
        if is_cuda_library(name) or _LABEL_RE.search(versions.get(name, "")):
            groups.setdefault(fact.major, []).append(f"{name}=={versions[name]}")
    return groups
