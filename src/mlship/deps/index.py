"""The one seam that talks to package indexes: PEP 691 JSON / PEP 503 HTML pages, PEP 658 metadata,
wheel listings read by HTTP range requests, and PyPI-style advisory JSON — all cached on disk so a
repeat check is fast and `--offline` works from the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from mlship.deps.requirements import canonical
from mlship.errors import UsageError

DEFAULT_INDEX = "https://pypi.org/simple"
_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
_TIMEOUT = 15.0
# A wheel larger than this is never fetched whole (torch, tensorflow): metadata only.
MAX_WHOLE_WHEEL = 8 * 1024 * 1024
_TAIL = 256 * 1024


class IndexUnavailable(Exception):
    """The index (or the advisory source) could not answer, and the cache has nothing for it."""


def cache_root() -> Path:
    base = os.environ.get("MLSHIP_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mlship"


@dataclass(frozen=True)
class DistFile:
    filename: str
    url: str
    sha256: str | None
    requires_python: str | None
    yanked: bool | str
    upload_time: str | None
    size: int | None
    has_metadata: bool

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass
class ProjectPage:
    name: str
    files: list[DistFile]
    source: str  # "network" or "cache"
    fetched_at: float = 0.0
    # Indexes that did not answer while another one had the project: index URL -> the reason.
    missed: dict[str, str] = field(default_factory=dict)
    _by_version: dict[str, list[DistFile]] = field(default_factory=dict, repr=False)

    def by_version(self) -> dict[str, list[DistFile]]:
        if not self._by_version:
            for f in self.files:
                version = version_of_filename(f.filename, self.name)
                if version:
                    self._by_version.setdefault(version, []).append(f)
        return self._by_version


def version_of_filename(filename: str, name: str) -> str | None:
    """The version part of a wheel or sdist file name."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) >= 5 else None
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            prefix_len = len(name)
            if canonical(stem[:prefix_len]) == canonical(name) and stem[prefix_len : prefix_len + 1] == "-":
                return stem[prefix_len + 1 :]
            return stem.rsplit("-", 1)[-1] if "-" in stem else None
    return None


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


def _parse_html(text: str, base_url: str) -> list[dict[str, Any]]:
    parser = _LinkParser()
    parser.feed(text)
    files = []
    for link in parser.links:
        href = link.get("href")
        if not href:
            continue
        url = urllib.parse.urljoin(base_url, href)
        path, _, fragment = url.partition("#")
        hashes = dict([fragment.split("=", 1)]) if "=" in fragment else {}
        yanked = link.get("data-yanked")
        files.append(
            {
                "filename": urllib.parse.unquote(path.rsplit("/", 1)[-1]),
                "url": path,
                "hashes": hashes,
                "requires-python": link.get("data-requires-python"),
                "yanked": (yanked or True) if "data-yanked" in link else False,
                "core-metadata": bool(link.get("data-core-metadata") or link.get("data-dist-info-metadata")),
            }
        )
    return files


def _to_files(raw: list[dict[str, Any]], base_url: str) -> list[DistFile]:
    files = []
    for item in raw:
        meta = item.get("core-metadata", item.get("dist-info-metadata", False))
        files.append(
            DistFile(
                filename=item["filename"],
                url=urllib.parse.urljoin(base_url, item["url"]),
                sha256=(item.get("hashes") or {}).get("sha256"),
                requires_python=item.get("requires-python") or None,
                yanked=item.get("yanked", False) or False,
                upload_time=item.get("upload-time"),
                size=item.get("size"),
                has_metadata=bool(meta),
            )
        )
    return files


class _RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file that fetches only the byte ranges zipfile asks for."""

    def __init__(self, client: IndexClient, url: str, size: int, tail: bytes):
        self._client, self._url, self._size = client, url, size
        self._tail_start, self._tail = size - len(tail), tail
        self._pos = 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        start, end = self._pos, self._pos + want
        if start >= self._tail_start:
            data = self._tail[start - self._tail_start : end - self._tail_start]
        else:
            data = self._client._get(self._url, headers={"Range": f"bytes={start}-{end - 1}"})[1]
            data = data[:want]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class IndexClient:
    """Reads one package index (and its advisory endpoint) through an on-disk cache.

    `offline=True` never touches the network: what the cache lacks raises IndexUnavailable, which
    the checks turn into "unknown" findings. Online, pages younger than `ttl` seconds are served from
    the cache; wheel metadata and listings are immutable and cached forever.

    `extra_index_urls` are searched as pip searches `--extra-index-url`s: a project's files are those of
    every index that has it, each index cached on its own.
    """

    def __init__(
        self,
        index_url: str | None = None,
        *,
        extra_index_urls: Sequence[str] = (),
        advisory_url: str | None = None,
        cache_dir: Path | None = None,
        offline: bool = False,
        ttl: float | None = None,
    ):
        self.index_url = (index_url or os.environ.get("MLSHIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")
        check_index_url(self.index_url)
        self.advisory_url = advisory_url or _derive_advisory_url(self.index_url)
        key = hashlib.sha256(self.index_url.encode()).hexdigest()[:16]
        self.cache_dir = (cache_dir or cache_root() / "index") / key
        self.offline = offline
        self.ttl = float(os.environ.get("MLSHIP_INDEX_TTL", 3600)) if ttl is None else ttl
        # A failed lookup is remembered for a short while: a warm check must not ask again per pin.
        self.error_ttl = float(os.environ.get("MLSHIP_INDEX_ERROR_TTL", 300))
        self.stats = {"network": 0, "cache": 0, "failed": 0}
        self.extras: list[IndexClient] = []
        for url in dict.fromkeys(u.rstrip("/") for u in extra_index_urls):
            if url != self.index_url:
                extra = IndexClient(url, cache_dir=cache_dir, offline=offline, ttl=self.ttl)
                extra.stats = self.stats  # one count of requests for the whole check
                self.extras.append(extra)

    @property
    def extra_index_urls(self) -> list[str]:
        return [e.index_url for e in self.extras]

    # -- HTTP and cache primitives ------------------------------------------------------------
    def _get(
        self, url: str, headers: dict[str, str] | None = None, *, limit: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """GET one URL; with `limit`, at most limit + 1 bytes of the body are read."""
        if self.offline:
            raise IndexUnavailable(f"offline: {url} is not in the cache")
        request = urllib.request.Request(url, headers={"User-Agent": "mlship", **(headers or {})})
        self.stats["network"] += 1  # every request made, answered or not
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                body = response.read() if limit is None else response.read(limit + 1)
                return {k.lower(): v for k, v in response.headers.items()}, body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise FileNotFoundError(url) from None
            self.stats["failed"] += 1
            raise IndexUnavailable(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            self.stats["failed"] += 1
            reason = getattr(exc, "reason", exc)
            raise IndexUnavailable(f"{url}: {reason}") from None

    def _cache_path(self, kind: str, key: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._+-]", "_", key)
        return self.cache_dir / kind / f"{safe}.json"

    def _read_cache(self, kind: str, key: str, *, max_age: float | None) -> dict[str, Any] | None:
        path = self._cache_path(kind, key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if max_age is not None and not self.offline and time.time() - entry.get("fetched_at", 0) > max_age:
            return None
        self.stats["cache"] += 1
        return entry

    def _write_cache(self, kind: str, key: str, entry: dict[str, Any]) -> None:
        path = self._cache_path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entry), encoding="utf-8")
        tmp.replace(path)  # atomic: a concurrent reader never sees half a file

    # -- what the checks ask for --------------------------------------------------------------
    def project(self, name: str) -> ProjectPage | None:
        """The files of a project across the index and its extra indexes, as pip merges them; None when
        none has it. An index that does not answer is in the page's `missed`; IndexUnavailable only when
        no index that answered has the project (it may be on the one that did not)."""
        if not self.extras:
            return self._project(name)
        pages: list[ProjectPage] = []
        missed: dict[str, str] = {}
        for client in (self, *self.extras):
            try:
                page = client._project(name)
            except IndexUnavailable as exc:
                missed[client.index_url] = str(exc)
                continue
            if page is not None:
                pages.append(page)
        if not pages:
            if missed:
                raise IndexUnavailable("; ".join(missed.values()))
            return None
        return ProjectPage(
            canonical(name),
            [f for page in pages for f in page.files],
            "network" if any(p.source == "network" for p in pages) else "cache",
            min(p.fetched_at for p in pages),
            missed=missed,
        )

    def _project(self, name: str) -> ProjectPage | None:
        """The files of a project on this one index; None when the index has no such project."""
        name = canonical(name)
        entry = self._read_cache("simple", name, max_age=self.ttl)
        source = "cache"
        if entry is None:
            stale = self._read_cache("simple", name, max_age=None)
            try:
                entry = self._fetch_project(name)
                source = "network"
            except IndexUnavailable:
                if stale is None:
                    raise
                entry = stale  # the index is down: use what we had, and say so in the result
            if source == "network":
                self._write_cache("simple", name, entry)
        if entry.get("missing"):
            return None
        return ProjectPage(name, _to_files(entry["files"], entry["url"]), source, entry.get("fetched_at", 0))

    def _fetch_project(self, name: str) -> dict[str, Any]:
        url = f"{self.index_url}/{name}/"
        try:
            headers, body = self._get(url, headers={"Accept": _ACCEPT})
        except FileNotFoundError:
            return {"missing": True, "url": url, "fetched_at": time.time()}
        ctype = headers.get("content-type", "")
        if "json" in ctype:
            try:
                page = json.loads(body)
            except ValueError:
                raise IndexUnavailable(f"{url}: the index answered {ctype} that is not JSON") from None
            files = page.get("files") if isinstance(page, dict) else None
        else:
            files = _parse_html(body.decode("utf-8", "replace"), url)
        # PEP 691: a list of {"filename", "url", ...}; anything else is not a project page
        if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("filename"), str) and isinstance(f.get("url"), str)
            for f in files
        ):
            raise IndexUnavailable(f"{url}: not a package index project page (no list of files in it)")
        return {"url": url, "files": files, "fetched_at": time.time()}

    def wheel_info(self, dist: DistFile) -> dict[str, Any]:
        """{"metadata": str | None, "names": [paths in the wheel] | None} for one wheel, cached forever.

        Small wheels are listed through range requests (or fetched whole); big ones (torch) only
        give their PEP 658 metadata, so nothing multi-gigabyte is ever downloaded.
        """
        key = dist.sha256 or hashlib.sha256(dist.url.encode()).hexdigest()
        cached = self._read_cache("wheels", key, max_age=None)
        if cached is not None:
            return cached
        info: dict[str, Any] = {"metadata": None, "names": None, "fetched_at": time.time()}
        big = dist.size is not None and dist.size > MAX_WHOLE_WHEEL
        if not big:
            info["names"], info["metadata"] = self._list_wheel(dist)
        if info["metadata"] is None and dist.has_metadata:
            with contextlib.suppress(FileNotFoundError):
                info["metadata"] = self._get(dist.url + ".metadata")[1].decode("utf-8", "replace")
        self._write_cache("wheels", key, info)
        return info

    def wheel_metadata(self, dist: DistFile) -> str | None:
        """A wheel's METADATA whatever its size: PEP 658 when served (advertised or not), else read from
        the archive's central directory by range requests (a few hundred KB of a 900 MB torch wheel)."""
        key = "metadata-" + (dist.sha256 or hashlib.sha256(dist.url.encode()).hexdigest())
        cached = self._read_cache("wheels", key, max_age=None)
        if cached is not None:
            return cached.get("metadata")
        metadata = None
        with contextlib.suppress(FileNotFoundError):
            metadata = self._get(dist.url + ".metadata")[1].decode("utf-8", "replace")
        if metadata is None:
            with contextlib.suppress(FileNotFoundError):
                metadata = self._list_wheel(dist)[1]
        self._write_cache("wheels", key, {"metadata": metadata, "fetched_at": time.time()})
        return metadata

    def _list_wheel(self, dist: DistFile) -> tuple[list[str] | None, str | None]:
        # A server that ignores Range sends the whole file: read no more than MAX_WHOLE_WHEEL of it.
        headers, tail = self._get(dist.url, headers={"Range": f"bytes=-{_TAIL}"}, limit=MAX_WHOLE_WHEEL)
        if "content-range" not in headers and len(tail) > MAX_WHOLE_WHEEL:
            return None, None
        size = _total_size(headers, len(tail))
        handle: Any = io.BytesIO(tail) if "content-range" not in headers else None
        if handle is None:
            handle = io.BufferedReader(_RangeFile(self, dist.url, size or len(tail), tail), buffer_size=65536)
        try:
            with zipfile.ZipFile(handle) as archive:
                names = archive.namelist()
                meta_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
                metadata = archive.read(meta_name).decode("utf-8", "replace") if meta_name else None
        except zipfile.BadZipFile:
            return None, None
        return names, metadata

    def advisories(self, name: str, version: str) -> list[dict[str, Any]]:
        """Known vulnerabilities of one release (PyPI JSON API `vulnerabilities`)."""
        key = f"{canonical(name)}=={version}"
        entry = self._read_cache("advisories", key, max_age=self.ttl)
        old_failure = entry is not None and "error" in entry and not self.offline
        if old_failure and entry and time.time() - entry.get("fetched_at", 0) > self.error_ttl:
            entry = None  # the failure is old: ask again
        if entry is None:
            try:
                entry = {
                    "vulnerabilities": self._fetch_advisories(name, version, key),
                    "fetched_at": time.time(),
                }
            except IndexUnavailable as exc:
                if self.offline:
                    raise
                entry = {"error": str(exc), "fetched_at": time.time()}
            self._write_cache("advisories", key, entry)
        if "error" in entry:
            raise IndexUnavailable(entry["error"])
        return list(entry["vulnerabilities"])

    def _fetch_advisories(self, name: str, version: str, key: str) -> list[dict[str, Any]]:
        url = self.advisory_url.format(name=canonical(name), version=version)
        try:
            body = json.loads(self._get(url, headers={"Accept": "application/json"})[1])
        except FileNotFoundError:
            raise IndexUnavailable(f"{url}: no advisory data for {key}") from None
        except ValueError:
            raise IndexUnavailable(f"{url}: not JSON") from None
        if not isinstance(body, dict) or "vulnerabilities" not in body:
            raise IndexUnavailable(f"{url}: the answer has no 'vulnerabilities' list")
        return list(body["vulnerabilities"])


def _total_size(headers: dict[str, str], got: int) -> int | None:
    content_range = headers.get("content-range", "")
    if "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = headers.get("content-length")
    return int(length) if length and length.isdigit() else got


def check_index_url(url: str, *, local_dir_ok: bool = False) -> None:
    """A package index is an http(s) or file URL (uv also takes a local directory); anything else is
    a typo, refused here instead of failing later as 'package not found'."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in {"http", "https", "file"} and (parts.netloc or parts.path):
        return
    if local_dir_ok and Path(url).is_dir():
        return
    raise UsageError(
        f"the package index {url!r} is not an http(s) URL",
        hint="e.g. --index-url https://pypi.org/simple (or policy.index_url / MLSHIP_INDEX_URL)",
    )


def _derive_advisory_url(index_url: str) -> str:
    """PyPI's JSON API lives beside its simple index: <root>/pypi/{name}/{version}/json."""
    root = index_url[: -len("/simple")] if index_url.endswith("/simple") else index_url
    return root + "/pypi/{name}/{version}/json"
