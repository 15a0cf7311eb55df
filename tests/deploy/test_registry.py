"""The registry client against what real registries do: blobs redirected to object storage, bearer
challenges, broken credentials, cross-repository mounts (with the real registries on 127.0.0.1:5000).

The "source registry" here is a small real HTTP server (Basic auth, blobs redirected to a second server
on another host name, as S3-backed registries do); the target is the real Debian docker-registry.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlship.deploy.registry import RegistryClient, copy_image, credentials
from mlship.errors import ExitCode, InputError, UnreachableError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
USER, PASSWORD = "seams13", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image() -> tuple[bytes, dict[str, bytes]]:
    """A tiny but well-formed OCI image: one gzip layer holding one file, its config, the manifest."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        payload = f"seams13 {uuid.uuid4().hex}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar_bytes.getvalue())]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return manifest, {_digest(config): config, _digest(layer): layer}


@dataclass
class Server:
    url: str
    port: int
    seen: list[dict[str, str]] = field(default_factory=list)  # headers of every request, in order
    paths: list[str] = field(default_factory=list)


def _serve(handler_cls: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def storage() -> Iterator[tuple[Server, dict[str, bytes]]]:
    """'Object storage': serves blobs by a signed-looking URL, records the headers it was sent."""
    blobs: dict[str, bytes] = {}
    record = Server("", 0)

    class Storage(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            record.seen.append(dict(self.headers))
            record.paths.append(self.path)
            data = blobs.get(self.path.split("?")[0].rsplit("/", 1)[-1])
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    for httpd in _serve(Storage):
        # Another host name than the registry's (127.0.0.1): a different origin, as S3 is.
        record.port = httpd.server_address[1]
        record.url = f"http://localhost:{record.port}"
        yield record, blobs


def _source_registry(
    manifest: bytes, blobs: dict[str, bytes], storage_url: str, challenge: str
) -> type[BaseHTTPRequestHandler]:
    class Source(BaseHTTPRequestHandler):
        """A v2 registry that wants credentials and sends blob GETs to object storage (307)."""

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.headers.get("Authorization") != BASIC:
                self.send_response(401)
                self.send_header("WWW-Authenticate", challenge)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if "/manifests/" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", OCI_MANIFEST)
                self.send_header("Docker-Content-Digest", _digest(manifest))
                self.send_header("Content-Length", str(len(manifest)))
                self.end_headers()
                self.wfile.write(manifest)
            elif "/blobs/" in self.path:
                digest = self.path.rsplit("/", 1)[-1]
                self.send_response(307)
                self.send_header("Location", f"{storage_url}/bucket/{digest}?X-Amz-Signature=abc")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

    return Source


@pytest.fixture
def registry() -> str:
    """The real registry the tests push to (Debian docker-registry, started by scripts/test.sh)."""
    from .deploy_helpers import require_docker

    require_docker()
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    port = os.environ.get("MLSHIP_TEST_REGISTRY", "127.0.0.1:5000").rsplit(":", 1)[-1]
    return subprocess.run(
        [str(root / "scripts" / "registry.sh"), "start", port], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.docker
def test_a_blob_redirected_to_another_host_gets_no_registry_credentials(
    storage: tuple[Server, dict[str, bytes]], registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, blobs = storage
    manifest, image_blobs = _image()
    blobs.update(image_blobs)
    monkeypatch.setenv("MLSHIP_REGISTRY_USER", USER)
    monkeypatch.setenv("MLSHIP_REGISTRY_PASSWORD", PASSWORD)
    source = _source_registry(manifest, image_blobs, store.url, 'Basic realm="seams13"')
    for httpd in _serve(source):
        src = f"127.0.0.1:{httpd.server_address[1]}/team/app@{_digest(manifest)}"
        repo = f"seams13-redirect-{uuid.uuid4().hex[:8]}"
        ref = copy_image(src, registry, repo, "v1", lambda line: None)
    assert ref == f"{registry}/{repo}@{_digest(manifest)}"
    # Both blobs came from storage, and storage never saw the registry's credentials.
    assert sorted(p.split("?")[0].rsplit("/", 1)[-1] for p in store.paths) == sorted(image_blobs)
    assert all("Authorization" not in headers for headers in store.seen), store.seen
    # The copy is byte for byte: the real registry serves the same manifest and blobs.
    raw, _, digest = RegistryClient(registry).manifest(repo, "v1")
    assert raw == manifest and digest == _digest(manifest)


def test_a_bearer_challenge_without_realm_is_a_clear_error(
    storage: tuple[Server, dict[str, bytes]],
) -> None:
    store, _ = storage
    manifest, image_blobs = _image()
    source = _source_registry(manifest, image_blobs, store.url, 'Bearer service="seams13"')
    for httpd in _serve(source):
        client = RegistryClient(f"127.0.0.1:{httpd.server_address[1]}")
        with pytest.raises(UnreachableError) as err:
            client.manifest("team/app", "v1")
    assert err.value.exit_code == ExitCode.UNREACHABLE
    assert "names no token service" in err.value.message and 'service="seams13"' in err.value.message


@pytest.mark.parametrize("auth", ["%%%not-base64%%%", base64.b64encode(b"no-colon-here").decode(), 42])
def test_a_malformed_credentials_entry_names_the_file_and_the_key(
    auth: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLSHIP_REGISTRY_USER", raising=False)
    monkeypatch.delenv("MLSHIP_REGISTRY_PASSWORD", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"reg.example": {"auth": auth}}}))
    with pytest.raises(InputError) as err:
        credentials("reg.example")
    assert err.value.exit_code == ExitCode.USAGE
    assert str(tmp_path / "config.json") in err.value.message
    assert 'auths["reg.example"].auth' in err.value.message


def test_an_unreadable_docker_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLSHIP_REGISTRY_USER", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text('{"auths": {')
    with pytest.raises(InputError, match="config.json is not valid JSON"):
        credentials("reg.example")


@pytest.mark.docker
def test_promoting_within_one_registry_mounts_the_blobs(
    storage: tuple[Server, dict[str, bytes]], registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two repositories on one real registry: the blobs are mounted (POST ...?mount=&from=), not sent."""
    store, blobs = storage
    manifest, image_blobs = _image()
    blobs.update(image_blobs)
    monkeypatch.setenv("MLSHIP_REGISTRY_USER", USER)
    monkeypatch.setenv("MLSHIP_REGISTRY_PASSWORD", PASSWORD)
    staging, prod = (f"seams13-{env}-{uuid.uuid4().hex[:8]}" for env in ("staging", "prod"))
    source = _source_registry(manifest, image_blobs, store.url, 'Basic realm="seams13"')
    for httpd in _serve(source):
        src = f"127.0.0.1:{httpd.server_address[1]}/team/app@{_digest(manifest)}"
        first = copy_image(src, registry, staging, "v1", lambda line: None)
    lines: list[str] = []
    promoted = copy_image(first, registry, prod, "v1", lines.append)
    assert promoted == f"{registry}/{prod}@{_digest(manifest)}"
    assert len(lines) == 2 and all(line.endswith(" mounted") for line in lines), lines
    raw, _, _ = RegistryClient(registry).manifest(prod, "v1")
    assert raw == manifest
    # A second promotion finds the blobs there already.
    lines.clear()
    copy_image(first, registry, prod, "v2", lines.append)
    assert all(line.endswith(" present") for line in lines), lines
