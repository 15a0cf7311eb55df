"""Reading prediction logs: durations, files and directories, the time window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlship.errors import InputError, UsageError
from mlship.monitor.logs import find_log_files, parse_since, read_logs

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_since_durations(text, back):
    assert parse_since(text, now=NOW) == NOW - back


def test_since_times_and_nonsense():
    assert parse_since("2024-04-30T08:00:00Z") == datetime(2024, 4, 30, 8, tzinfo=timezone.utc)
    assert parse_since("2024-04-30T08:00:00") == datetime(2024, 4, 30, 8, tzinfo=timezone.utc)
    with pytest.raises(UsageError):
        parse_since("last tuesday")


def test_directories_are_searched_and_files_ordered(tmp_path, logfmt):
    logfmt.write(tmp_path / "a", ["{}"], stamp="20240102T000000")
    logfmt.write(tmp_path / "b" / "deep", ["{}"], stamp="20240101T000000")
    (tmp_path / "a" / "notes.txt").write_text("not a log")
    files = find_log_files([tmp_path])
    assert [f.name for f in files] == [
        "predictions-20240101T000000-4242.jsonl",
        "predictions-20240102T000000-4242.jsonl",
    ]
    with pytest.raises(InputError):
        find_log_files([tmp_path / "missing"])


def test_columns_batches_failures_and_window(tmp_path, logfmt):
    records = [{"x": float(i), "c": "a" if i % 2 else "b"} for i in range(10)]
    start = NOW - timedelta(hours=2)
    lines = logfmt.lines(
        records, [i * 2 for i in range(10)], batch=3, start=start, step=timedelta(minutes=30)
    )
    lines.append(logfmt.failed({"x": "oops"}, ts=NOW))
    path = logfmt.write(tmp_path, lines)
    live = read_logs([path], fields=["x", "c", "absent"])
    assert live.requests == 5 and live.failed == 1 and live.records == 10
    assert live.columns["x"] == [float(i) for i in range(10)] and live.outputs == [i * 2 for i in range(10)]
    assert live.columns["absent"] == [None] * 10 and live.seen == {"x", "c"}
    recent = read_logs([path], fields=["x"], since=NOW - timedelta(minutes=45))
    # Requests at -2h, -1.5h, -1h, -30m (records 9..) and the failed one at NOW.
    assert recent.requests == 2 and recent.columns["x"] == [9.0]
