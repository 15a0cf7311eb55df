"""Where the model runs: CUDA when mlship.yaml asks for a GPU and one is visible, else the CPU.

`gpu: required` with no visible GPU refuses to start; `gpu: optional` falls back to the CPU.
The choice is exported as MLSHIP_DEVICE (`cuda` or `cpu`) for the project's `load` to read.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class DeviceError(Exception):
    """The spec requires a GPU and none is visible."""


@dataclass(frozen=True)
class Device:
    kind: str  # "cuda" or "cpu"
    reason: str
    name: str | None = None


def _torch_cuda() -> tuple[bool, str, str | None]:
    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed", None
    try:
        import torch
    except Exception as exc:  # a broken torch install must not crash start-up
        return False, f"torch failed to import ({exc.__class__.__name__})", None
    if not torch.cuda.is_available():
        return False, "torch sees no CUDA device", None
    return True, f"torch sees {torch.cuda.device_count()} CUDA device(s)", torch.cuda.get_device_name(0)


def _driver_visible() -> bool:
    return os.path.exists("/proc/driver/nvidia/gpus") or os.path.exists("/dev/nvidiactl")


def detect(gpu: str | bool) -> Device:
    """Choose the device for `gpu` (False, "optional", "required"); raises DeviceError if unmet."""
    if gpu in (False, None, "false", ""):
        return Device("cpu", "mlship.yaml asks for no GPU")
    visible, reason, name = _torch_cuda()
    if not visible and "not installed" in reason and _driver_visible():
        visible, reason = True, "an NVIDIA driver is visible (torch is not installed)"
    if visible:
        return Device("cuda", reason, name)
    if gpu == "required":
        raise DeviceError(
            f"mlship.yaml says gpu: required, but no GPU is visible ({reason}). "
            "Run on a host with an NVIDIA GPU and driver (docker: --gpus all), "
            "or set gpu: optional to fall back to the CPU."
        )
    return Device("cpu", f"gpu: optional and {reason}; using the CPU")


def limit_threads(threads: int) -> None:
    """Cap native thread pools before numpy/sklearn load (flags set by the user win)."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def limit_loaded_pools(threads: int) -> None:
    """Cap pools already loaded (when numpy came in before limit_threads could act)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    if os.environ.get("OMP_NUM_THREADS") == str(threads):
        threadpool_limits(threads)
