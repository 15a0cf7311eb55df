"""The model inside a worker: loading and warm-up off the event loop, then batched predictions.

Loading and warm-up run on a thread, so /healthz answers while the model loads. Predictions
run on the event loop itself: a hop to a thread and back costs more than a small model call on
a busy host (measured: bench/serve.py), and one thread keeps models that are not thread-safe
correct. Requests that queue while the model is busy are scored together in one call (rows are
independent by the project contract: preprocess uses only state fitted at train time), which
is what lets one worker keep up with many concurrent one-row clients.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlship.serving import device as devices
from mlship.serving.metrics import Metrics
from mlship.serving.pipeline import Pipeline, PipelineError, RecordError, RuntimeSpec
from mlship.serving.settings import Settings

WARMUP_ROUNDS = 3


class ModelError(Exception):
    """The project's code failed on input that passed validation (the server's fault)."""


def synthetic_record(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A plausible record from the contract schema, for warm-up calls."""
    record: dict[str, Any] = {}
    for name, spec in schema.items():
        spec = spec or {}
        kind, low, high = spec.get("type"), spec.get("min"), spec.get("max")
        if spec.get("values"):
            record[name] = spec["values"][0]
        elif kind in ("number", "integer"):
            value = (low + high) / 2 if low is not None and high is not None else (low or high or 0)
            record[name] = int(value) if kind == "integer" else float(value)
        elif kind == "boolean":
            record[name] = False
        else:
            record[name] = ""
    return record


class ModelRuntime:
    def __init__(self, spec: RuntimeSpec, settings: Settings, metrics: Metrics):
        self.spec = spec
        self.settings = settings
        self.metrics = metrics
        self.state = "loading"
        self.error: str | None = None
        self.device: devices.Device | None = None
        self.pipeline: Pipeline | None = None
        self.load_seconds: float | None = None
        self.on_fatal: Callable[[str], None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlship-load")
        self._queue: deque[tuple[list[dict[str, Any]], asyncio.Future[list[Any]]]] = deque()
        self._draining = False

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    # -- loading ------------------------------------------------------------------------
    def start(self) -> asyncio.Future[None]:
        return asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self.device = devices.detect(self.spec.gpu)
            os.environ["MLSHIP_DEVICE"] = self.device.kind
            self.pipeline = Pipeline(self.spec)
            devices.limit_loaded_pools(self.settings.threads)
            self._move_to_device()
            self._warm_up()
        except (PipelineError, devices.DeviceError) as exc:
            return self._fail(str(exc))
        except Exception as exc:  # the project's load raised something unexpected
            return self._fail(f"loading the model failed: {exc!r}\n{traceback.format_exc()}")
        self.load_seconds = time.perf_counter() - started
        # The model and the imported libraries live for the whole process: moving them out of the
        # collector's sight keeps full collections (triggered by pandas' allocations) short.
        gc.collect()
        gc.freeze()
        self.state = "ready"
        self.metrics.set_ready(True)
        sys.stderr.write(
            f"mlship: model {self.spec.name} {self.spec.model_version} ready on {self.device.kind} "
            f"in {self.load_seconds:.2f}s\n"
        )

    def _fail(self, message: str) -> None:
        self.state, self.error = "failed", message
        sys.stderr.write(f"mlship: cannot serve: {message}\n")
        if self.on_fatal is not None:
            self.on_fatal(message)

    def _move_to_device(self) -> None:
        if self.device is None or self.device.kind != "cuda" or self.pipeline is None:
            return
        model = self.pipeline.model
        if "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module):
            self.pipeline.model = model.to("cuda")

    def _warm_up(self) -> None:
        """First calls pay for lazy imports, JIT and thread start-up; pay before /readyz says yes."""
        assert self.pipeline is not None
        extra = self.spec.extra or {}
        examples = [
            dict(e["input"]) for e in extra.get("examples") or [] if isinstance(e, dict) and "input" in e
        ]
        schema = extra.get("contract_schema") or {}
        if not examples and schema:
            examples = [synthetic_record(schema)]
        if not examples:
            sys.stderr.write("mlship: no contract schema or examples; skipping warm-up\n")
            return
        batch = (examples * (64 // len(examples) + 1))[:64]
        try:
            for _ in range(WARMUP_ROUNDS):
                self.pipeline.predict_records(examples[:1])
                self.pipeline.predict_records(batch)
        except Exception as exc:  # a synthetic record may not suit the model; serving still works
            sys.stderr.write(f"mlship: warm-up call failed ({exc!r}); continuing without warm-up\n")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- predictions --------------------------------------------------------------------
    async def predict(self, records: list[dict[str, Any]], alone: bool = False) -> list[Any]:
        """The request's predictions. Through the queue, even when no other request is in flight
        yet: requests whose bytes are already in the socket buffers are parsed only in the loop's
        next turns, and the drain's turn of the loop is what lets them join this batch (measured:
        scoring every request found with an empty queue at once took c=16 one-row from 2,075 to
        1,252 req/s). Unless it is `alone`: on the only open connection (protocol.CONNECTIONS) no
        other request can arrive to join it, and the queue's turns of the loop would only wait."""
        if not self.settings.batching or (alone and not self._queue and not self._draining):
            return _unwrap(self._score(records))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._queue.append((records, future))
        if not self._draining:
            self._draining = True
            # Plain callbacks, not a task: the same turns of the loop for a third of the cost.
            loop.call_soon(self._drain_next_turn)
        return await future

    def _drain_next_turn(self) -> None:
        # One turn of the loop first: requests already read from sockets join this batch.
        asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        """Score one batch of queued requests, then the next one a turn later, until none wait."""
        limit = self.settings.max_batch_rows
        jobs = [self._queue.popleft()]
        rows = len(jobs[0][0])
        while self._queue and rows + len(self._queue[0][0]) <= limit:
            job = self._queue.popleft()
            jobs.append(job)
            rows += len(job[0])
        try:
            outcomes = self._score_jobs([records for records, _ in jobs])
        except Exception as exc:  # a bug of ours: each waiting request answers it, none hangs
            outcomes = [exc] * len(jobs)
        for (_, future), outcome in zip(jobs, outcomes, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        if self._queue:  # they queued while the model ran: one turn, then the next batch
            asyncio.get_running_loop().call_soon(self._drain)
        else:
            self._draining = False

    def _score_jobs(self, jobs: list[list[dict[str, Any]]]) -> list[Any]:
        """One call for the jobs whose records share one set of fields (a merged frame must not
        give a record columns it lacks alone); on failure, each job alone, so errors stay theirs."""
        if len(jobs) == 1:
            return [self._score(jobs[0])]
        keys = jobs[0][0].keys()
        uniform = [all(r.keys() == keys for r in records) for records in jobs]
        merged = [record for records, same in zip(jobs, uniform, strict=True) if same for record in records]
        outcome = self._score(merged) if sum(uniform) > 1 else None
        out: list[Any] = []
        start = 0
        for records, same in zip(jobs, uniform, strict=True):
            if same and isinstance(outcome, list):
                out.append(outcome[start : start + len(records)])
                start += len(records)
            else:
                out.append(self._score(records))
        return out

    def _score(self, records: list[dict[str, Any]]) -> Any:
        assert self.pipeline is not None
        started = time.perf_counter()
        try:
            result = self.pipeline.predict_records(records)
        except RecordError as exc:
            return exc
        except Exception as exc:
            return ModelError(f"{type(exc).__name__}: {exc}")
        self.metrics.observe_batch(len(records), time.perf_counter() - started)
        return result


def _unwrap(outcome: Any) -> list[Any]:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
