"""Prometheus metrics, kept and written by prometheus_client.

With `--workers N`, server.py gives every worker one PROMETHEUS_MULTIPROC_DIR: each worker's
values live in memory-mapped files there and every scrape, whichever worker answers it, sums
them all (prometheus_client's multiprocess mode). With one worker the values stay in memory.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROWS_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000)

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# `*_created` samples double the output and no dashboard reads them.
prometheus_client.disable_created_metrics()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_VARIABLE) or None


class Metrics:
    """Request counts, latencies, errors and batch sizes of one worker (summed over workers)."""

    def __init__(self, model: str, version: str):
        self.model, self.version = model, version
        self.multiprocess = multiprocess_dir() is not None
        # A registry of its own: tests build several apps in one process.
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "mlship_requests",
            "Requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self._errors = Counter(
            "mlship_request_errors", "Failed requests, by kind.", ["kind"], registry=registry
        )
        self._latency = Histogram(
            "mlship_request_duration_seconds",
            "Time from request to response, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._request_rows = Histogram(
            "mlship_request_rows", "Records per prediction request.", buckets=ROWS_BUCKETS, registry=registry
        )
        self._model_rows = Histogram(
            "mlship_model_batch_rows",
            "Records per model call (requests are batched when queued).",
            buckets=ROWS_BUCKETS,
            registry=registry,
        )
        self._model_seconds = Histogram(
            "mlship_model_duration_seconds",
            "Time spent in preprocess -> predict per model call.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._in_flight = self._gauge("mlship_requests_in_flight", "Requests being handled now.", "livesum")
        self._ready = self._gauge(
            "mlship_ready", "1 when the model is loaded and warmed up (every worker).", "livemin"
        )
        self._pending = self._gauge(
            "mlship_log_pending_records", "Records waiting for the prediction log writer.", "livesum"
        )
        self._log_written = Counter(
            "mlship_log_written_records", "Records written to the prediction log.", registry=registry
        )
        self._log_failed = Counter(
            "mlship_log_failed_records", "Records the prediction log could not write.", registry=registry
        )
        info = Gauge(
            "mlship_model_info",
            "The model this server serves.",
            ["model", "version"],
            registry=registry,
            multiprocess_mode="max",
        )
        info.labels(model, version).set(1)
        self._gauge("mlship_start_time_seconds", "When the first worker started (unix time).", "min").set(
            time.time()
        )
        self._ready.set(0)
        # Label children looked up once: `labels()` takes a lock and builds a tuple on every call.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def _gauge(self, name: str, text: str, mode: Literal["livesum", "livemin", "min"]) -> Gauge:
        return Gauge(name, text, registry=self.registry, multiprocess_mode=mode)

    # -- the request path ---------------------------------------------------------------
    def request_started(self) -> None:
        self._in_flight.inc()

    def request_finished(self) -> None:
        self._in_flight.dec()

    def observe(self, endpoint: str, status: int, seconds: float, rows: int | None = None) -> None:
        children = self._children.get((endpoint, status))
        if children is None:
            children = (self._requests.labels(endpoint, str(status)), self._latency.labels(endpoint))
            self._children[(endpoint, status)] = children
        children[0].inc()
        children[1].observe(seconds)
        if rows:
            self._request_rows.observe(rows)

    def error(self, kind: str) -> None:
        self._errors.labels(kind).inc()

    def observe_batch(self, rows: int, seconds: float) -> None:
        self._model_rows.observe(rows)
        self._model_seconds.observe(seconds)

    # -- state, set where it changes ----------------------------------------------------
    def set_ready(self, ready: bool) -> None:
        self._ready.set(int(ready))

    def log_pending(self, records: int) -> None:
        self._pending.set(records)

    def log_written(self, records: int) -> None:
        self._log_written.inc(records)

    def log_failed(self, records: int) -> None:
        self._log_failed.inc(records)

    # -- a scrape -----------------------------------------------------------------------
    def _collected(self) -> CollectorRegistry:
        if not self.multiprocess:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry

    def render(self) -> bytes:
        return prometheus_client.generate_latest(self._collected())

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's value as a scrape would show it (for tests and tools)."""
        return self._collected().get_sample_value(name, labels or {})

    def worker_exited(self) -> None:
        """Drop this worker's live gauges from the sums (a graceful exit; counters stay)."""
        directory = multiprocess_dir()
        if self.multiprocess and directory:
            multiprocess.mark_process_dead(os.getpid(), directory)
