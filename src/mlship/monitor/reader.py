"""The fast path of `mlship monitor`: prediction logs -> compact per-field columns, in parallel.

Files are cut into ~32 MB chunks at line boundaries; each chunk is decoded (msgspec) in a worker
process and comes back compact (numpy arrays for numeric fields, counters for categorical ones),
so only a few bytes per record cross the process boundary.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlship.errors import InputError
from mlship.monitor.logs import Entry, decode_lines, read_file, succeeded, ts_key
from mlship.monitor.profile import PREDICTION, category_key, is_missing

CHUNK_BYTES = 32 * 1024 * 1024
MAX_WORKERS = 8


@dataclass
class Column:
    """One watched field of the live traffic: numeric values, or category counts, and what was missing."""

    kind: str
    values: np.ndarray = field(default_factory=lambda: np.empty(0))  # numeric: the finite values
    counts: Counter = field(default_factory=Counter)  # categorical: category key -> count
    missing: int = 0  # absent, null, NaN, or (numeric) not a number
    invalid: int = 0  # present but not a number (numeric only; included in missing)
    present: bool = False  # some record carried the field at all

    @property
    def total(self) -> int:
        return len(self.values) + sum(self.counts.values()) + self.missing

    def merge(self, other: Column) -> None:
        if len(other.values):
            self.values = np.concatenate([self.values, other.values]) if len(self.values) else other.values
        self.counts.update(other.counts)
        self.missing += other.missing
        self.invalid += other.invalid
        self.present = self.present or other.present


@dataclass
class LiveData:
    """The logged traffic: request counters and one Column per watched field and prediction."""

    files: list[str] = field(default_factory=list)
    requests: int = 0
    failed: int = 0
    bad_lines: int = 0
    records: int = 0
    statuses: Counter = field(default_factory=Counter)
    model_versions: Counter = field(default_factory=Counter)
    latency_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    first_ts: str | None = None
    last_ts: str | None = None
    columns: dict[str, Column] = field(default_factory=dict)
    predictions: dict[str, Column] = field(default_factory=dict)

    def merge(self, other: LiveData) -> None:
        for name in ("requests", "failed", "bad_lines", "records"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.statuses.update(other.statuses)
        self.model_versions.update(other.model_versions)
        self.latency_ms = np.concatenate([self.latency_ms, other.latency_ms])
        if other.first_ts and (self.first_ts is None or other.first_ts < self.first_ts):
            self.first_ts = other.first_ts
        if other.last_ts and (self.last_ts is None or other.last_ts > self.last_ts):
            self.last_ts = other.last_ts
        for target, source in ((self.columns, other.columns), (self.predictions, other.predictions)):
            for name, column in source.items():
                if name in target:
                    target[name].merge(column)
                else:
                    target[name] = column


def read_logs(
    files: list[Path],
    *,
    fields: dict[str, str],
    predictions: dict[str, str] | None = None,
    since: datetime | None = None,
    workers: int | None = None,
) -> LiveData:
    """Read the logs into columns; `fields`/`predictions` map names to "numeric" or "categorical".

    Failed requests (logs.succeeded) are counted, not profiled; the gate's are not read at all.
    """
    cutoff = ts_key(since) if since else None
    chosen = []
    for path in files:
        # A file last written before the cutoff holds nothing newer: skip it unread.
        if since is None or path.stat().st_mtime >= since.timestamp():
            chosen.append(path)
    tasks = [
        (str(p), start, end, cutoff, fields, predictions or {}) for p in chosen for start, end in _chunks(p)
    ]
    count = min(workers or idle_cores(), len(tasks), MAX_WORKERS)
    live = LiveData(files=[str(p) for p in chosen])
    live.columns = {name: Column(kind) for name, kind in fields.items()}
    live.predictions = {name: Column(kind) for name, kind in (predictions or {}).items()}
    for part in _run(tasks, count):
        live.merge(part)
    return live


def idle_cores() -> int:
    """Cores not already busy: on a loaded machine extra processes only add pickling and forking."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this platform
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))


def _run(tasks: list[tuple], count: int, work: Any = None):
    work = work or read_chunk
    if count <= 1:
        return [work(task) for task in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: workers start at once with everything already imported (no re-import per worker).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context(method)) as pool:
        return list(pool.map(work, tasks))


def _chunks(path: Path) -> list[tuple[int, int]]:
    """Byte ranges of ~CHUNK_BYTES that start and end on line boundaries."""
    try:
        size = path.stat().st_size
        bounds = [0]
        with path.open("rb") as handle:
            while bounds[-1] + CHUNK_BYTES < size:
                handle.seek(bounds[-1] + CHUNK_BYTES)
                handle.readline()  # to the end of the line the cut fell in
                bounds.append(min(handle.tell(), size))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    bounds.append(size)
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Millions of fresh objects from a log chunk would trigger the cyclic collector over and over;
    they hold no cycles, so it is paused while a chunk is read."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def read_chunk(task: tuple) -> LiveData:
    path, start, end, cutoff, fields, predictions = task
    with no_cyclic_gc():
        return _read_chunk(Path(path), start, end, cutoff, fields, predictions)


def _read_chunk(
    path: Path, start: int, end: int, cutoff: str | None, fields: dict, predictions: dict
) -> LiveData:
    entries, bad = decode_lines(read_file(path, start, end), cutoff)
    live = LiveData(bad_lines=bad, requests=len(entries))
    live.statuses.update(e.status for e in entries)
    live.model_versions.update([e.model_version for e in entries])
    latency, _ = numeric_values([e.latency_ms for e in entries])
    live.latency_ms = latency[np.isfinite(latency)]
    stamps = [e.ts for e in entries if type(e.ts) is str]
    if stamps:
        live.first_ts, live.last_ts = min(stamps), max(stamps)
    ok = [e for e in entries if succeeded(e)]
    live.failed = len(entries) - len(ok)
    records = [r for e in ok for r in e.inputs]
    outputs = [o for e in ok for o in _outputs(e)] if predictions else []
    if not all(type(r) is dict for r in records):
        keep = [i for i, r in enumerate(records) if type(r) is dict]
        records = [records[i] for i in keep]
        outputs = [outputs[i] for i in keep] if predictions else []
    live.records = len(records)
    for name, kind in fields.items():
        live.columns[name] = make_column(kind, [r.get(name) for r in records])
        live.columns[name].present = any(name in r for r in records)
    for name, kind in predictions.items():
        # A record logged without its output says nothing about the model: not "missing", left out.
        values = [v for v in _prediction_values(outputs, name) if v is not None]
        live.predictions[name] = make_column(kind, values)
        live.predictions[name].present = bool(values)
    return live


def _outputs(entry: Entry) -> list[Any]:
    out, n = entry.outputs, len(entry.inputs)
    return out if type(out) is list and len(out) == n else [None] * n


def _prediction_values(outputs: list[Any], name: str) -> list[Any]:
    if name == PREDICTION:
        return outputs
    key = name.split(".", 1)[1]
    return [o.get(key) if type(o) is dict else None for o in outputs]


def make_column(kind: str, raw: list[Any]) -> Column:
    if kind == "numeric":
        values, invalid = numeric_values(raw)
        finite = values[np.isfinite(values)]
        return Column(kind, values=finite, missing=len(values) - len(finite), invalid=invalid)
    counts: Counter = Counter()
    missing = 0
    # Counting raw values first keeps the per-value work in C; keys are folded once per distinct value.
    for value, count in Counter(raw).items():
        if is_missing(value):
            missing += count
        else:
            counts[category_key(value)] += count
    return Column(kind, counts=counts, missing=missing)


def numeric_values(column: list[Any]) -> tuple[np.ndarray, int]:
    """Floats (NaN where missing) and how many present values were not numbers."""
    try:
        return np.array(column, dtype=float), 0
    except (TypeError, ValueError):
        values = [_number(v) for v in column]
        invalid = sum(1 for v in values if v is None)
        return np.array([np.nan if v is None else v for v in values], dtype=float), invalid


def _number(value: Any) -> float | None:
    """A float, NaN for missing, None for a present value that is not a number."""
    if value is None:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
