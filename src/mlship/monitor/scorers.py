"""Who re-scores logged inputs for `mlship replay`: a project in-process, or an image in a container."""

from __future__ import annotations

import contextlib
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from mlship import labels, service_http
from mlship.errors import InputError, ProjectCodeError, UnreachableError

READY_TIMEOUT = 120.0  # seconds a container gets to answer /readyz
REQUEST_TIMEOUT = 60.0
DEFAULT_PORT = 8080


class ScoreError(Exception):
    """The model refused these records (bad input for this version), not an infrastructure failure."""


class Scorer(ABC):
    version: str = "unknown"

    @abstractmethod
    def score(self, records: list[dict[str, Any]]) -> list[Any]:
        """One output per record; ScoreError when the model rejects the records."""

    def close(self) -> None:  # noqa: B027 - most scorers hold nothing
        pass

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProjectScorer(Scorer):
    """The project's own pipeline, loaded in this process (the same code path as serving)."""

    def __init__(self, directory: Path):
        from mlship.project import Project, load_pipeline

        self.pipeline = load_pipeline(Project.load(directory))
        self.version = self.pipeline.spec.model_version

    def score(self, records: list[dict[str, Any]]) -> list[Any]:
        from mlship.serving.pipeline import PipelineError, RecordError

        try:
            return self.pipeline.predict_records(records)
        except RecordError as exc:
            raise ScoreError(str(exc)) from None
        except PipelineError as exc:
            raise ProjectCodeError(str(exc)) from None
        except Exception as exc:  # the project's own code failed: its error, with its message
            raise ProjectCodeError(f"the project's pipeline raised {type(exc).__name__}: {exc}") from None


class ContainerScorer(Scorer):
    """An image run on the docker engine, published on 127.0.0.1 only, scored over HTTP."""

    def __init__(self, image: str, *, ready_timeout: float = READY_TIMEOUT):
        from mlship.engine import docker_client

        client = docker_client()
        found = _find_image(client, image)
        port = _container_port(found.attrs)
        self.version = _image_version(found.labels or {}) or image
        self.container = _start(
            client,
            image,
            found.id,
            name=f"mlship-replay-{uuid.uuid4().hex[:10]}",
            environment={"PORT": str(port)},
            ports={f"{port}/tcp": ("127.0.0.1", None)},
            labels={f"{labels.PREFIX}.role": "replay"},
        )
        try:
            self.url = f"http://127.0.0.1:{self._host_port(port)}"
            self._wait_ready(ready_timeout)
        except BaseException:
            self.close()
            raise

    def _host_port(self, port: int) -> str:
        for _ in range(50):
            self.container.reload()
            bindings = (self.container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
            if bindings:
                return bindings[0]["HostPort"]
            if self.container.status == "exited":
                break
            time.sleep(0.1)
        raise UnreachableError(
            f"the container of the image did not publish port {port}", details=self._logs()
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status == "exited":
                raise UnreachableError(
                    "the model's container exited before it was ready", details=self._logs()
                )
            if service_http.is_ready(self.url):
                return
            time.sleep(0.25)
        raise UnreachableError(
            f"the model's container was not ready within {timeout:.0f}s", details=self._logs()
        )

    def score(self, records: list[dict[str, Any]]) -> list[Any]:
        try:
            reply = service_http.request(
                "POST", f"{self.url}/predict", json_body={"records": records}, timeout=REQUEST_TIMEOUT
            )
        except UnreachableError as exc:
            raise UnreachableError(
                f"the model's container stopped answering ({exc.message})", details=self._logs()
            ) from None
        if 400 <= reply.status < 500:
            raise ScoreError(f"HTTP {reply.status}: {reply.text[:200]}")
        if reply.status != 200:
            message = f"the model's container answered HTTP {reply.status}"
            raise UnreachableError(message, details=self._logs())
        try:
            payload = reply.json()
        except ValueError:
            payload = None
        predictions = payload.get("predictions") if isinstance(payload, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(records):
            raise UnreachableError("the container's /predict answer has no prediction per record")
        self.version = payload.get("model_version") or self.version
        return predictions

    def _logs(self) -> str:
        try:
            return self.container.logs(tail=20).decode(errors="replace")
        except Exception:  # noqa: BLE001 - logs are a courtesy in an error already being raised
            return ""

    def close(self) -> None:
        container = getattr(self, "container", None)
        if container is not None:
            with contextlib.suppress(Exception):  # already gone
                container.remove(force=True)
            self.container = None


def _find_image(client: Any, image: str) -> Any:
    """The local image `image`; InputError when there is none by that name, UnreachableError when the
    engine fails to answer (not the user's reference)."""
    from docker.errors import APIError, DockerException, ImageNotFound, NullResource

    try:
        return client.images.get(image)
    except (ImageNotFound, NullResource):
        found = None
    except APIError as exc:
        if exc.status_code != 400:  # 400: a malformed reference; anything else is the engine failing
            raise UnreachableError(f"the docker engine could not look up {image}: {_explain(exc)}") from None
        found = None
    except DockerException as exc:
        raise UnreachableError(f"the docker engine could not look up {image}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - requests' connection errors: the engine went away
        raise UnreachableError(f"the docker engine stopped answering ({type(exc).__name__}: {exc})") from None
    if found is None:
        raise InputError(
            f"{image} is neither a project directory nor a local image",
            hint="pass a project directory (with mlship.yaml) or an image that `docker images` lists",
        )
    return found


def _start(client: Any, image: str, image_id: str, **options: Any) -> Any:
    """Create and start the replay container; one that cannot start is removed, and named in the error."""
    from docker.errors import APIError

    try:
        container = client.containers.create(image_id, **options)
    except APIError as exc:
        message = f"the docker engine could not create a container of {image}: {_explain(exc)}"
        raise UnreachableError(message) from None
    try:
        container.start()
    except APIError as exc:
        with contextlib.suppress(Exception):  # already gone
            container.remove(force=True)
        if exc.status_code is not None and exc.status_code < 500:
            raise InputError(
                f"the image {image} cannot be started: {_explain(exc)}",
                hint="check its CMD/ENTRYPOINT (`docker run --rm` it); an image `mlship build` made starts",
            ) from None
        raise UnreachableError(f"the docker engine could not start {image}: {_explain(exc)}") from None
    return container


def _explain(exc: Any) -> str:
    return str(getattr(exc, "explanation", None) or exc)


def _image_version(image_labels: dict[str, str]) -> str | None:
    # The same form as RuntimeSpec.model_version: VERSION+first 12 of the model digest.
    version, sha = image_labels.get(labels.VERSION), image_labels.get(labels.MODEL_SHA256) or ""
    if not version:
        return None
    return f"{version}+{sha[:12]}" if sha else version


def _container_port(attrs: dict[str, Any]) -> int:
    exposed = list((attrs.get("Config") or {}).get("ExposedPorts") or {})
    tcp = [int(p.split("/")[0]) for p in exposed if p.endswith("/tcp")]
    return tcp[0] if len(tcp) == 1 else DEFAULT_PORT


def open_scorer(model: str) -> Scorer:
    """A project directory (holding mlship.yaml) scores in-process; anything else is an image."""
    path = Path(model)
    if path.is_dir():
        return ProjectScorer(path)
    return ContainerScorer(model)
