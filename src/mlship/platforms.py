"""The platforms images are built for, in both spellings mlship meets (docker's `linux/arm64`,
the wheel tags' `linux_aarch64`), and the glibc of the distributions bases are built on."""

from __future__ import annotations

from mlship.errors import UsageError

# docker / OCI platform -> wheel platform tag (mlship.yaml's policy.platforms, lock file names).
PLATFORMS = {"linux/amd64": "linux_x86_64", "linux/arm64": "linux_aarch64"}
ARCH = {"linux_x86_64": "x86_64", "linux_aarch64": "aarch64"}

# glibc minor of the distributions bases are built on: it decides which manylinux wheels run there.
GLIBC_BY_NAME = {
    "bookworm": 36,
    "bullseye": 31,
    "trixie": 41,
    "jammy": 35,
    "ubuntu22.04": 35,
    "noble": 39,
    "ubuntu24.04": 39,
}
GLIBC_DEFAULT = 36  # python:X.Y-slim is Debian bookworm
GLIBC_UNKNOWN = 28  # an unknown base: only wheels for glibc 2.28 and older, which nearly everything ships


def wheel_platform(platform: str) -> str:
    """`linux/arm64` or `linux_aarch64` -> `linux_aarch64`; anything else is a UsageError."""
    if platform in ARCH:
        return platform
    try:
        return PLATFORMS[platform]
    except KeyError:
        raise UsageError(f"unsupported platform {platform!r}", hint="use " + " or ".join(PLATFORMS)) from None


def arch(platform: str) -> str:
    """The machine name (`x86_64`, `aarch64`) of a platform in either spelling."""
    return ARCH[wheel_platform(platform)]


def glibc_of(image: str) -> int:
    """The glibc minor of a base image, from the distribution its name says it is built on."""
    lowered = image.lower()
    for name, minor in GLIBC_BY_NAME.items():
        if name in lowered:
            return minor
    repo = lowered.rsplit("/", 1)[-1]
    if repo.startswith("python:") and "alpine" not in lowered:
        return GLIBC_DEFAULT
    return GLIBC_UNKNOWN
