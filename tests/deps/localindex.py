"""A real local package index for the deps tests and benchmark.

`build_tree` writes small, valid wheels (and sdists) with controlled metadata into a directory, with an
`index.json` that sets each file's upload time (days before now), yanked state and advisories.
`python localindex.py serve DIR` serves it over HTTP on 127.0.0.1: PEP 691 JSON (with PEP 700
upload-time, PEP 592 yanked, requires-python, PEP 714 core-metadata) or PEP 503 HTML by content
negotiation, files with Range support, and a PyPI-style `/pypi/<name>/<version>/json` with
`vulnerabilities`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same inputs give the same bytes and hashes


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(name: str, version: str, requires_python: str | None, requires: list[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_python: str | None = None,
    requires: list[str] | None = None,
    modules: list[str] | None = None,
) -> Path:
    """A valid wheel (METADATA, WHEEL, RECORD) whose packages are `modules` (default: the name)."""
    dist = re.sub(r"[-.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for module in modules or [dist.lower()]:
        files[f"{module.replace('.', '/')}/__init__.py"] = f'"""{name} {version} (test stub)."""\n'.encode()
    files[f"{info}/METADATA"] = _metadata(name, version, requires_python, requires or []).encode()
    files[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: mlship-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    )
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join(record + [f"{info}/RECORD,,"]) + "\n").encode()
    path = directory / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(zipfile.ZipInfo(member, _EPOCH), data)
    return path


def make_sdist(directory: Path, name: str, version: str) -> Path:
    dist = re.sub(r"[-.]+", "_", name)
    path = directory / f"{dist}-{version}.tar.gz"
    data = _metadata(name, version, None, []).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.USTAR_FORMAT) as archive:
        member = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        member.size, member.mtime = len(data), 0
        archive.addfile(member, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def build_tree(
    directory: Path,
    packages: list[dict[str, Any]],
    vulnerabilities: dict[str, list] | None = None,
    real_files: list[tuple[Path, int]] | None = None,
) -> Path:
    """packages: [{name, version, days_ago, yanked?, tag?, requires_python?, requires?, modules?, sdist?}]."""
    files_dir = directory / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    index: dict[str, list[dict[str, Any]]] = {}
    for spec in packages:
        made = []
        if spec.get("wheel", True):
            made.append(
                make_wheel(
                    files_dir,
                    spec["name"],
                    spec["version"],
                    tag=spec.get("tag", "py3-none-any"),
                    requires_python=spec.get("requires_python"),
                    requires=spec.get("requires"),
                    modules=spec.get("modules"),
                )
            )
        if spec.get("sdist"):
            made.append(make_sdist(files_dir, spec["name"], spec["version"]))
        uploaded = (now - timedelta(days=spec["days_ago"])).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for path in made:
            index.setdefault(_norm(spec["name"]), []).append(
                {
                    "filename": path.name,
                    "upload-time": uploaded,
                    "yanked": spec.get("yanked", False),
                    "requires-python": spec.get("requires_python"),
                }
            )
    for real, days_ago in real_files or []:
        # Real wheels downloaded from PyPI: served byte for byte, with a controlled upload time.
        shutil.copyfile(real, files_dir / real.name)
        name = real.name.split("-")[0]
        uploaded = (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        index.setdefault(_norm(name), []).append(
            {"filename": real.name, "upload-time": uploaded, "yanked": False, "requires-python": None}
        )
    (directory / "index.json").write_text(
        json.dumps({"projects": index, "vulnerabilities": vulnerabilities or {}}, indent=1), encoding="utf-8"
    )
    return directory


class _Handler(BaseHTTPRequestHandler):
    tree: Path
    data: dict[str, Any]
    html_only = False

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["simple"] and len(parts) == 2:
            return self._project(_norm(parts[1]))
        if parts[:1] == ["files"] and len(parts) == 2:
            return self._file(parts[1])
        if parts[:1] == ["pypi"] and len(parts) == 4 and parts[3] == "json":
            return self._advisories(_norm(parts[1]), parts[2])
        self._send(404, b"not found", "text/plain")

    def _entries(self, name: str) -> list[dict[str, Any]]:
        return self.data["projects"].get(name, [])

    def _project(self, name: str) -> None:
        entries = self._entries(name)
        if not entries:
            return self._send(404, b"not found", "text/plain")
        files = []
        for entry in entries:
            blob = (self.tree / "files" / entry["filename"]).read_bytes()
            item = {
                "filename": entry["filename"],
                "url": f"/files/{entry['filename']}",
                "hashes": {"sha256": hashlib.sha256(blob).hexdigest()},
                "requires-python": entry["requires-python"],
                "yanked": entry["yanked"],
                "upload-time": entry["upload-time"],
                "size": len(blob),
            }
            if entry["filename"].endswith(".whl"):
                meta = self._wheel_metadata(entry["filename"])
                item["core-metadata"] = {"sha256": hashlib.sha256(meta).hexdigest()}
            files.append(item)
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "") and not self.html_only:
            body = {
                "meta": {"api-version": "1.1"},
                "name": name,
                "files": files,
                "versions": sorted({e["filename"].split("-")[1] for e in entries}),
            }
            return self._send(200, json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json")
        links = []
        for f in files:
            attrs = f' data-requires-python="{f["requires-python"]}"' if f["requires-python"] else ""
            if f["yanked"]:
                attrs += f' data-yanked="{f["yanked"] if isinstance(f["yanked"], str) else ""}"'
            links.append(
                f'<a href="{f["url"]}#sha256={f["hashes"]["sha256"]}"{attrs}>{f["filename"]}</a><br/>'
            )
        html = "<!DOCTYPE html><html><body>" + "\n".join(links) + "</body></html>"
        self._send(200, html.encode(), "text/html")

    def _wheel_metadata(self, filename: str) -> bytes:
        with zipfile.ZipFile(self.tree / "files" / filename) as archive:
            member = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            return archive.read(member)

    def _file(self, filename: str) -> None:
        if filename.endswith(".metadata"):
            return self._send(200, self._wheel_metadata(filename[: -len(".metadata")]), "text/plain")
        path = self.tree / "files" / filename
        if not path.is_file():
            return self._send(404, b"not found", "text/plain")
        blob = path.read_bytes()
        match = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if not match:
            return self._send(200, blob, "application/octet-stream", {"Accept-Ranges": "bytes"})
        start_s, end_s = match.groups()
        if start_s:
            start, end = int(start_s), min(int(end_s) if end_s else len(blob) - 1, len(blob) - 1)
        else:
            start, end = max(0, len(blob) - int(end_s)), len(blob) - 1
        self._send(
            206,
            blob[start : end + 1],
            "application/octet-stream",
            {"Content-Range": f"bytes {start}-{end}/{len(blob)}", "Accept-Ranges": "bytes"},
        )

    def _advisories(self, name: str, version: str) -> None:
        known = {e["filename"].split("-")[1].split("+")[0] for e in self._entries(name)}
        if version not in known:
            return self._send(404, b"not found", "text/plain")
        vulns = self.data.get("vulnerabilities", {}).get(f"{name}=={version}", [])
        body = {"info": {"name": name, "version": version}, "vulnerabilities": vulns}
        self._send(200, json.dumps(body).encode(), "application/json")


def serve(tree: Path, port: int = 0, html_only: bool = False) -> ThreadingHTTPServer:
    handler = type(
        "Handler",
        (_Handler,),
        {
            "tree": tree,
            "data": json.loads((tree / "index.json").read_text()),
            "html_only": html_only,
        },
    )
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


class IndexProcess:
    """The index server as a child process (a real HTTP server, as a user's index would be)."""

    def __init__(self, tree: Path, *, html_only: bool = False):
        argv = [sys.executable, __file__, "serve", str(tree)] + (["--html-only"] if html_only else [])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("port "):
            self.proc.kill()
            raise RuntimeError(f"the local index did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/simple"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "serve":
        server = serve(Path(argv[1]), html_only="--html-only" in argv)
        print(f"port {server.server_address[1]}", flush=True)
        deadline = time.time() + 3600  # never outlive a test session by much
        server.timeout = 1.0
        while time.time() < deadline:
            server.handle_request()
    else:
        sys.exit("usage: localindex.py serve DIR [--html-only]")


if __name__ == "__main__":
    main(sys.argv[1:])
