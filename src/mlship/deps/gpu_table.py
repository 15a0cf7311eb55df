"""Regenerate `data/gpu_compat.json` from a package index: each framework release's CUDA read from its own
wheel metadata (the nvidia-* / cuda-toolkit pins it declares), its Python range from Requires-Python.

Run it with `scripts/update_gpu_table.py` (or `python -m mlship.deps.gpu_table`). Driver floors are NVIDIA's
published numbers and stay as the current table has them; releases the index no longer answers for are kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from email.parser import Parser
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from mlship.deps.gpu import lock_cuda, lock_wide_cuda
from mlship.deps.index import DistFile, IndexClient, IndexUnavailable, ProjectPage
from mlship.deps.target import marker_env, wheel_fits

TABLE_PATH = Path(__file__).with_name("data") / "gpu_compat.json"
# The oldest release of each framework the table covers (older ones are reported "unknown").
SINCE = {"torch": Version("2.0"), "tensorflow": Version("2.12"), "jax": Version("0.4")}
_PYTHONS = ("3.12", "3.11", "3.13", "3.10", "3.14")


def _finals(page: ProjectPage | None) -> dict[str, list[tuple[Version, list[DistFile]]]]:
    """major.minor -> [(version, files)], final releases only, newest first."""
    out: dict[str, list[tuple[Version, list[DistFile]]]] = {}
    for raw, files in (page.by_version() if page else {}).items():
        try:
            version = Version(raw)
        except InvalidVersion:
            continue
        if version.is_prerelease or version.is_devrelease or all(f.yanked for f in files):
            continue
        out.setdefault(f"{version.major}.{version.minor}", []).append((version, files))
    for releases in out.values():
        releases.sort(key=lambda vf: vf[0], reverse=True)
    return out


def _linux_wheel(files: list[DistFile]) -> DistFile | None:
    for python in _PYTHONS:
        for f in files:
            if (
                f.is_wheel
                and "+" not in f.filename.split("-")[1]
                and wheel_fits(f.filename, python, "linux_x86_64")
            ):
                return f
    return None


def _requires(metadata: str, extra: str = "") -> tuple[list[Requirement], str | None]:
    message = Parser().parsestr(metadata, headersonly=True)
    env = marker_env("3.12", "linux_x86_64", extra)
    reqs = []
    for raw in message.get_all("Requires-Dist") or []:
        try:
            req = Requirement(raw)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate(env):
            reqs.append(req)
    return reqs, message.get("Requires-Python")


def _pinned(reqs: list[Requirement]) -> dict[str, str]:
    """The version each requirement pins, or its lower bound (tensorflow 2.21 asks `>=12.5.82,<13.0`)."""
    pins = {}
    for req in reqs:
        exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
        lower = [s.version for s in req.specifier if s.operator in (">=", "~=")]
        if exact or lower:
            pins[req.name] = (exact or lower)[0]
    return pins


def cuda_of_metadata(metadata: str, extra: str = "") -> str | None:
    """The CUDA (major.minor) a wheel's own pinned nvidia-* / cuda-toolkit requirements name."""
    pins = _pinned(_requires(metadata, extra)[0])
    whole = lock_wide_cuda(lock_cuda(pins))
    return whole.cuda if whole is not None and "." in whole.cuda else None


def _metadata_of(client: IndexClient, files: list[DistFile]) -> str | None:
    wheel = _linux_wheel(files)
    if wheel is None:
        return None
    try:
        return client.wheel_metadata(wheel)
    except IndexUnavailable:
        return None


def _torch(
    client: IndexClient, current: dict[str, Any], variant_client: IndexClient | None
) -> dict[str, Any]:
    releases = dict(current)
    labels: dict[str, set[str]] = {}
    if variant_client is not None:
        page = variant_client.project("torch")
        for raw in page.by_version() if page else {}:
            public, _, local = raw.partition("+")
            if local and not local.startswith(("rocm", "xpu")):
                labels.setdefault(".".join(public.split(".")[:2]), set()).add(local)
    for minor, found in _finals(client.project("torch")).items():
        if Version(minor) < SINCE["torch"]:
            continue
        metadata = _metadata_of(client, found[0][1])
        if metadata is None:
            continue
        cuda = cuda_of_metadata(metadata)
        entry = dict(releases.get(minor, {}))
        variants = set(entry.get("variants", ["cpu"])) | labels.get(minor, set())
        if cuda:
            variants.add("cu" + cuda.replace(".", ""))
        entry.update(variants=sorted(variants, key=_variant_key), default_cuda=cuda)
        python = _requires(metadata)[1]
        entry.setdefault("python", python)  # the release matrix's upper bound, where known, is kept
        releases[minor] = entry
    return releases


def _variant_key(variant: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", variant)
    return (int(digits) if digits else -1, variant)


def _tensorflow(client: IndexClient, current: dict[str, Any]) -> dict[str, Any]:
    releases = dict(current)
    for minor, found in _finals(client.project("tensorflow")).items():
        if Version(minor) < SINCE["tensorflow"]:
            continue
        metadata = _metadata_of(client, found[0][1])
        if metadata is None:
            continue
        entry = dict(releases.get(minor, {"variants": ["cpu"]}))
        cuda = cuda_of_metadata(metadata, extra="and-cuda")
        if cuda:
            entry["default_cuda"] = cuda
            entry["variants"] = sorted({"cpu", "cu" + cuda.replace(".", "")}, key=_variant_key)
            cudnn = _pinned(_requires(metadata, "and-cuda")[0]).get("nvidia-cudnn-cu12")
            if cudnn:
                entry["cudnn"] = ".".join(cudnn.split(".")[:2])
        entry.setdefault("python", _requires(metadata)[1])
        if "default_cuda" in entry:
            releases[minor] = entry
    return releases


def _jax(client: IndexClient, current: dict[str, Any], plugins: dict[str, str]) -> dict[str, Any]:
    releases = dict(current)
    with_plugin: dict[str, set[str]] = {}
    for plugin, major in plugins.items():
        if not plugin.endswith("-plugin"):
            continue
        for minor in _finals(client.project(plugin)):
            with_plugin.setdefault(minor, set()).add(f"cuda{major}")
    for minor in _finals(client.project("jax")):
        if Version(minor) < SINCE["jax"]:
            continue
        variants = sorted({"cpu"} | with_plugin.get(minor, set()), key=_variant_key)
        releases[minor] = {**releases.get(minor, {}), "variants": variants, "default_cuda": None}
    return releases


def _sorted_releases(releases: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(releases.items(), key=lambda kv: Version(kv[0])))


def regenerate(
    client: IndexClient, current: dict[str, Any], *, today: date, torch_variants: IndexClient | None = None
) -> dict[str, Any]:
    """A new table: the current one with every framework release the index has, read from metadata."""
    data = json.loads(json.dumps(current))
    frameworks = data["frameworks"]
    frameworks["torch"]["releases"] = _sorted_releases(
        _torch(client, frameworks["torch"]["releases"], torch_variants)
    )
    frameworks["tensorflow"]["releases"] = _sorted_releases(
        _tensorflow(client, frameworks["tensorflow"]["releases"])
    )
    frameworks["jax"]["releases"] = _sorted_releases(
        _jax(client, frameworks["jax"]["releases"], frameworks["jax"].get("plugins", {}))
    )
    data["compiled"] = today.isoformat()
    data["table_version"] = f"{today.year}.{today.month}.{today.day}"
    data["generated_from"] = client.index_url
    note = (
        "Regenerated by scripts/update_gpu_table.py: default_cuda is read from each release's own wheel "
        "metadata (its nvidia-*/cuda-toolkit requirements); torch variants beyond PyPI's own build come "
        "from --torch-variant-index when it was given, else from the previous table."
    )
    data["notes"] = [n for n in data["notes"] if not n.startswith("Regenerated by")] + [note]
    return data


def load_current(path: Path = TABLE_PATH) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-url", default="https://pypi.org/simple")
    parser.add_argument(
        "--torch-variant-index",
        help="an index listing torch's +cuXYZ builds (e.g. https://download.pytorch.org/whl); adds variants",
    )
    parser.add_argument("--out", type=Path, default=TABLE_PATH)
    args = parser.parse_args(argv)
    current = load_current()
    client = IndexClient(args.index_url, ttl=0)
    variants = IndexClient(args.torch_variant_index, ttl=0) if args.torch_variant_index else None
    try:
        data = regenerate(client, current, today=date.today(), torch_variants=variants)
    except IndexUnavailable as exc:
        print(f"the package index could not be read: {exc}", file=sys.stderr)
        return 3
    text = _dump(data)
    args.out.write_text(text, encoding="utf-8")
    for name, fw in data["frameworks"].items():
        latest = max(fw["releases"], key=Version)
        print(f"{name}: {len(fw['releases'])} releases, newest {latest}", file=sys.stderr)
    print(f"wrote {args.out} ({client.stats['network']} requests)", file=sys.stderr)
    return 0


def _dump(data: dict[str, Any]) -> str:
    """The table's layout: one line per release, so a regeneration diffs line by line."""
    text = json.dumps(data, indent=2)

    def one_line(match: re.Match[str]) -> str:
        return (
            re.sub(r"\s*\n\s*", " ", match.group(0))
            .replace("[ ", "[")
            .replace(" ]", "]")
            .replace("{ ", "{")
            .replace(" }", "}")
        )

    text = re.sub(r"\{[^{}]*\}", one_line, text)
    return re.sub(r"\[[^\[\]{}]*\]", one_line, text) + "\n"


if __name__ == "__main__":
    sys.exit(main())
