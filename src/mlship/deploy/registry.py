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


def split_pinned(ref: str) -> tuple[str, str, str]:
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
    """username/password for `host`: environment first, then docker's config and helpers.

    A docker config that cannot be read as docker writes it is an InputError naming the file and key.
    """
    user, password = os.environ.get("MLSHIP_REGISTRY_USER"), os.environ.get("MLSHIP_REGISTRY_PASSWORD")
    if user and password:
        return {"username": user, "password": password}
    path = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        text = path.read_text()
    except OSError:
        return None
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON ({exc})", hint=_FIX_CONFIG) from None
    if not isinstance(config, dict):
        raise InputError(f"{path} does not hold a JSON object", hint=_FIX_CONFIG)
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        found = _from_helper(helper, host)
        if found:
            return found
    auths = config.get("auths") or {}
    key = host if host in auths else f"https://{host}"
    entry = auths.get(key)
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        name, sep, secret = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
    except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        sep = ""
    if not sep:
        raise InputError(
            f'{path}: auths["{key}"].auth is not base64 of "user:password"',
            hint=f"log in again (`docker login {host}`), or remove that entry",
        )
    return {"username": name, "password": secret}


_FIX_CONFIG = "repair it (`docker login` rewrites it), or point DOCKER_CONFIG at another directory"


def _from_helper(helper: str, host: str) -> dict[str, str] | None:
    try:
        done = proc.run([f"docker-credential-{helper}", "get"], stdin=host, timeout=20, check=False)
        data = json.loads(done.stdout) if done.returncode == 0 else None
    except (ProcessError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("Username"):
        return None
    return {"username": data["Username"], "password": data["Secret"]}


class RegistryClient:
    """Minimal distribution v2 client: Basic and Bearer-token auth, manifests, blobs.

    httpx follows a blob GET redirected to object storage and drops `Authorization` when the redirect
    leaves the registry's origin (the storage URL is signed; the registry's credentials are not its).
    """

    def __init__(self, host: str):
        import httpx

        self.host = host
        self.base = f"{_scheme(host)}://{host}"
        self._auth: dict[str | None, str] = {}
        self._http = httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15.0))

    def ping(self) -> None:
        """Raise UnreachableError unless something answering the v2 API is there (401 counts)."""
        response = self._send("GET", "/v2/", scope=None, authenticate=False, ok=(200, 401))
        response.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        scope: str | None,
        headers: dict[str, str] | None = None,
        content: Any = None,
        stream: bool = False,
        authenticate: bool = True,
        ok: tuple[int, ...] = (),
    ) -> Any:
        """One request, authenticated for `scope` (once more after a 401 challenge); an httpx.Response.

        A status >= 400 that is not in `ok` is a DeployError; no answer is UnreachableError.
        """
        import httpx

        url = path if path.startswith("http") else self.base + path
        for attempt in range(2):
            sent = dict(headers or {})
            if scope in self._auth:
                sent["Authorization"] = self._auth[scope]
            try:
                request = self._http.build_request(method, url, headers=sent, content=content)
                response = self._http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise UnreachableError(
                    f"cannot reach the registry {self.host} ({type(exc).__name__}: {exc})",
                    hint=f"is the registry running? try `curl {self.base}/v2/`",
                ) from None
            if response.status_code < 400 or response.status_code in ok:
                return response
            body = response.read()[:300].decode(errors="replace")
            response.close()
            challenge = response.headers.get("WWW-Authenticate", "")
            if (
                response.status_code == 401
                and authenticate
                and attempt == 0
                and self._authenticate(challenge, scope)
            ):
                continue
            raise DeployError(
                f"registry {self.host}: {method} {path} answered {response.status_code}: {body}"
            )
        raise DeployError(f"registry {self.host}: authentication failed for {path}")

    def _authenticate(self, challenge: str, scope: str | None) -> bool:
        import httpx

        creds = credentials(self.host)
        basic = creds and base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
        if challenge.lower().startswith("basic") and basic:
            self._auth[scope] = f"Basic {basic}"
            return True
        if not challenge.lower().startswith("bearer"):
            return False
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if not params.get("realm", "").startswith(("http://", "https://")):
            raise UnreachableError(
                f"registry {self.host} asks for a bearer token but names no token service "
                f"(WWW-Authenticate: {challenge[:200]})",
                hint="the registry's auth is misconfigured, or the address is a proxy in front of it; "
                "check environments.<env>.registry",
            )
        query: list[tuple[str, str | int | float | bool | None]] = [("service", params.get("service", ""))]
        query += [("scope", one) for one in (scope or "").split()]
        try:
            answer = self._http.get(
                params["realm"], params=query, headers={"Authorization": f"Basic {basic}"} if basic else {}
            )
            token = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return False
        value = token.get("token") or token.get("access_token") if isinstance(token, dict) else None
        if not value:
            return False
        self._auth[scope] = f"Bearer {value}"
        return True

    def manifest(self, name: str, reference: str) -> tuple[bytes, str, str]:
        """(raw bytes, media type, digest) of a manifest; InputError when it does not exist."""
        try:
            response = self._send(
                "GET",
                f"/v2/{name}/manifests/{reference}",
                scope=f"repository:{name}:pull",
                headers={"Accept": MANIFEST_TYPES},
            )
        except DeployError as exc:
            if " 404" in exc.message or "MANIFEST_UNKNOWN" in exc.message:
                raise InputError(f"{self.host}/{name}@{reference} does not exist in the registry") from None
            raise
        kind = response.headers.get("Content-Type", "")
        return response.content, kind, response.headers.get("Docker-Content-Digest", "")

    def has_blob(self, name: str, digest: str) -> bool:
        response = self._send(
            "HEAD", f"/v2/{name}/blobs/{digest}", scope=f"repository:{name}:pull,push", ok=(404,)
        )
        return response.status_code < 400

    def copy_blob(self, source: RegistryClient, src_name: str, name: str, descriptor: dict) -> str:
        """Put one blob into `name`: 'present' already, 'mounted' from the source repository on the same
        registry (no bytes move), or 'copied' (streamed from the source). Returns which."""
        digest, size = descriptor["digest"], descriptor.get("size")
        if self.has_blob(name, digest):
            return "present"
        scope = f"repository:{name}:pull,push"
        path = f"/v2/{name}/blobs/uploads/"
        if source.host == self.host and src_name != name:
            scope += f" repository:{src_name}:pull"
            path += f"?mount={digest}&from={src_name}"
        started = self._send("POST", path, scope=scope, content=b"")
        started.close()
        if started.status_code == 201:  # mounted; a 202 is an ordinary upload (mount refused)
            return "mounted"
        location = started.headers["Location"]
        if not location.startswith("http"):
            location = self.base + location
        joiner = "&" if "?" in location else "?"
        blob = source._send(
            "GET", f"/v2/{src_name}/blobs/{digest}", scope=f"repository:{src_name}:pull", stream=True
        )
        try:
            length = size if size is not None else blob.headers.get("Content-Length")
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
            self._send(
                "PUT",
                f"{location}{joiner}digest={digest}",
                scope=scope,
                headers=headers,
                content=blob.iter_bytes(),
            ).close()
        finally:
            blob.close()
        return "copied"

    def put_manifest(self, name: str, reference: str, raw: bytes, kind: str) -> str:
        response = self._send(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            scope=f"repository:{name}:pull,push",
            headers={"Content-Type": kind},
            content=raw,
        )
        return response.headers.get("Docker-Content-Digest", "")


def copy_image(
    source_ref: str, registry: str, repository: str, tag: str, report: Callable[[str], None]
) -> str:
    """Copy `host/name@digest` to `registry/repository:tag` byte for byte; the new reference by digest."""
    src_host, src_name, reference = split_pinned(source_ref)
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
            how = target.copy_blob(source, src_name, dst_name, blob)
            report(f"blob {i}/{len(blobs)} {blob['digest'][7:19]} ({blob.get('size', 0) / 1e6:.1f} MB) {how}")
    target.put_manifest(dst_name, digest, raw, kind)
