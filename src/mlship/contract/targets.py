"""What the checks send records to: the candidate in-process, or a running service over HTTP.

Both answer `call(records) -> Outcome`, so every check runs the same way on a laptop, in CI and
as the deploy gate. The HTTP side goes through mlship.service_http, the one client for services.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from mlship import service_http
from mlship.errors import UsageError
from mlship.serving.predlog import ORIGIN_HEADER

OutcomeKind = Literal["answer", "rejected", "crashed"]
# What a server answers when it has no POST /predict at all: not found, method not allowed, not implemented.
_NO_PREDICT_HERE = {404, 405, 501}


@dataclass
class Outcome:
    """`answer`: predictions came back; `rejected`: a validation error (the client's fault);
    `crashed`: anything else (an exception in the model, a 5xx, a malformed reply)."""

    kind: OutcomeKind
    predictions: list[Any] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    status: int | None = None  # the HTTP status, over HTTP


class InProcessTarget:
    """The candidate: the project's artifacts loaded through `load_pipeline`, the serving path."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline
        self.label = f"in-process ({pipeline.spec.model_version})"

    def call(self, records: list[dict[str, Any]]) -> Outcome:
        from mlship.serving.pipeline import RecordError

        started = time.perf_counter()
        try:
            # The project's prints must not mix with mlship's data on stdout (`--json`).
            with contextlib.redirect_stdout(sys.stderr):
                predictions = self.pipeline.predict_records(records)
        except RecordError as exc:
            return Outcome("rejected", message=_cause(exc), seconds=time.perf_counter() - started)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            return Outcome("crashed", message=message, seconds=time.perf_counter() - started)
        return Outcome("answer", predictions, seconds=time.perf_counter() - started)


def _cause(exc: BaseException) -> str:
    """The project's own words: RecordError wraps the exception that preprocess raised."""
    cause = exc.__cause__
    if cause is None:
        return str(exc)
    return f"{type(cause).__name__}: {cause}"


class HttpTarget:
    """A running service: `POST {url}/predict {"records": [...]}` -> `{"predictions": [...]}`."""

    carries_nan = False  # JSON has no NaN; strict servers refuse the whole body

    def __init__(
        self, url: str, *, timeout: float = 30.0, environment: str | None = None, origin: str = "test"
    ):
        self.url = url.rstrip("/")
        self.label = self.url
        self.timeout = timeout
        self.environment = environment  # the environment the URL was resolved from, if any
        self.origin = origin  # logged by the runtime, so monitoring leaves these requests out

    def probe(self) -> None:
        """Before any check: a URL with no POST /predict at all (a wrong port, path or server) is a
        wrong --against, not a model that fails every check."""
        status = self.call([]).status
        if status in _NO_PREDICT_HERE:
            raise UsageError(
                f"{self.url} is not a prediction service: POST /predict answered HTTP {status}",
                hint="--against takes the service's base URL (as `mlship status` shows it): http://HOST:PORT",
            )

    def call(self, records: list[dict[str, Any]]) -> Outcome:
        body = json.dumps({"records": [_json_safe(r) for r in records]}, allow_nan=False).encode()
        started = time.perf_counter()
        reply = service_http.request(
            "POST",
            f"{self.url}/predict",
            body=body,
            timeout=self.timeout,
            hint="is the service running? `mlship serve` starts one locally",
            headers={ORIGIN_HEADER: self.origin},
        )
        status, text = reply.status, reply.text
        seconds = time.perf_counter() - started
        if 400 <= status < 500:
            return Outcome("rejected", message=f"HTTP {status}: {text[:500]}", seconds=seconds, status=status)
        if status != 200:
            return Outcome("crashed", message=f"HTTP {status}: {text[:500]}", seconds=seconds, status=status)
        try:
            predictions = json.loads(text)["predictions"]
            if not isinstance(predictions, list):
                raise TypeError("predictions is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            return Outcome("crashed", message=f"malformed reply ({exc}): {text[:200]}", seconds=seconds)
        return Outcome("answer", predictions, seconds=seconds)


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a JSON client sends it: a NaN or infinite number becomes null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
