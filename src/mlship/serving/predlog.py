"""The prediction log: one JSON line per request, written by a background thread.

The request path only appends a tuple to a list (no serialisation, no I/O). A writer thread
swaps the list out every `flush_interval` seconds (sooner when `max_pending` records wait),
serialises, writes, flushes and fsyncs. What a hard kill can lose is bounded by what was
accepted since the last flush: at most `flush_interval` seconds or `max_pending` records.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import socket
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.serving import jsonio
from mlship.serving.settings import LogSettings

if TYPE_CHECKING:
    from mlship.serving.metrics import Metrics

# A request that says where it comes from (the deploy gate sends `gate`, `mlship test --against`
# sends `test`) has it logged as "origin"; monitoring, replay and the differential check leave such
# requests out: they are mlship checking the service, not traffic.
ORIGIN_HEADER = "x-mlship-origin"
ORIGINS = ("gate", "test")

# The fixed field order of a line (shared with `mlship monitor`); "origin" follows, only when set.
FIELDS = (
    "ts",
    "request_id",
    "model_version",
    "endpoint",
    "status",
    "latency_ms",
    "inputs",
    "outputs",
    "error",
)


def _iso(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def answered(status: Any) -> bool:
    """The one rule for a successful request: an HTTP status below 400. Sampling thins only these;
    every log reader (`monitor.logs.succeeded`) counts only these."""
    return type(status) is int and status < 400


class PredictionLog:
    """A buffered, size-rotated JSON Lines writer; `record` is safe to call from the event loop."""

    def __init__(self, settings: LogSettings, model_version: str, metrics: Metrics | None = None):
        self.settings = settings
        self.metrics = metrics
        self.model_version = model_version
        self.directory = Path(settings.path)
        self.enabled = settings.enabled
        self.written = 0
        self.failed = 0
        # deque: append (event loop) and popleft (writer thread) are atomic without a lock.
        self._pending: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # serialises writes between the thread and a final flush
        self._file: Any = None
        self._size = 0
        self._thread: threading.Thread | None = None
        self._random = random.random

    # -- the hot path -------------------------------------------------------------------
    def record(
        self,
        request_id: str,
        endpoint: str,
        status: int,
        latency_ms: float,
        inputs: Any,
        outputs: Any,
        error: str | None,
        origin: str | None = None,
    ) -> None:
        if not self.enabled:
            return
        # Sampling thins successful traffic only: every failure is kept for debugging.
        rate = self.settings.sample_rate
        if answered(status) and rate < 1.0 and self._random() >= rate:
            return
        entry = (time.time(), request_id, endpoint, status, latency_ms, inputs, outputs, error, origin)
        self._pending.append(entry)
        if len(self._pending) >= self.settings.max_pending:
            self._wake.set()

    # -- the writer ---------------------------------------------------------------------
    def start(self) -> None:
        if not self.enabled:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="mlship-prediction-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the writer and write everything still pending (called at shutdown)."""
        if not self.enabled:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.flush_interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        with self._lock:
            pending = self._pending
            batch = [pending.popleft() for _ in range(len(pending))]
            if self.metrics is not None:  # sampled here, once a flush, not on the request path
                self.metrics.log_pending(len(batch))
            if not batch:
                return 0
            try:
                self._write(batch)
            except (OSError, TypeError, ValueError) as exc:
                self.failed += len(batch)
                if self.metrics is not None:
                    self.metrics.log_failed(len(batch))
                sys.stderr.write(f"mlship: prediction log: {len(batch)} record(s) not written: {exc}\n")
                self._close_file()
                return 0
            self.written += len(batch)
            if self.metrics is not None:
                self.metrics.log_written(len(batch))
            return len(batch)

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        version = self.model_version
        lines: list[bytes] = []
        for ts, request_id, endpoint, status, latency, inputs, outputs, error, origin in batch:
            row = {
                "ts": _iso(ts),
                "request_id": request_id,
                "model_version": version,
                "endpoint": endpoint,
                "status": status,
                "latency_ms": round(latency, 3),
                "inputs": inputs,
                "outputs": outputs,
                "error": error,
            }
            if origin is not None:
                row["origin"] = origin
            lines.append(jsonio.encode(row))
        data = b"\n".join(lines) + b"\n"
        handle = self._open(len(data))
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
        self._size += len(data)

    def _open(self, incoming: int) -> Any:
        if self._file is not None and self._size > 0 and self._size + incoming > self.settings.max_bytes:
            self._close_file()
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self._new_path()
            self._file = path.open("ab")
            self._size = path.stat().st_size
        return self._file

    def _close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
            self._size = 0

    def _new_path(self) -> Path:
        # Names sort by time; a rotation within the same second moves to the next free second. The
        # host name (a container's id) keeps apart the containers and replicas sharing one directory:
        # all of them may run as pid 1.
        now, pid = int(time.time()), os.getpid()
        host = re.sub(r"[^a-z0-9]", "", socket.gethostname().lower())[:16] or "host"
        while True:
            stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%dT%H%M%S")
            path = self.directory / f"predictions-{stamp}-{host}-{pid}.jsonl"
            if not path.exists():
                return path
            now += 1

    @property
    def pending(self) -> int:
        return len(self._pending)


def read_log(directory: str | Path) -> list[dict[str, Any]]:
    """Every line under `directory`, oldest file first (for tests and tools)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("predictions-*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows
