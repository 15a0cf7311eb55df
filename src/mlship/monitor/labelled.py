"""Predictions joined to outcomes that arrive later: the key of each logged record, labels files, the join.

A logged record's key is the value of the request field `monitor.performance.key` when one is set
(the client's own id), else `REQUEST_ID:INDEX` -- the request id the response carries and the
record's position in the request (the response lists them as `keys`). Nothing extra is written per
record: the key is rebuilt from the log line. The log is read in parallel chunks as for drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlship.errors import InputError
from mlship.monitor.logs import decode_lines, read_file, succeeded, ts_key
from mlship.monitor.reader import _chunks, _run, idle_cores, no_cyclic_gc

LABEL_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet", ".pq")
TIME_COLUMNS = ("time", "ts", "timestamp", "label_time")


@dataclass
class Scored:
    """Every successfully scored record of the logs: key, time, model version and the watched output."""

    key: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    ts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="datetime64[ms]"))
    version: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    value: np.ndarray = field(default_factory=lambda: np.empty(0))  # NaN: no usable output
    no_key: int = 0  # records without the configured key field

    @property
    def records(self) -> int:
        return len(self.key)


def read_scored(
    files: list[Path],
    *,
    key_field: str | None,
    output: str | None,
    since: Any = None,
    workers: int | None = None,
) -> Scored:
    """The scored records of the logs with their keys; `output` is the key of a dict output to read."""
    cutoff = ts_key(since) if since else None
    tasks = [(str(p), a, b, cutoff, key_field, output) for p in files for a, b in _chunks(p)]
    count = min(workers or idle_cores(), len(tasks), 8)
    parts = _run_keyed(tasks, count)
    scored = Scored()
    if parts:
        scored.key = np.concatenate([p.key for p in parts])
        scored.ts = np.concatenate([p.ts for p in parts])
        scored.version = np.concatenate([p.version for p in parts])
        scored.value = np.concatenate([p.value for p in parts])
        scored.no_key = sum(p.no_key for p in parts)
    return scored


def _run_keyed(tasks: list[tuple], count: int) -> list[Scored]:
    return _run(tasks, count, work=read_keyed_chunk)


def read_keyed_chunk(task: tuple) -> Scored:
    path, start, end, cutoff, key_field, output = task
    with no_cyclic_gc():
        return _keyed_chunk(Path(path), start, end, cutoff, key_field, output)


def _keyed_chunk(
    path: Path, start: int, end: int, cutoff: str | None, key_field: str | None, output: str | None
) -> Scored:
    entries, _ = decode_lines(read_file(path, start, end), cutoff)
    keys: list[Any] = []
    stamps: list[str] = []
    versions: list[Any] = []
    values: list[Any] = []
    for e in entries:
        if not succeeded(e):
            continue
        inputs = e.inputs
        n = len(inputs)
        out = e.outputs if type(e.outputs) is list and len(e.outputs) == n else [None] * n
        if key_field is None:
            rid = e.request_id
            keys.extend(f"{rid}:{i}" for i in range(n))
        else:
            keys.extend(r.get(key_field) if type(r) is dict else None for r in inputs)
        stamps.extend([e.ts] * n)
        versions.extend([e.model_version] * n)
        values.extend(out if output is None else [o.get(output) if type(o) is dict else None for o in out])
    scored = Scored()
    key = np.array(keys, dtype=object)
    present = np.array([k is not None for k in keys], dtype=bool)
    scored.no_key = int(len(keys) - present.sum())
    if key_field is not None:  # ids may come as numbers: compare as text, as the labels file is read
        key = np.array([str(k) for k in key[present]], dtype=object)
    scored.key = key
    scored.ts = _times([s for s, p in zip(stamps, present, strict=True) if p] if scored.no_key else stamps)
    scored.version = np.array(versions, dtype=object)[present]
    scored.value = _floats(values)[present]
    return scored


def _times(stamps: list[Any]) -> np.ndarray:
    # "2024-05-01T12:00:00.123Z": numpy reads the first 23 characters as milliseconds.
    try:
        return np.array([s[:23] for s in stamps], dtype="datetime64[ms]")
    except (TypeError, ValueError):
        out = np.empty(len(stamps), dtype="datetime64[ms]")
        for i, s in enumerate(stamps):
            try:
                out[i] = np.datetime64(str(s)[:23], "ms")
            except ValueError:
                out[i] = np.datetime64("NaT")
        return out


def watched_value(output: Any) -> float:
    """The number monitoring watches in one prediction: the prediction itself, or for a pair of
    numbers (a binary classifier's `predict_proba` row) the second, P(classes_[1]); NaN for anything
    else."""
    if isinstance(output, (list, tuple, np.ndarray)) and len(output) == 2:
        output = output[1]
    if isinstance(output, (int, float, np.number)) and not isinstance(output, bool):
        return float(output)
    return float("nan")


def _floats(values: list[Any]) -> np.ndarray:
    try:
        out = np.array(values, dtype=float)  # the common case, one call
        if out.ndim == 1:
            return out
    except (TypeError, ValueError):
        pass
    return np.array([watched_value(v) for v in values], dtype=float)


# -- labels ----------------------------------------------------------------------------------


@dataclass
class Labels:
    sources: list[str]
    key: np.ndarray  # text
    outcome: np.ndarray  # as read (numbers or text)
    time: np.ndarray | None  # when the outcome became known, if the files say
    rows: int = 0  # rows read
    duplicates: int = 0  # rows whose key came again (the last one counts)
    no_outcome: int = 0  # rows without an outcome (left out, counted)


def label_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES
            )
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"labels {path} do not exist")
    if not found:
        raise InputError(
            f"no labels files ({', '.join(LABEL_SUFFIXES)}) in {', '.join(map(str, paths))}",
            hint="write the outcomes as CSV, JSON Lines or Parquet with a key and an outcome column",
        )
    return found


def read_labels(paths: list[Path], *, key_column: str, outcome_columns: list[str]) -> Labels:
    """Outcomes keyed like the log; the outcome column is the first of `outcome_columns` present."""
    import pandas as pd

    from mlship.datafiles import read_table

    files = label_files(paths)
    frames = []
    for path in files:
        try:
            frame = read_table(path)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many kinds
            raise InputError(f"cannot read labels {path}: {type(exc).__name__}: {exc}") from None
        frames.append(_label_columns(frame, path, key_column, outcome_columns))
    table = pd.concat(frames, ignore_index=True)
    rows = len(table)
    missing = table["outcome"].isna()
    table = table[~missing]
    before = len(table)
    table = table.drop_duplicates("key", keep="last")
    time = None
    if "time" in table:
        time = pd.to_datetime(table["time"], utc=True, errors="coerce").dt.tz_localize(None).to_numpy()
        time = time.astype("datetime64[ms]")
    return Labels(
        sources=[str(f) for f in files],
        key=table["key"].to_numpy(dtype=object),
        outcome=table["outcome"].to_numpy(),
        time=time,
        rows=rows,
        duplicates=before - len(table),
        no_outcome=int(missing.sum()),
    )


def _label_columns(frame: Any, path: Path, key_column: str, outcome_columns: list[str]) -> Any:
    import pandas as pd

    keys = [c for c in (key_column, "key") if c in frame.columns]
    outcomes = [c for c in outcome_columns if c in frame.columns]
    if not keys or not outcomes:
        raise InputError(
            f"labels {path} need a key column ({key_column!r}) and an outcome column "
            f"(one of {outcome_columns}); it has {list(map(str, frame.columns))[:10]}",
            hint="the key is what the prediction response returned in `keys` (or your id field)",
        )
    out = pd.DataFrame({"key": frame[keys[0]].astype(str), "outcome": frame[outcomes[0]]})
    times = [c for c in TIME_COLUMNS if c in frame.columns]
    if times:
        out["time"] = frame[times[0]]
    return out


# -- the join --------------------------------------------------------------------------------


@dataclass
class Joined:
    """The predictions that have outcomes, and how many of each side found no partner."""

    ts: np.ndarray
    version: np.ndarray
    value: np.ndarray
    outcome: np.ndarray
    delay_s: np.ndarray | None  # label time - prediction time, where the labels say when
    predictions: int  # scored records in the logs
    labelled: int  # of them, with an outcome
    unmatched_labels: int  # outcomes whose key is in no logged prediction (of the window read)
    unlabelled: int  # predictions without an outcome (yet)
    duplicate_keys: int  # logged records sharing a key with an earlier one (the latest counts)
    no_output: int  # labelled predictions logged without a usable output (left out, counted)


def join(scored: Scored, labels: Labels) -> Joined:
    import pandas as pd

    # The latest prediction per key: a client retrying a request logs its key twice.
    order = np.argsort(scored.ts, kind="stable")
    keys = pd.Index(scored.key[order])
    last = ~keys.duplicated(keep="last")
    index = pd.Index(keys[last])
    position = index.get_indexer(pd.Index(labels.key))
    found = position >= 0
    rows = order[last][position[found]]
    value = scored.value[rows]
    usable = ~np.isnan(value)
    rows = rows[usable]
    delay = None
    if labels.time is not None:
        delay = (labels.time[found][usable] - scored.ts[rows]) / np.timedelta64(1, "s")
    labelled = int(found.sum())
    return Joined(
        ts=scored.ts[rows],
        version=scored.version[rows],
        value=value[usable],
        outcome=labels.outcome[found][usable],
        delay_s=delay,
        predictions=scored.records,
        labelled=labelled,
        unmatched_labels=int(len(found) - labelled),
        unlabelled=int(len(index) - labelled),
        duplicate_keys=int(len(keys) - len(index)),
        no_output=int((~usable).sum()),
    )
