"""A small closed-loop HTTP/1.1 load generator on raw asyncio sockets (loopback only).

Each of `concurrency` keep-alive connections sends one request, waits for the whole response,
and sends the next. Bounded twice: by `duration` seconds and by `max_requests`.

`run_paired` measures several servers at concurrency 1 side by side: one client gives each
server a short turn (50 ms of back-to-back requests; the first server rotates each cycle), so
every server is measured within a fraction of a second of the others and a host whose speed
drifts (a shared VM's CPU varies by a third from one second to the next) slows all of them
alike. A turn's first answer is not counted: it pays for the caches the other servers' turns
evicted (one request each in turn measured every server cold, ~1.7x slower than alone). Each
server's figures count only the time spent waiting on it: its rate is the closed-loop rate it
would get alone.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, float]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else float("nan"),
            "requests": self.requests,
            "errors": self.errors,
        }


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


class _Connection:
    """One keep-alive connection: a request out, the whole response back, reopened after a failure."""

    def __init__(self, host: str, port: int, streams: tuple[asyncio.StreamReader, asyncio.StreamWriter]):
        self.host, self.port = host, port
        self.reader, self.writer = streams

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(host, port, await asyncio.open_connection(host, port))

    async def exchange(self, request: bytes) -> tuple[int | None, float]:
        """(status, milliseconds); status None when the connection failed (it is opened again)."""
        started = time.perf_counter()
        try:
            self.writer.write(request)
            status = await _read_response(self.reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            return None, 0.0
        return status, (time.perf_counter() - started) * 1000.0

    def close(self) -> None:
        self.writer.close()


async def _worker(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    budget: list[int],
    latencies: list[float],
    errors: list[int],
) -> None:
    connection = await _Connection.open(host, port)
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            status, ms = await connection.exchange(request)
            if status != 200:
                errors[0] += 1
            else:
                latencies.append(ms)
    finally:
        connection.close()


async def _run(
    host: str, port: int, path: str, body: bytes, concurrency: int, duration: float, max_requests: int
) -> LoadResult:
    request = build_request(host, port, path, body)
    latencies: list[float] = []
    errors = [0]
    budget = [max_requests]
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(
        *(_worker(host, port, request, stop_at, budget, latencies, errors) for _ in range(concurrency))
    )
    seconds = time.perf_counter() - started
    return LoadResult(len(latencies), errors[0], seconds, latencies)


async def _paired(
    host: str, targets: list[tuple[int, str, bytes]], duration: float, turn: float, max_requests: int
) -> list[LoadResult]:
    requests = [build_request(host, port, path, body) for port, path, body in targets]
    connections = [await _Connection.open(host, port) for port, _, _ in targets]
    latencies: list[list[float]] = [[] for _ in targets]
    errors = [0] * len(targets)
    stop_at = time.perf_counter() + duration
    cycle = sent = 0
    try:
        while time.perf_counter() < stop_at and sent < max_requests:
            first = cycle % len(targets)
            cycle += 1
            for index in [*range(first, len(targets)), *range(first)]:
                turn_ends = time.perf_counter() + turn
                warm = False  # the turn's first answer pays for caches the other servers evicted
                while time.perf_counter() < turn_ends and sent < max_requests:
                    sent += 1
                    status, ms = await connections[index].exchange(requests[index])
                    if status is None:
                        errors[index] += 1
                        continue
                    if status != 200:
                        errors[index] += 1
                    elif warm:
                        latencies[index].append(ms)
                    warm = True
    finally:
        for connection in connections:
            connection.close()
    pairs = zip(latencies, errors, strict=True)
    return [LoadResult(len(lat), err, sum(lat) / 1000.0, lat) for lat, err in pairs]


def run_paired(
    host: str,
    targets: list[tuple[int, str, bytes]],
    *,
    duration: float,
    turn: float = 0.05,
    max_requests: int = 200_000,
) -> list[LoadResult]:
    """Concurrency 1 against each (port, path, body) in turns of `turn` seconds, for at most
    `duration` seconds and `max_requests` requests in all; one LoadResult per target, its
    `seconds` the time spent waiting on it (the first answer of each turn is not counted)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the load generator only targets loopback")
    return asyncio.run(_paired(host, targets, duration, turn, max_requests))


def run_load(
    host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    concurrency: int,
    duration: float,
    max_requests: int = 200_000,
) -> LoadResult:
    """Closed-loop load for at most `duration` seconds and `max_requests` requests."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the load generator only targets loopback")
    return asyncio.run(_run(host, port, path, body, concurrency, duration, max_requests))
