"""Prometheus metrics in the text exposition format (0.0.4), kept in plain counters.

A dozen counters and two histograms do not justify prometheus_client in every image; the
format is small and stable. Each worker process exposes its own figures (label `pid`).
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROWS_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds: Sequence[float]):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out, running = [], 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{braces} {self.total:.6f}")
        out.append(f"{name}_count{braces} {self.count}")
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Request counts, latencies, errors and batch sizes for one worker."""

    def __init__(self, model: str, version: str):
        self.model, self.version = model, version
        self.started = time.time()
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.request_rows = Histogram(ROWS_BUCKETS)
        self.model_rows = Histogram(ROWS_BUCKETS)
        self.model_seconds = Histogram(LATENCY_BUCKETS)
        self.errors: dict[str, int] = {}
        self.in_flight = 0

    def observe(self, endpoint: str, status: int, seconds: float, rows: int | None = None) -> None:
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(endpoint)
        if histogram is None:
            histogram = self.latency[endpoint] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)
        if rows:
            self.request_rows.observe(rows)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.model_rows.observe(rows)
        self.model_seconds.observe(seconds)

    def render(self, ready: bool, gauges: Callable[[], dict[str, float]] | None = None) -> str:
        pid = f'pid="{os.getpid()}"'
        lines = [
            "# HELP mlship_model_info The model this worker serves.",
            "# TYPE mlship_model_info gauge",
            f'mlship_model_info{{{pid},model="{_escape(self.model)}",version="{_escape(self.version)}"}} 1',
            "# HELP mlship_ready 1 when the model is loaded and warmed up.",
            "# TYPE mlship_ready gauge",
            f"mlship_ready{{{pid}}} {int(ready)}",
            "# HELP mlship_start_time_seconds When this worker started (unix time).",
            "# TYPE mlship_start_time_seconds gauge",
            f"mlship_start_time_seconds{{{pid}}} {self.started:.3f}",
            "# HELP mlship_requests_in_flight Requests being handled now.",
            "# TYPE mlship_requests_in_flight gauge",
            f"mlship_requests_in_flight{{{pid}}} {self.in_flight}",
            "# HELP mlship_requests_total Requests answered, by endpoint and HTTP status.",
            "# TYPE mlship_requests_total counter",
        ]
        for (endpoint, status), count in sorted(self.requests.items()):
            lines.append(f'mlship_requests_total{{{pid},endpoint="{endpoint}",status="{status}"}} {count}')
        lines += [
            "# HELP mlship_request_errors_total Failed requests, by kind.",
            "# TYPE mlship_request_errors_total counter",
        ]
        for kind, count in sorted(self.errors.items()):
            lines.append(f'mlship_request_errors_total{{{pid},kind="{kind}"}} {count}')
        lines += [
            "# HELP mlship_request_duration_seconds Time from request to response, by endpoint.",
            "# TYPE mlship_request_duration_seconds histogram",
        ]
        for endpoint, histogram in sorted(self.latency.items()):
            lines += histogram.lines("mlship_request_duration_seconds", f'{pid},endpoint="{endpoint}"')
        lines += [
            "# HELP mlship_request_rows Records per prediction request.",
            "# TYPE mlship_request_rows histogram",
        ]
        lines += self.request_rows.lines("mlship_request_rows", pid)
        lines += [
            "# HELP mlship_model_batch_rows Records per model call (requests are batched when queued).",
            "# TYPE mlship_model_batch_rows histogram",
        ]
        lines += self.model_rows.lines("mlship_model_batch_rows", pid)
        lines += [
            "# HELP mlship_model_duration_seconds Time spent in preprocess -> predict per model call.",
            "# TYPE mlship_model_duration_seconds histogram",
        ]
        lines += self.model_seconds.lines("mlship_model_duration_seconds", pid)
        for name, value in (gauges() if gauges else {}).items():
            lines += [f"# TYPE {name} gauge" if not name.endswith("_total") else f"# TYPE {name} counter"]
            lines.append(f"{name}{{{pid}}} {value}")
        return "\n".join(lines) + "\n"
