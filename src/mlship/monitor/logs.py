"""The one reader of the serving runtime's prediction logs (JSON Lines): where they are, how a line
is decoded (msgspec), which requests are traffic and which succeeded. `monitor`, `replay` and the
contract's differential check all read through here.

One line per request: {"ts", "request_id", "model_version", "endpoint", "status", "latency_ms",
"inputs": [records] | null, "outputs": [...] | null, "error": str | null, "origin"?: "gate"}.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec

from mlship.errors import InputError, UsageError
from mlship.serving.predlog import answered

LOG_GLOB = "*.jsonl"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`--since`: a duration back from now (`90m`, `6h`, `7d`, `1h30m`) or an ISO-8601 time."""
    now = now or datetime.now(timezone.utc)
    spec = text.strip().replace(" ", "")
    seconds = duration_seconds(spec)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(spec.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a duration nor a time",
            hint="use a duration such as 30m, 6h, 7d or 1h30m, or an ISO time such as 2024-05-01T12:00:00Z",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def duration_seconds(text: str) -> float | None:
    """`90m`, `6h`, `7d`, `1h30m` in seconds; None when the text is not a duration."""
    spec = text.strip().replace(" ", "")
    if not spec or _DURATION.sub("", spec) != "":
        return None
    return sum(float(n) * _UNITS[u.lower()] for n, u in _DURATION.findall(spec))


def find_log_files(paths: list[Path]) -> list[Path]:
    """The JSONL files named, and those under named directories (recursively), oldest name first."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in path.rglob(LOG_GLOB) if p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"prediction log {path} does not exist")
    if not found:
        where = ", ".join(str(p) for p in paths)
        raise InputError(
            f"no prediction logs (*.jsonl) in {where}",
            hint="is the service logging (logging.enabled in mlship.yaml) and has it had traffic?",
        )
    return sorted(set(found), key=lambda p: (p.name, str(p)))


class Entry(msgspec.Struct):
    """The fields of a log line that mlship reads; the others are skipped, never materialised."""

    ts: Any = None
    request_id: Any = None  # with the record's index, the key labels join on
    model_version: Any = None
    status: Any = None
    latency_ms: Any = None
    inputs: Any = None
    outputs: Any = None
    error: Any = None
    origin: Any = None  # "gate": sent by the deploy gate, not traffic (absent on traffic)


_DECODER = msgspec.json.Decoder(Entry)


def decode_lines(data: bytes, cutoff: str | None = None) -> tuple[list[Entry], int]:
    """The traffic in `data` (JSON lines) at or after the cutoff, and how many lines were not log
    entries. Requests the deploy gate sent are left out here, once, for every reader."""
    bad = 0
    try:
        entries = _DECODER.decode_lines(data)  # one call for the whole chunk: no per-line Python work
    except msgspec.DecodeError:
        # A line cut short by a crash (or not an object) must not stop the reading: line by line.
        entries = []
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                entries.append(_DECODER.decode(line))
            except msgspec.DecodeError:
                bad += 1
    if cutoff is not None:
        entries = [e for e in entries if type(e.ts) is str and e.ts[:19] >= cutoff]
    if any(e.origin is not None for e in entries):
        entries = [e for e in entries if e.origin is None]
    return entries, bad


def succeeded(entry: Entry) -> bool:
    """The one rule for a request that counts: answered (the runtime's rule: below 400), no error, a
    list of inputs."""
    return answered(entry.status) and not entry.error and type(entry.inputs) is list


def scored_records(entry: Entry) -> list[tuple[dict[str, Any], Any]] | None:
    """(input record, logged output) pairs of a request that succeeded; None for one that failed."""
    if not succeeded(entry):
        return None
    out = entry.outputs
    if not isinstance(out, list) or len(out) != len(entry.inputs):
        out = [None] * len(entry.inputs)
    return [(r, o) for r, o in zip(entry.inputs, out, strict=True) if isinstance(r, dict)]


def read_file(path: Path, start: int = 0, end: int | None = None) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            return handle.read() if end is None else handle.read(end - start)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def iter_requests(files: list[Path], *, since: datetime | None = None) -> Iterator[Entry]:
    """Every logged request of the traffic (failed ones too) in the files, at or after `since`."""
    cutoff = ts_key(since) if since else None
    for path in files:
        entries, _ = decode_lines(read_file(path), cutoff)
        yield from entries


def ts_key(moment: datetime) -> str:
    """The comparable prefix of a logged timestamp ("YYYY-mm-ddTHH:MM:SS", UTC)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
