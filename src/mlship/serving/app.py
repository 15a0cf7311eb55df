"""The HTTP API: /predict, the Open Inference Protocol (V2), health, metrics and OpenAPI.

Every handler answers JSON; anything a client sends gets a 4xx with a message, never a 500.
Each prediction request, failed ones included, goes to the prediction log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from mlship.serving import jsonio, openapi, v2
from mlship.serving.metrics import CONTENT_TYPE, Metrics
from mlship.serving.pipeline import RecordError, RuntimeSpec
from mlship.serving.predlog import ORIGIN_HEADER, ORIGINS, PredictionLog
from mlship.serving.protocol import CONNECTIONS
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


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Head:
    """What a prediction reads of the ASGI scope: its headers, found in one pass, and the
    worker's open connections when the protocol names them (`protocol.CONNECTIONS`)."""

    content_type: str | None = None
    content_length: str | None = None
    request_id: str | None = None
    origin: str | None = None  # ORIGIN_HEADER: the deploy gate's or `mlship test`'s own requests
    connections: Collection[Any] | None = None  # live: its size when the model is called counts

    @classmethod
    def of(cls, scope: Scope) -> Head:
        content_type = content_length = request_id = origin = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                content_length = value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = value.decode("latin-1")
            elif name == _ORIGIN:
                origin = value.decode("latin-1")
        extensions = scope.get("extensions")
        connections = extensions.get(CONNECTIONS) if extensions else None
        return cls(content_type, content_length, request_id, origin, connections)

    @property
    def alone(self) -> bool:
        """The only open connection: no other request can join this one's batch."""
        return self.connections is not None and len(self.connections) == 1


_ORIGIN = ORIGIN_HEADER.encode()


class RequestIds:
    """Request ids: 32 hex digits, a random per-process prefix then a counter (unique across
    workers and restarts, a tenth of uuid4's cost); a client's own id is kept when usable."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._count = itertools.count(1)

    def __call__(self, given: str | None = None) -> str:
        if given and len(given) <= 128 and given.isprintable():
            return given
        return f"{self._prefix}{next(self._count):016x}"


_request_ids = RequestIds()

# ":0", ":1", ...: a record's key is the request id plus one of these (a concatenation, no formatting).
_SUFFIXES = tuple(f":{i}" for i in range(4096))


def record_keys(request_id: str, count: int) -> list[str]:
    """The join keys of a request's records (`mlship monitor --labels`): REQUEST_ID:INDEX."""
    if count <= len(_SUFFIXES):
        return list(map(request_id.__add__, _SUFFIXES[:count]))
    return [f"{request_id}:{i}" for i in range(count)]


def request_id_of(request: Request) -> str:
    return _request_ids(request.headers.get("x-request-id"))


@dataclass(slots=True)
class Outcome:
    """A scored request: the answer to send, and the figures recorded once it is sent."""

    status: int
    body: bytes
    request_id: str
    endpoint: str
    seconds: float
    rows: int | None
    kind: str | None

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        if self.request_id.isprintable() and self.request_id.isascii():  # a V2 body's "id" may be anything
            headers.append((b"x-request-id", self.request_id.encode()))
        if self.status in CLOSE_AFTER:
            headers.append((b"connection", b"close"))
        return headers


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
        self.request_ids = RequestIds()
        self._openapi = dumps(
            openapi.build(
                spec.name, self.version, self.schema, settings.max_body_bytes, strict=settings.strict_schema
            )
        )

    # -- plumbing shared by /predict and V2 infer ---------------------------------------
    async def read_body(self, head: Head, receive: Receive) -> bytes:
        """The body, refused early: not JSON (415), too large by its header or while it streams
        (413), or still arriving after `body_timeout` seconds (408)."""
        if head.content_type != JSON and not is_json(head.content_type):
            raise RequestError(415, "send the body as JSON, with the header Content-Type: application/json")
        limit = self.settings.max_body_bytes
        declared = head.content_length
        if declared is not None:
            if not declared.isdigit():
                raise RequestError(400, "the Content-Length header is not a number")
            if int(declared) > limit:
                raise RequestError(413, f"the body is {declared} bytes; the limit is {limit}")
        chunks: list[bytes] = []

        async def read() -> None:
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise RequestError(413, f"the body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return

        timeout = self.settings.body_timeout
        try:
            if sys.version_info >= (3, 11):  # a timer on this task: no second task, no extra loop turn
                async with asyncio.timeout(timeout):
                    await read()
            else:
                await asyncio.wait_for(read(), timeout)
        except asyncio.TimeoutError:
            raise RequestError(408, f"the body did not arrive within {timeout:g} seconds") from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def score(self, head: Head, receive: Receive, endpoint: str, parse: Any, respond: Any) -> Outcome:
        """Read, validate, predict and log; `parse` and `respond` adapt the protocol. The answer is
        logged before it is sent (an answered request is never missing from the log); its metrics
        are recorded by `finished`, after it is sent."""
        started = time.perf_counter()
        request_id = self.request_ids(head.request_id)
        records = outputs = error = logged = None
        status, kind = 200, None
        self.metrics.request_started()
        try:
            if not self.runtime.ready:
                raise RequestError(503, f"the model is not ready ({self.runtime.state})")
            body = await self.read_body(head, receive)
            decoded = parse_json(body)
            # Until validated, the log keeps what the client sent (a failed request is evidence too).
            records = _sent_records(decoded)
            records, given_id, logged = parse(decoded, body)
            request_id = given_id or request_id
            outputs = await self.runtime.predict(records, alone=head.alone)
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
        except BaseException:  # cancelled: nothing is answered, the in-flight count still drops
            self.metrics.request_finished()
            raise
        if kind is not None:
            payload["request_id"] = request_id
        body = dumps(payload)
        seconds = time.perf_counter() - started
        inputs = logged if logged is not None and status == 200 else records
        origin = head.origin if head.origin in ORIGINS else None
        self.log.record(request_id, endpoint, status, seconds * 1000.0, inputs, outputs, error, origin)
        rows = len(records) if status == 200 and records else None
        return Outcome(status, body, request_id, endpoint, seconds, rows, kind)

    def finished(self, outcome: Outcome) -> None:
        """The metrics of an answered request (after the answer: the client does not wait for them)."""
        metrics = self.metrics
        metrics.request_finished()
        if outcome.kind is not None:
            metrics.error(outcome.kind if outcome.status != 503 else "not_ready")
        metrics.observe(outcome.endpoint, outcome.status, outcome.seconds, outcome.rows)

    def response(self, outcome: Outcome) -> Response:
        """An outcome as a Starlette response (V2 infer), its metrics recorded once sent."""
        response = Response(outcome.body, outcome.status, background=BackgroundTask(self.finished, outcome))
        response.raw_headers = outcome.headers()
        return response

    # -- /predict: raw ASGI, no Starlette Request, routing or Response on the way -----------
    def _predict_records(self, decoded: Any, body: bytes) -> tuple[list[dict[str, Any]], None, Any]:
        """The validated records, and what the log writes as their inputs: the client's own JSON
        text of them when validation left them as sent (jsonio.raw_records), else the records."""
        records, as_sent = self.validator.records_as_sent(decoded)
        return records, None, jsonio.raw_records(body) if as_sent else None

    def _predict_answer(self, outputs: list[Any], request_id: str) -> dict[str, Any]:
        # The key each record's outcome is joined on later (`mlship monitor --labels`): the log
        # already holds the request id and the order, so nothing more is written per record.
        keys = record_keys(request_id, len(outputs))
        return {"predictions": outputs, "model_version": self.version, "request_id": request_id, "keys": keys}

    async def predict_asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = await self.score(
            Head.of(scope), receive, "/predict", self._predict_records, self._predict_answer
        )
        try:
            start = {"type": "http.response.start", "status": outcome.status, "headers": outcome.headers()}
            await send(start)
            await send({"type": "http.response.body", "body": outcome.body})
        finally:
            self.finished(outcome)

    async def predict(self, request: Request) -> Response:
        """The same through Starlette (kept for the route table: /openapi.json, 405 with Allow)."""
        head = Head.of(request.scope)
        parse, respond = self._predict_records, self._predict_answer
        return self.response(await self.score(head, request.receive, "/predict", parse, respond))

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

        def parse(decoded: Any, body: bytes) -> tuple[list[dict[str, Any]], str | None, None]:
            records, given_id = v2.records_from_request(decoded)
            self.validator.check(records)
            return records, given_id, None

        def respond(outputs: list[Any], request_id: str) -> dict[str, Any]:
            return v2.response(self.name, self.version, request_id, outputs)

        endpoint, head = f"/v2/models/{self.name}/infer", Head.of(request.scope)
        return self.response(await self.score(head, request.receive, endpoint, parse, respond))

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


class App:
    """The ASGI app: POST /predict straight to the service, everything else through Starlette.

    A prediction is the one request served at high rates; Starlette's middleware, routing,
    Request and Response cost it ~60 us of a ~300 us one-row answer (bench/request_cost.py).
    The same request through Starlette (`Service.predict`) answers what this path answers.
    """

    def __init__(self, service: Service, router: Starlette):
        self.service = service
        self.router = router
        self.state = router.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _route_path(scope) == "/predict":
            await self.service.predict_asgi(scope, receive, send)
        else:
            await self.router(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path")
    return path[len(root) :] if root and path.startswith(root) else path


def create_app(spec: RuntimeSpec, settings: Settings) -> App:
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
    return App(service, app)
