"""The GPU compatibility table (framework builds, CUDA, NVIDIA drivers) and the checks built on it.

The facts live in `data/gpu_compat.json`, a versioned file that lists its sources; this module
only reads it. The image build (issue 6) imports `load_table` and `parse_variant` from here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

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


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


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
        name = _normalize(match.group("name") or "")
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
        return self.data["frameworks"]["jax"].get("plugins", {}).get(_normalize(distribution))


@lru_cache(maxsize=1)
def load_table() -> GpuTable:
    """The table shipped inside mlship (package data, read once per process)."""
    text = resources.files("mlship.deps").joinpath("data/gpu_compat.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("schema") != 1:
        raise ValueError(f"unsupported gpu_compat.json schema {data.get('schema')!r}")
    return GpuTable(data)


# CUDA major of a distribution, read from its name (nvidia-cublas-cu12, cupy-cuda12x, jax-cuda13-plugin)
# or, for NVIDIA's CUDA 13 packages that dropped the suffix (nvidia-cublas 13.x), from its version.
_SUFFIX_RE = re.compile(r"-cu(?:da)?(1[0-9])(?:x|\d)?(?:-|$)")
_UNSUFFIXED_NVIDIA = re.compile(
    r"^nvidia-(cublas|cuda-[a-z-]+|cudnn|cufft|cufile|curand|cusolver|cusparse[a-z]*|nccl|nvjitlink|nvtx|nvshmem|npp|nvjpeg)$"
)


def cuda_major_of(name: str, version: str = "") -> str | None:
    """The CUDA major a CUDA-library distribution belongs to, or None for anything else."""
    norm = _normalize(name)
    match = _SUFFIX_RE.search(norm)
    if match and (norm.startswith(("nvidia-", "cupy-", "jax-", "cuda-")) or "-cu1" in norm):
        return match.group(1)
    if _UNSUFFIXED_NVIDIA.match(norm) and version:
        major = version.split(".")[0]
        # cudnn and nccl version independently of CUDA; only CUDA-versioned libraries tell the major.
        if norm.startswith(("nvidia-cudnn", "nvidia-nccl", "nvidia-nvshmem")):
            return None
        return major if major.isdigit() and int(major) >= 11 else None
    return None


def mixed_cuda_majors(pins: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Group CUDA-library pins by CUDA major; more than one key means mixed CUDA 12/13 libraries.

    `pins` are (distribution, version); torch local tags (+cu130) count as their CUDA major too.
    """
    groups: dict[str, list[str]] = {}
    for name, version in pins:
        major = cuda_major_of(name, version)
        if major is None and _FRAMEWORK_OF.get(_normalize(name)) == "torch" and "+" in version:
            cuda = _cuda_of_variant(version.split("+", 1)[1])
            major = cuda.split(".")[0] if cuda else None
        if major is not None:
            groups.setdefault(major, []).append(f"{_normalize(name)}=={version}")
    return groups
