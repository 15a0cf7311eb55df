"""Reading prediction logs: durations, files and directories, the time window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlship.errors import InputError, UsageError
from mlship.monitor.logs import find_log_files, parse_since
from mlship.monitor.reader import read_logs

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
    fields = {"x": "numeric", "c": "categorical", "absent": "numeric"}
    live = read_logs([path], fields=fields, predictions={"prediction": "numeric"})
    assert live.requests == 5 and live.failed == 1 and live.records == 10
    assert live.columns["x"].values.tolist() == [float(i) for i in range(10)]
    assert live.columns["c"].counts == {"a": 5, "b": 5}
    assert live.predictions["prediction"].values.tolist() == [i * 2 for i in range(10)]
    absent = live.columns["absent"]
    assert absent.missing == 10 and not absent.present and live.columns["x"].present
    recent = read_logs([path], fields={"x": "numeric"}, since=NOW - timedelta(minutes=45))
    # Requests at -2h, -1.5h, -1h, -30m (record 9) and the failed one at NOW.
    assert recent.requests == 2 and recent.columns["x"].values.tolist() == [9.0]


def test_chunks_and_workers_give_the_same_answer(tmp_path, logfmt, monkeypatch):
    from mlship.monitor import reader

    records = [{"x": i % 17 if i % 11 else None, "c": ["a", "b", 3, 3.0, True][i % 5]} for i in range(3000)]
    path = logfmt.write(tmp_path, logfmt.lines(records, list(range(3000)), batch=2))
    with path.open("a") as handle:
        handle.write('{"cut short\n[1, 2]\n\n')
    fields = {"x": "numeric", "c": "categorical"}
    whole = read_logs([path], fields=fields, workers=1)
    monkeypatch.setattr(reader, "CHUNK_BYTES", 10_000)
    assert len(reader._chunks(path)) > 20
    split = read_logs([path], fields=fields, workers=2)
    for live in (whole, split):
        assert (live.requests, live.records, live.bad_lines) == (1500, 3000, 2)
        assert live.columns["c"].counts == {"a": 600, "b": 600, "3": 1200, "true": 600}
        assert live.columns["x"].missing == 273
    assert sorted(split.columns["x"].values) == sorted(whole.columns["x"].values)


def test_values_that_are_not_numbers_count_as_missing():
    from mlship.monitor.reader import make_column

    column = make_column("numeric", [1, "2.5", None, "abc", {"a": 1}, float("nan"), True])
    assert column.values.tolist() == [1.0, 2.5, 1.0] and column.missing == 4 and column.invalid == 2


@pytest.mark.parametrize("ts", [1714564800, None, ["2024-05-01"], {"at": 1}])
def test_a_line_whose_ts_is_not_a_string_is_skipped_not_a_crash(ts, tmp_path):
    """replay --since compares each line's time: a line with a number (or anything not a string) for
    `ts` is counted as unusable, the other lines are read."""
    import json

    from mlship.monitor.logs import iter_requests

    good = {"ts": "2024-05-01T11:59:00.000Z", "status": 200, "inputs": [{"x": 1}], "outputs": [2]}
    log = tmp_path / "requests-1.jsonl"
    log.write_text(json.dumps({**good, "ts": ts}) + "\n" + json.dumps(good) + "\n")
    (kept,) = iter_requests([log], since=NOW - timedelta(hours=1))
    assert (kept.ts, kept.inputs, kept.outputs) == (good["ts"], good["inputs"], good["outputs"])
    assert len(list(iter_requests([log]))) == 2  # with no window, the time does not matter
