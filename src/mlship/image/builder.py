"""Image builders behind one interface; the docker engine's classic builder through the SDK is the one here.

BuildKit is not reachable through the docker SDK for Python (it speaks only the engine's classic
`/build` API; BuildKit needs the `/session` gRPC stream that the docker CLI's buildx drives), so
mlship builds with the classic builder and gets cache-friendly, reproducible layers by itself:
multi-stage Dockerfile, a normalized context tar, mtime clamping inside RUN steps.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from mlship.engine import split_tag
from mlship.errors import BuildError, UnreachableError

LineSink = Callable[[str], None]
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "dial tcp", "server gave HTTP response")
LOCAL_BASE_HINT = (
    "build on a base this engine has: set MLSHIP_BASE_IMAGE (or image.base in mlship.yaml, or --base) "
    "to a local image with python3; scripts/base-image.sh in mlship's repository builds one "
    "(mlship-base:bookworm) from Debian packages without pulling anything"
)


@dataclass
class BuildLog:
    """What the engine said: every line, the steps, which came from the cache."""

    lines: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        for line in text.splitlines():
            if not line.strip():
                continue
            self.lines.append(line)
            match = _STEP.match(line)
            if match:
                self.steps.append(match.group(3))
            elif line.strip() == "---> Using cache" and self.steps:
                self.cached.append(self.steps[-1])

    def failing_step_tail(self, lines: int = 30) -> str:
        """The output since the last step began (the failing step's own log), at most `lines` lines."""
        start = max((i for i, line in enumerate(self.lines) if _STEP.match(line)), default=0)
        return "\n".join(self.lines[start:][-lines:])


@dataclass(frozen=True)
class EngineImage:
    """What the engine holds for an image it built (deploy.images.ImageInfo is the release shipped)."""

    id: str
    size: int
    layers: list[str]
    repo_digests: list[str]
    labels: dict[str, str]
    architecture: str


class ImageBuilder(ABC):
    """Build an image from a context tar and report it; a second backend is a new subclass."""

    name: str

    @abstractmethod
    def build(
        self,
        context: IO[bytes],
        *,
        labels: Mapping[str, str],
        platform: str | None,
        network: str,
        nocache: bool,
        on_line: LineSink,
        log: BuildLog,
    ) -> str:
        """Build; return the image id. Tags nothing: a failed build leaves no tag behind."""

    @abstractmethod
    def tag(self, image_id: str, ref: str) -> None: ...

    @abstractmethod
    def inspect(self, ref: str) -> EngineImage: ...

    @abstractmethod
    def has_image(self, ref: str) -> bool: ...

    @abstractmethod
    def pull(self, ref: str, platform: str | None, on_line: LineSink) -> None:
        """Pull a base image the engine lacks; an error that says how to use a local base."""

    @abstractmethod
    def push(self, ref: str, on_line: LineSink) -> str:
        """Push `ref`; return the registry's manifest digest."""

    @abstractmethod
    def load(self, archive: IO[bytes]) -> None:
        """Load a docker-save archive (layers the engine holds may be left out of it)."""

    @abstractmethod
    def run_python(self, image: str, script: str) -> str:
        """Run `python3 -c script` in `image` without network; its stdout."""

    @abstractmethod
    def image_config(self, ref: str) -> dict[str, Any]: ...

    @abstractmethod
    def history(self, ref: str) -> list[dict[str, Any]]: ...


class DockerClassicBuilder(ImageBuilder):
    name = "docker-classic"

    def __init__(self, client: Any | None = None):
        from mlship.engine import docker_client

        # Builds can be silent for minutes (a large pip install): a long read timeout.
        self.client = client or docker_client(timeout=3600)

    def build(self, context, *, labels, platform, network, nocache, on_line, log) -> str:  # type: ignore[no-untyped-def]
        from docker.errors import APIError
        from requests.exceptions import ConnectionError as RequestsConnectionError

        kwargs: dict[str, Any] = dict(
            fileobj=context,
            custom_context=True,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels=dict(labels),
            network_mode=network,
            nocache=nocache,
        )
        if platform:
            kwargs["platform"] = platform
        image_id = None
        try:
            for event in self.client.api.build(**kwargs):
                image_id = self._event(event, log, on_line) or image_id
        except APIError as exc:
            raise BuildError(
                f"the docker engine refused the build: {exc.explanation or exc}",
                details=log.failing_step_tail() or None,
            ) from None
        except RequestsConnectionError as exc:
            raise UnreachableError(f"lost the docker engine during the build ({exc})") from None
        if image_id is None:
            raise BuildError(
                "the build finished without an image id", details=log.failing_step_tail() or None
            )
        return image_id

    @staticmethod
    def _event(event: Mapping[str, Any], log: BuildLog, on_line: LineSink) -> str | None:
        if "error" in event:
            message = str(event.get("errorDetail", {}).get("message") or event["error"]).strip()
            log.add(message)
            step = log.steps[-1] if log.steps else "the build"
            raise BuildError(
                f"the image build failed at `{step[:160]}`: {message.splitlines()[-1][:300]}",
                hint=_failure_hint(message),
                details=log.failing_step_tail(),
            )
        if "stream" in event:
            text = str(event["stream"])
            log.add(text)
            for line in text.splitlines():
                if line.strip():
                    on_line(line.rstrip())
        elif "status" in event and "progressDetail" not in event:
            on_line(str(event["status"]))
        aux = event.get("aux")
        if isinstance(aux, Mapping) and "ID" in aux:
            return str(aux["ID"])
        return None

    def engine_arch(self) -> str:
        return str(self.client.version().get("Arch") or "amd64")

    def tag(self, image_id: str, ref: str) -> None:
        repo, tag = split_tag(ref)
        self.client.api.tag(image_id, repo, tag=tag, force=True)

    def has_image(self, ref: str) -> bool:
        from docker.errors import ImageNotFound

        try:
            self.client.api.inspect_image(ref)
        except ImageNotFound:
            return False
        return True

    def inspect(self, ref: str) -> EngineImage:
        data = self.client.api.inspect_image(ref)
        return EngineImage(
            id=data["Id"],
            size=int(data.get("Size") or 0),
            layers=list(data.get("RootFS", {}).get("Layers") or []),
            repo_digests=list(data.get("RepoDigests") or []),
            labels=dict((data.get("Config") or {}).get("Labels") or {}),
            architecture=str(data.get("Architecture") or ""),
        )

    def load(self, archive: IO[bytes]) -> None:
        from docker.errors import APIError

        try:
            for event in self.client.api.load_image(archive):
                if "error" in event:
                    raise BuildError(f"the docker engine refused the image: {event['error']}")
        except APIError as exc:
            raise BuildError(f"the docker engine refused the image: {exc.explanation or exc}") from None

    def run_python(self, image: str, script: str) -> str:
        from docker.errors import APIError

        api = self.client.api
        try:
            container = api.create_container(image, ["python3", "-c", script], network_disabled=True)
        except APIError as exc:
            raise BuildError(f"cannot start the base image {image}: {exc.explanation or exc}") from None
        try:
            try:
                api.start(container)
            except APIError as exc:
                raise BuildError(
                    f"the base image {image} cannot run python3: {exc.explanation or exc}",
                    hint="choose a base with python3 (--base / image.base / MLSHIP_BASE_IMAGE)",
                ) from None
            status = api.wait(container, timeout=120).get("StatusCode")
            out = api.logs(container, stdout=True, stderr=False).decode(errors="replace")
            if status != 0:
                err = api.logs(container, stdout=False, stderr=True).decode(errors="replace")
                raise BuildError(
                    f"python3 in the base image {image} exited with {status}", details=err[-2000:]
                )
            return str(out)
        finally:
            api.remove_container(container, force=True)

    def image_config(self, ref: str) -> dict[str, Any]:
        return dict(self.client.api.inspect_image(ref).get("Config") or {})

    def history(self, ref: str) -> list[dict[str, Any]]:
        return list(self.client.api.history(ref))

    def pull(self, ref: str, platform: str | None, on_line: LineSink) -> None:
        from docker.errors import APIError

        repo, tag = split_tag(ref)
        try:
            for event in self.client.api.pull(repo, tag=tag, platform=platform, stream=True, decode=True):
                if "error" in event:
                    raise _pull_error(ref, str(event["error"]))
                status = event.get("status")
                if status and "progressDetail" not in event:
                    on_line(f"{event.get('id', '')} {status}".strip())
        except APIError as exc:
            raise _pull_error(ref, str(exc.explanation or exc)) from None

    def push(self, ref: str, on_line: LineSink) -> str:
        # deploy's push: the same credentials (MLSHIP_REGISTRY_USER/PASSWORD, docker's config and
        # helpers) and the same errors for a registry that refuses or cannot be reached.
        from mlship.deploy.images import push_ref

        return push_ref(self.client, ref, report=on_line)


def _pull_error(ref: str, message: str) -> Exception:
    what = f"the base image {ref} is not on this docker engine and cannot be pulled ({message[:200]})"
    if any(marker in message.lower() for marker in _UNREACHABLE):
        return UnreachableError(what, hint=LOCAL_BASE_HINT)
    return BuildError(what, hint=LOCAL_BASE_HINT)


def _failure_hint(message: str) -> str | None:
    lowered = message.lower()
    if (
        "pull access denied" in lowered
        or "not found: manifest unknown" in lowered
        or "no such image" in lowered
    ):
        return LOCAL_BASE_HINT
    if "exec format error" in lowered:
        return (
            "the target platform differs from the engine's: "
            "install qemu binfmt handlers or build on a matching host"
        )
    if "no matching distribution" in lowered:
        return "the wheelhouse lacks a package: run `mlship build` again after `mlship lock`"
    return "the failing step's output is above; the image was not tagged"


def default_builder() -> ImageBuilder:
    return DockerClassicBuilder()
