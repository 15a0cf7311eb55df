"""The image a deploy ships: find it, read its labels, push it by digest with progress, pull it back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship import labels
from mlship.deploy.registry import RegistryClient, credentials, repository_ref, split_registry
from mlship.engine import split_tag
from mlship.errors import DeployError, InputError, UnreachableError


@dataclass
class ImageInfo:
    ref: str  # what the target runs: repo@sha256:... or the local image id
    digest: str
    version: str
    model_sha256: str | None
    image_id: str


def build_record_image(record: Path) -> str | None:
    """The image the last `mlship build` made (its record: `Project.last_build_file`)."""
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    image = data.get("image") if isinstance(data, dict) else None
    return image if isinstance(image, str) and image else None


def local_image(client: Any, ref: str) -> Any:
    """The image `ref` on the engine; pulled if it names a registry and is not there yet."""
    from docker.errors import APIError, ImageNotFound

    try:
        return client.images.get(ref)
    except ImageNotFound:
        pass
    except APIError as exc:
        raise DeployError(f"docker could not inspect {ref}: {exc.explanation}") from None
    if "/" in ref and ("." in ref.split("/")[0] or ":" in ref.split("/")[0]):
        try:
            host = ref.split("/")[0]
            return client.images.pull(ref, auth_config=credentials(host))
        except (ImageNotFound, APIError) as exc:
            raise InputError(f"image {ref} is not on the engine and cannot be pulled ({_why(exc)})") from None
    raise InputError(
        f"image {ref} does not exist on the docker engine",
        hint="run `mlship build` first, or pass --image with an existing reference",
    )


def describe(image: Any, ref: str, fallback_version: str) -> ImageInfo:
    """Version and model digest from the image's labels; the reference pinned by digest or id."""
    values = image.labels or {}
    pinned = "@" in ref
    return ImageInfo(
        ref=ref if pinned else image.id,
        digest=ref.split("@", 1)[1] if pinned else image.id,
        version=values.get(labels.VERSION) or fallback_version,
        model_sha256=values.get(labels.MODEL_SHA256) or None,
        image_id=image.id,
    )


def push(
    client: Any, image: Any, *, registry: str, repository: str, tag: str, report: Callable[[str], None]
) -> str:
    """Tag and push `image`; returns `registry/repository@sha256:...`. Progress goes to `report`."""
    host, _ = split_registry(registry)
    RegistryClient(host).ping()  # a clear exit 3 before anything is tagged or sent
    target = repository_ref(registry, repository)
    image.tag(target, tag=tag)
    return f"{target}@{push_ref(client, f'{target}:{tag}', report=report)}"


def push_ref(client: Any, ref: str, *, report: Callable[[str], None]) -> str:
    """Push the local image tagged `host/repository:tag` with the registry's credentials (`credentials`);
    returns the manifest digest. The one push path: `mlship deploy` and `mlship build --push`."""
    from docker.errors import APIError

    target, tag = split_tag(ref)
    host = target.split("/", 1)[0]
    digest, layers = None, {}
    try:
        for event in client.api.push(
            target, tag=tag, stream=True, decode=True, auth_config=credentials(host)
        ):
            if "error" in event:
                raise _push_error(host, event["error"])
            if event.get("aux", {}).get("Digest"):
                digest = event["aux"]["Digest"]
            if event.get("id") and event.get("status"):
                layers[event["id"]] = event["status"]
                done = sum(1 for s in layers.values() if s in ("Pushed", "Layer already exists"))
                report(f"{done}/{len(layers)} layers · {event['id']}: {event['status']}")
    except APIError as exc:
        raise _push_error(host, str(exc.explanation)) from None
    if not digest:
        raise DeployError(f"pushing {target}:{tag} reported no digest")
    return str(digest)


def _push_error(host: str, message: str) -> Exception:
    lowered = message.lower()
    unreachable = ("connection refused", "no such host", "timeout", "dial tcp", "server gave http response")
    if any(s in lowered for s in unreachable):
        return UnreachableError(f"cannot reach the registry {host} ({message.strip()[:200]})")
    if any(s in lowered for s in ("unauthorized", "denied", "no basic auth credentials")):
        return DeployError(
            f"the registry {host} refused the push ({message.strip()[:200]})",
            hint="log in with `docker login` or set MLSHIP_REGISTRY_USER and MLSHIP_REGISTRY_PASSWORD",
        )
    return DeployError(f"pushing to {host} failed: {message.strip()[:300]}")


def _why(exc: Exception) -> str:
    return str(getattr(exc, "explanation", None) or exc).strip().splitlines()[0][:200]
