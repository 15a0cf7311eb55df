"""Finding and reading the serving runtime's prediction logs (JSON Lines), request by request.

One line per request: {"ts", "request_id", "model_version", "endpoint", "status", "latency_ms",
"inputs": [records] | null, "outputs": [...] | null, "error": str | null}.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlship.errors import InputError, UsageError

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


def _entries(path: Path, loads: Any, cutoff: str | None, bad: list[int]) -> Iterator[dict[str, Any]]:
    """The request lines of one file at or after the cutoff; unparsable lines are counted in bad[0]."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            entry = loads(line)
            ts = entry.get("ts") or ""
        except (ValueError, AttributeError, TypeError):
            bad[0] += 1  # a line cut short by a crash must not stop the report
            continue
        if cutoff is None or ts[:19] >= cutoff:
            yield entry


def scored_records(entry: dict[str, Any]) -> list[tuple[dict[str, Any], Any]] | None:
    """(input record, logged output) pairs of a successful request; None for a failed one."""
    status, inputs = entry.get("status"), entry.get("inputs")
    if entry.get("error") or not isinstance(status, int) or status >= 400 or not isinstance(inputs, list):
        return None
    out = entry.get("outputs")
    if not isinstance(out, list) or len(out) != len(inputs):
        out = [None] * len(inputs)
    return [(r, o) for r, o in zip(inputs, out, strict=True) if isinstance(r, dict)]


def iter_requests(files: list[Path], *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every logged request (failed ones too) in the files, at or after `since`."""
    loads, bad = json_loads(), [0]
    cutoff = ts_key(since) if since else None
    for path in files:
        yield from _entries(path, loads, cutoff, bad)


def ts_key(moment: datetime) -> str:
    """The comparable prefix of a logged timestamp ("YYYY-mm-ddTHH:MM:SS", UTC)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def json_loads() -> Any:
    # msgspec decodes the log several times faster than the standard library (bench/monitor.py).
    import msgspec

    return msgspec.json.decode
