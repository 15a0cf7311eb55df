"""What the index says about each pin, gathered once (in parallel online, from the cache offline)
so that every rule reads the same facts and none of them talks to the network.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from packaging.version import InvalidVersion, Version

from mlship.deps.index import DistFile, IndexClient, IndexUnavailable, ProjectPage
from mlship.deps.requirements import Pin
from mlship.deps.target import wheel_fits
from mlship.platforms import GLIBC_DEFAULT


@dataclass
class PinFacts:
    pin: Pin
    page: ProjectPage | None = None
    files: list[DistFile] = field(default_factory=list)  # the pinned version's files
    variant_fallback: bool = False  # the local (+cu130) build was not on the index: public version used
    index_error: str | None = None
    wheel: dict[str, Any] | None = None  # {"metadata", "names"} of one target wheel
    wheel_error: str | None = None
    advisories: list[dict[str, Any]] | None = None
    advisory_error: str | None = None

    @property
    def on_index(self) -> bool:
        return self.page is not None

    def releases(self) -> dict[Version, list[DistFile]]:
        out: dict[Version, list[DistFile]] = {}
        for raw, files in (self.page.by_version() if self.page else {}).items():
            try:
                out.setdefault(Version(raw), []).extend(files)
            except InvalidVersion:
                continue
        return out

    def upload_time(self) -> datetime | None:
        times = [f.upload_time for f in self.files if f.upload_time]
        if not times:
            return None
        parsed = [p for p in (_parse_time(t) for t in times) if p is not None]
        return min(parsed) if parsed else None

    def yanked(self) -> bool | str:
        """PEP 592: a release is yanked when all of its files are."""
        if not self.files or not all(f.yanked for f in self.files):
            return False
        reasons = [f.yanked for f in self.files if isinstance(f.yanked, str)]
        return reasons[0] if reasons else True


def gather(
    client: IndexClient,
    pins: list[Pin],
    *,
    python: str,
    platform: str,
    glibc: int = GLIBC_DEFAULT,
    advisories: bool = True,
) -> dict[str, PinFacts]:
    def one(pin: Pin) -> PinFacts:
        return _facts_for(client, pin, python=python, platform=(platform, glibc), advisories=advisories)

    workers = 1 if client.offline else min(8, max(1, len(pins)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return {f.pin.name: f for f in pool.map(one, pins)}


def _facts_for(
    client: IndexClient, pin: Pin, *, python: str, platform: tuple[str, int], advisories: bool
) -> PinFacts:
    facts = PinFacts(pin)
    try:
        facts.page = client.project(pin.name)
    except IndexUnavailable as exc:
        facts.index_error = str(exc)
        return facts
    if facts.page is None:
        return facts
    releases = facts.releases()
    wanted = _version(pin.version)
    facts.files = releases.get(wanted, []) if wanted else []
    if not facts.files and "+" in pin.version:
        public = _version(pin.public_version)
        facts.files = releases.get(public, []) if public else []
        facts.variant_fallback = bool(facts.files)
    wheel = next((f for f in facts.files if f.is_wheel and wheel_fits(f.filename, python, *platform)), None)
    if wheel is not None:
        try:
            facts.wheel = client.wheel_info(wheel)
        except (IndexUnavailable, FileNotFoundError) as exc:
            facts.wheel_error = str(exc)
    if advisories and facts.files:
        try:
            facts.advisories = client.advisories(pin.name, pin.public_version)
        except IndexUnavailable as exc:
            facts.advisory_error = str(exc)
    return facts


def _parse_time(text: str) -> datetime | None:
    """PEP 700 upload-time (ISO 8601, UTC); Python 3.10's parser wants 0, 3 or 6 fraction digits."""
    stamp = text.strip().replace("Z", "+00:00")
    stamp = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], stamp)
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None
