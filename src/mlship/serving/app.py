"""The HTTP API: /predict, the Open Inference Protocol (V2), health, metrics and OpenAPI.

Every handler answers JSON; anything a client sends gets a 4xx with a message, never a 500.
Each prediction request, failed ones included, goes to the prediction log.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlship.serving import jsonio, openapi, v2
from mlship.serving.metrics import CONTENT_TYPE, Metrics
from mlship.serving.pipeline import RecordError, RuntimeSpec
from mlship.serving.predlog import ORIGIN_HEADER, ORIGINS, PredictionLog
from mlship.serving.runtime import ModelError, ModelRuntime
from mlship.serving.settings import Settings
from mlship.serving.validate import RequestError, Validator, parse_json

JSON = "application/json"


def dumps(payload: Any) -> bytes:
    return jsonio.encode(payload)  # NaN or infinity from the model: null


# Refusals after which the rest of the body is not read: the connection is closed instead, so a
# client streaming 60 MB (or a byte a second) is cut off rather than drained.
CLOSE_AFTER = frozenset({408, 413})


def answer(
    payload: Any, status: int = 200, request_id: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    headers = dict(headers or {})
    if request_id:
        headers["x-request-id"] = request_id
    if status in CLOSE_AFTER:
        headers["connection"] = "close"
    return Response(dumps(payload), status_code=status, media_type=JSON, headers=headers or None)


def is_json(content_type: str | None) -> bool:
    """application/json, or a JSON-based type such as application/vnd.api+json; parameters allowed."""
    media = (content_type or "").partition(";")[0].strip().lower()
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


def _sent_records(decoded: Any) -> Any:
    if isinstance(decoded, dict):
        sent = decoded.get("records", decoded.get("inputs"))
        return sent if isinstance(sent, list) else None
    return None


# ":0", ":1", ...: a record's key is the request id plus one of these (a concatenation, no formatting).
_SUFFIXES = tuple(f":{i}" for i in range(4096))


def record_keys(request_id: str, count: int) -> list[str]:
    """The join keys of a request's records (`mlship monitor --labels`): REQUEST_ID:INDEX."""
    if count <= len(_SUFFIXES):
        return [request_id + suffix for suffix in _SUFFIXES[:count]]
    return [f"{request_id}:{i}" for i in range(count)]


def request_id_of(request: Request) -> str:
    given = request.headers.get("x-request-id")
    if given and len(given) <= 128 and given.isprintable():
        return given
    return uuid.uuid4().hex


class Service:
    """The state one worker serves from: spec, settings, model runtime, log and metrics."""

    def __init__(self, spec: RuntimeSpec, settings: Settings):
        self.spec = spec
        self.settings = settings
        self.name = spec.name
        self.version = spec.model_version
        extra = spec.extra or {}
        self.schema = extra.get("contract_schema") or {}
        self.validator = Validator(self.schema, strict=settings.strict_schema)
        self.metrics = Metrics(spec.name, self.version)
        self.log = PredictionLog(settings.log, self.version, self.metrics)
        self.runtime = ModelRuntime(spec, settings, self.metrics)
        self._openapi = dumps(
            openapi.build(
                spec.name, self.version, self.schema, settings.max_body_bytes, strict=settings.strict_schema
            )
        )

    # -- plumbing shared by /predict and V2 infer ---------------------------------------
    async def read_body(self, request: Request) -> bytes:
        """The body, refused early: not JSON (415), too large by its header or while it streams
        (413), or still arriving after `body_timeout` seconds (408)."""
        if not is_json(request.headers.get("content-type")):
            raise RequestError(415, "send the body as JSON, with the header Content-Type: application/json")
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise RequestError(400, "the Content-Length header is not a number")
            if int(declared) > limit:
                raise RequestError(413, f"the body is {declared} bytes; the limit is {limit}")
        chunks: list[bytes] = []

        async def receive() -> None:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestError(413, f"the body exceeds the limit of {limit} bytes")
                chunks.append(chunk)

        timeout = self.settings.body_timeout
        try:
            if sys.version_info >= (3, 11):  # a timer on this task: no second task, no extra loop turn
                async with asyncio.timeout(timeout):
                    await receive()
            else:
                await asyncio.wait_for(receive(), timeout)
        except asyncio.TimeoutError:
            raise RequestError(408, f"the body did not arrive within {timeout:g} seconds") from None
        return b"".join(chunks)

    async def score(self, request: Request, endpoint: str, parse: Any, respond: Any) -> Response:
        """Read, validate, predict, log and answer; `parse` and `respond` adapt the protocol."""
        started = time.perf_counter()
        request_id = request_id_of(request)
        records = outputs = error = None
        status, kind = 200, None
        self.metrics.request_started()
        try:
            if not self.runtime.ready:
                raise RequestError(503, f"the model is not ready ({self.runtime.state})")
            decoded = parse_json(await self.read_body(request))
            # Until validated, the log keeps what the client sent (a failed request is evidence too).
            records = _sent_records(decoded)
            records, given_id = parse(decoded)
            request_id = given_id or request_id
            outputs = await self.runtime.predict(records)
            payload = respond(outputs, request_id)
        except RequestError as exc:
            status, error, kind = exc.status, exc.message, "invalid_request"
            payload = {"error": exc.message, "errors": exc.errors}
        except RecordError as exc:
            status, error, kind = 422, str(exc), "invalid_records"
            payload = {"error": error, "errors": []}
        except ModelError as exc:
            status, error, kind = 500, f"the model failed: {exc}", "model_error"
            payload = {"error": error, "errors": []}
        except Exception as exc:  # a bug of ours: answered and logged, the worker lives on
            status, error, kind = 500, f"internal error: {type(exc).__name__}: {exc}", "internal"
            payload = {"error": error, "errors": []}
        finally:
            self.metrics.request_finished()
        seconds = time.perf_counter() - started
        if kind is not None:
            self.metrics.error(kind if status != 503 else "not_ready")
            payload["request_id"] = request_id
        self.metrics.observe(endpoint, status, seconds, len(records) if status == 200 and records else None)
        origin = request.headers.get(ORIGIN_HEADER)
        origin = origin if origin in ORIGINS else None
        self.log.record(request_id, endpoint, status, seconds * 1000.0, records, outputs, error, origin)
        return answer(payload, status, request_id)

    # -- /predict -----------------------------------------------------------------------
    async def predict(self, request: Request) -> Response:
        def respond(outputs: list[Any], request_id: str) -> dict[str, Any]:
            # The key each record's outcome is joined on later (`mlship monitor --labels`): the log
            # already holds the request id and the order, so nothing more is written per record.
            keys = record_keys(request_id, len(outputs))
            return {
                "predictions": outputs,
                "model_version": self.version,
                "request_id": request_id,
                "keys": keys,
            }

        return await self.score(
            request, "/predict", lambda body: (self.validator.records(body), None), respond
        )

    # -- health, metrics, OpenAPI ---------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return answer({"status": "alive"})

    async def readyz(self, request: Request) -> Response:
        runtime = self.runtime
        body: dict[str, Any] = {"status": runtime.state, "model": self.name, "model_version": self.version}
        if runtime.device is not None:
            body["device"] = runtime.device.kind
        if runtime.error:
            body["error"] = runtime.error.splitlines()[0]
        return answer(body, 200 if runtime.ready else 503)

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.render(), headers={"content-type": CONTENT_TYPE})

    async def openapi_page(self, request: Request) -> Response:
        return Response(self._openapi, media_type=JSON)

    # -- Open Inference Protocol (V2) ----------------------------------------------------
    def _model(self, request: Request) -> None:
        params = request.path_params
        if params.get("model_name") != self.name:
            name = params.get("model_name")
            raise HTTPException(404, f"unknown model {name!r}; this server has {self.name!r}")
        version = params.get("model_version")
        if version is not None and version != self.version:
            raise HTTPException(404, f"unknown version {version!r} of {self.name}; serving {self.version}")

    async def v2_server(self, request: Request) -> Response:
        return answer({"name": "mlship", "version": self.version, "extensions": []})

    async def v2_live(self, request: Request) -> Response:
        return answer({"live": True})

    async def v2_ready(self, request: Request) -> Response:
        return answer({"ready": self.runtime.ready}, 200 if self.runtime.ready else 503)

    async def v2_model(self, request: Request) -> Response:
        self._model(request)
        return answer(v2.model_metadata(self.name, self.version, self.schema))

    async def v2_model_ready(self, request: Request) -> Response:
        self._model(request)
        return answer({"name": self.name, "ready": self.runtime.ready}, 200 if self.runtime.ready else 503)

    async def v2_infer(self, request: Request) -> Response:
        self._model(request)

        def parse(body: Any) -> tuple[list[dict[str, Any]], str | None]:
            records, given_id = v2.records_from_request(body)
            self.validator.check(records)
            return records, given_id

        def respond(outputs: list[Any], request_id: str) -> dict[str, Any]:
            return v2.response(self.name, self.version, request_id, outputs)

        return await self.score(request, f"/v2/models/{self.name}/infer", parse, respond)

    def routes(self) -> list[Route]:
        model = "/v2/models/{model_name}"
        versioned = "/v2/models/{model_name}/versions/{model_version}"
        routes = [
            Route("/predict", self.predict, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics_page, methods=["GET"]),
            Route("/openapi.json", self.openapi_page, methods=["GET"]),
            Route("/v2", self.v2_server, methods=["GET"]),
            Route("/v2/health/live", self.v2_live, methods=["GET"]),
            Route("/v2/health/ready", self.v2_ready, methods=["GET"]),
        ]
        for base in (model, versioned):
            routes += [
                Route(base, self.v2_model, methods=["GET"]),
                Route(base + "/ready", self.v2_model_ready, methods=["GET"]),
                Route(base + "/infer", self.v2_infer, methods=["POST"]),
            ]
        return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None) or "error"
    if status == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}; see /openapi.json"
    # 405 carries Allow (RFC 9110 15.5.6): Starlette puts it on the exception.
    headers = getattr(exc, "headers", None)
    return answer({"error": detail}, status, request_id_of(request), headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return answer({"error": f"internal error: {type(exc).__name__}"}, 500)


def create_app(spec: RuntimeSpec, settings: Settings) -> Starlette:
    service = Service(spec, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.log.start()
        service.runtime.start()
        try:
            yield
        finally:
            service.log.close()
            service.runtime.close()
            service.metrics.worker_exited()

    app = Starlette(
        routes=service.routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.service = service
    return app
