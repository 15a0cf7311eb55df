"""Registries: push an image by digest (through the docker engine) and copy a digest between registries.

The copy speaks the distribution v2 HTTP API directly, so the manifest bytes - and therefore the
digest - are exactly the ones that were tested: build once, promote. Credentials come from
MLSHIP_REGISTRY_USER / MLSHIP_REGISTRY_PASSWORD or docker's own config and credential helpers; they
are never written anywhere or printed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlship import proc
from mlship.errors import DeployError, InputError, ProcessError, UnreachableError

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


def split_registry(registry: str) -> tuple[str, str]:
    """`host[:port][/path]` -> (host, path prefix for repositories)."""
    host, _, prefix = registry.strip().rstrip("/").partition("/")
    if not host:
        raise InputError("empty registry address", hint="set environments.<env>.registry in mlship.yaml")
    return host, prefix


def repository_ref(registry: str, repository: str) -> str:
    host, prefix = split_registry(registry)
    return f"{host}/{prefix + '/' if prefix else ''}{repository}"


def split_ref(ref: str) -> tuple[str, str, str]:
    """`host/repo/name@sha256:...` or `host/repo/name:tag` -> (host, name, digest-or-tag)."""
    name, sep, digest = ref.partition("@")
    if not sep:
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, digest = name.rsplit(":", 1)
        else:
            digest = "latest"
    host, _, path = name.partition("/")
    if not path:
        raise InputError(f"{ref!r} names no registry", hint="expected host[:port]/repository@sha256:...")
    return host, path, digest


def _scheme(host: str) -> str:
    insecure = os.environ.get("MLSHIP_REGISTRY_INSECURE", "")
    plain = insecure == "1" or host in insecure.split(",")
    local = re.match(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$", host)
    return "http" if plain or local else "https"


def credentials(host: str) -> dict[str, str] | None:
    """username/password for `host`: environment first, then docker's config and helpers."""
    user, password = os.environ.get("MLSHIP_REGISTRY_USER"), os.environ.get("MLSHIP_REGISTRY_PASSWORD")
    if user and password:
        return {"username": user, "password": password}
    config_dir = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
    try:
        config = json.loads((config_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    helper = config.get("credHelpers", {}).get(host) or config.get("credsStore")
    if helper:
        found = _from_helper(helper, host)
        if found:
            return found
    entry = config.get("auths", {}).get(host) or config.get("auths", {}).get(f"https://{host}")
    if entry and entry.get("auth"):
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        return {"username": user, "password": password}
    return None


def _from_helper(helper: str, host: str) -> dict[str, str] | None:
    try:
        done = proc.run([f"docker-credential-{helper}", "get"], stdin=host, timeout=20, check=False)
        data = json.loads(done.stdout) if done.returncode == 0 else None
    except (ProcessError, ValueError):
        return None
    if not data or not data.get("Username"):
        return None
    return {"username": data["Username"], "password": data["Secret"]}


class RegistryClient:
    """Minimal distribution v2 client: Basic and Bearer-token auth, manifests, blobs."""

    def __init__(self, host: str):
        self.host = host
        self.base = f"{_scheme(host)}://{host}"
        self._auth: dict[str, str] = {}

    def ping(self) -> None:
        """Raise UnreachableError unless something answering the v2 API is there."""
        try:
            self._open("GET", "/v2/", scope=None)
        except DeployError as exc:
            if "401" not in exc.message:
                raise

    def _open(self, method: str, path: str, *, scope: str | None, headers=None, data=None) -> Any:
        url = path if path.startswith("http") else self.base + path
        for attempt in range(2):
            request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
            if scope in self._auth:
                request.add_header("Authorization", self._auth[scope])
            try:
                return urllib.request.urlopen(request, timeout=60)
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 0 and self._authenticate(exc, scope):
                    continue
                body = exc.read()[:300].decode(errors="replace")
                raise DeployError(
                    f"registry {self.host}: {method} {path} answered {exc.code}: {body}"
                ) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise UnreachableError(
                    f"cannot reach the registry {self.host} ({reason})",
                    hint=f"is the registry running? try `curl {self.base}/v2/`",
                ) from None
        raise DeployError(f"registry {self.host}: authentication failed for {path}")

    def _authenticate(self, error: urllib.error.HTTPError, scope: str | None) -> bool:
        creds = credentials(self.host)
        challenge = error.headers.get("WWW-Authenticate", "")
        basic = creds and base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
        if challenge.lower().startswith("basic") and basic:
            self._auth[scope] = f"Basic {basic}"  # type: ignore[index]
            return True
        if not challenge.lower().startswith("bearer"):
            return False
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        query = f"service={params.get('service', '')}" + (f"&scope={scope}" if scope else "")
        request = urllib.request.Request(f"{params['realm']}?{query}")
        if basic:
            request.add_header("Authorization", f"Basic {basic}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                token = json.loads(response.read())
        except (OSError, ValueError):
            return False
        self._auth[scope] = f"Bearer {token.get('token') or token.get('access_token')}"  # type: ignore[index]
        return True

    def manifest(self, name: str, reference: str) -> tuple[bytes, str, str]:
        """(raw bytes, media type, digest) of a manifest; InputError when it does not exist."""
        try:
            with self._open(
                "GET",
                f"/v2/{name}/manifests/{reference}",
                scope=f"repository:{name}:pull",
                headers={"Accept": MANIFEST_TYPES},
            ) as response:
                raw = response.read()
                kind = response.headers.get("Content-Type", "")
                digest = response.headers.get("Docker-Content-Digest", "")
        except DeployError as exc:
            if " 404" in exc.message or "MANIFEST_UNKNOWN" in exc.message:
                raise InputError(f"{self.host}/{name}@{reference} does not exist in the registry") from None
            raise
        return raw, kind, digest

    def has_blob(self, name: str, digest: str) -> bool:
        try:
            self._open("HEAD", f"/v2/{name}/blobs/{digest}", scope=f"repository:{name}:pull,push").close()
        except DeployError:
            return False
        return True

    def copy_blob(self, source: RegistryClient, src_name: str, name: str, descriptor: dict) -> None:
        digest, size = descriptor["digest"], descriptor.get("size")
        if self.has_blob(name, digest):
            return
        scope = f"repository:{name}:pull,push"
        with self._open("POST", f"/v2/{name}/blobs/uploads/", scope=scope, data=b"") as started:
            location = started.headers["Location"]
        if not location.startswith("http"):
            location = self.base + location
        joiner = "&" if "?" in location else "?"
        with source._open(
            "GET", f"/v2/{src_name}/blobs/{digest}", scope=f"repository:{src_name}:pull"
        ) as blob:
            length = size if size is not None else blob.headers.get("Content-Length")
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
            self._open(
                "PUT", f"{location}{joiner}digest={digest}", scope=scope, headers=headers, data=blob
            ).close()

    def put_manifest(self, name: str, reference: str, raw: bytes, kind: str) -> str:
        with self._open(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            scope=f"repository:{name}:pull,push",
            headers={"Content-Type": kind},
            data=raw,
        ) as response:
            return response.headers.get("Docker-Content-Digest", "")


def copy_image(
    source_ref: str, registry: str, repository: str, tag: str, report: Callable[[str], None]
) -> str:
    """Copy `host/name@digest` to `registry/repository:tag` byte for byte; the new reference by digest."""
    src_host, src_name, reference = split_ref(source_ref)
    dst_host, prefix = split_registry(registry)
    dst_name = f"{prefix}/{repository}" if prefix else repository
    source, target = RegistryClient(src_host), RegistryClient(dst_host)
    target.ping()
    _copy_manifest(source, src_name, target, dst_name, reference, report)
    raw, kind, digest = source.manifest(src_name, reference)
    target.put_manifest(dst_name, tag, raw, kind)
    return f"{dst_host}/{dst_name}@{digest}"


def _copy_manifest(source, src_name, target, dst_name, reference, report) -> None:  # type: ignore[no-untyped-def]
    raw, kind, digest = source.manifest(src_name, reference)
    document = json.loads(raw)
    if kind in INDEX_TYPES or "manifests" in document:
        for child in document.get("manifests", []):
            _copy_manifest(source, src_name, target, dst_name, child["digest"], report)
    else:
        blobs = [document["config"], *document.get("layers", [])]
        for i, blob in enumerate(blobs, 1):
            report(f"blob {i}/{len(blobs)} {blob['digest'][7:19]} ({blob.get('size', 0) / 1e6:.1f} MB)")
            target.copy_blob(source, src_name, dst_name, blob)
    target.put_manifest(dst_name, digest, raw, kind)
