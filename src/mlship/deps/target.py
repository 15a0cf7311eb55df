"""The target the image runs on: Python version, platform tags and marker environment.

Markers and wheel tags are evaluated for the target (the glibc of the base `build` chooses, CPython),
never for the machine mlship runs on.
"""

from __future__ import annotations

from functools import lru_cache

from packaging import tags
from packaging.utils import parse_wheel_filename

from mlship.platforms import GLIBC_DEFAULT
from mlship.platforms import arch as arch_of


def uv_platform(platform: str, glibc: int = GLIBC_DEFAULT) -> str:
    """uv's --python-platform for a target: the newest manylinux the base's glibc installs."""
    return f"{arch_of(platform)}-manylinux_2_{glibc}"


def _platform_tags(platform: str, glibc: int) -> list[str]:
    arch = arch_of(platform)
    minors = range(glibc, 4, -1)
    result = [f"manylinux_2_{m}_{arch}" for m in minors]
    legacy = {"x86_64": ["manylinux2014", "manylinux2010", "manylinux1"], "aarch64": ["manylinux2014"]}
    result += [f"{name}_{arch}" for name in legacy[arch]]
    return result + [f"linux_{arch}"]


@lru_cache(maxsize=8)
def supported_tags(python: str, platform: str, glibc: int = GLIBC_DEFAULT) -> frozenset[tags.Tag]:
    version = tuple(int(p) for p in python.split(".")[:2])
    plats = _platform_tags(platform, glibc)
    found = set(tags.cpython_tags(python_version=version, platforms=plats))
    found |= set(
        tags.compatible_tags(
            python_version=version, interpreter=f"cp{version[0]}{version[1]}", platforms=plats
        )
    )
    return frozenset(found)


def wheel_fits(filename: str, python: str, platform: str, glibc: int = GLIBC_DEFAULT) -> bool:
    try:
        _, _, _, wheel_tags = parse_wheel_filename(filename)
    except Exception:  # packaging raises several types for odd names; an odd name never fits
        return False
    return bool(wheel_tags & supported_tags(python, platform, glibc))


def marker_env(python: str, platform: str, extra: str = "") -> dict[str, str]:
    machine = arch_of(platform)
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "platform_release": "",
        "platform_version": "",
        "implementation_version": f"{python}.0",
        "extra": extra,
    }
