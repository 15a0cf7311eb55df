"""The prediction log writer: format, rotation, sampling, flush on close, settings precedence."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlship.serving.pipeline import RuntimeSpec
from mlship.serving.predlog import PredictionLog, read_log
from mlship.serving.settings import LogSettings, resolve

NAME = re.compile(r"^predictions-\d{8}T\d{6}-[a-z0-9]+-\d+\.jsonl$")


def make(tmp_path: Path, **options: object) -> PredictionLog:
    settings = LogSettings(path=str(tmp_path / "log"), flush_interval=60, **options)  # type: ignore[arg-type]
    log = PredictionLog(settings, "1.0+abc")
    log.start()
    return log


def test_close_flushes_everything_in_order(tmp_path: Path) -> None:
    log = make(tmp_path)
    for i in range(500):
        log.record(f"r{i}", "/predict", 200, 1.5, [{"x": i}], [i * 2], None)
    log.close()
    rows = read_log(tmp_path / "log")
    assert [r["request_id"] for r in rows] == [f"r{i}" for i in range(500)]
    assert rows[3] == {
        "ts": rows[3]["ts"],
        "request_id": "r3",
        "model_version": "1.0+abc",
        "endpoint": "/predict",
        "status": 200,
        "latency_ms": 1.5,
        "inputs": [{"x": 3}],
        "outputs": [6],
        "error": None,
    }
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", rows[3]["ts"])


def test_rotation_by_size(tmp_path: Path) -> None:
    log = make(tmp_path, max_bytes=2048)
    for i in range(40):
        log.record(f"r{i}", "/predict", 200, 1.0, [{"x": "y" * 50}], [1.0], None)
        log.flush()
    log.close()
    files = sorted((tmp_path / "log").iterdir())
    assert len(files) > 3
    assert all(NAME.match(f.name) for f in files)
    assert all(f.stat().st_size <= 2048 for f in files)
    assert [r["request_id"] for r in read_log(tmp_path / "log")] == [f"r{i}" for i in range(40)]


def test_sampling_keeps_every_failure(tmp_path: Path) -> None:
    log = make(tmp_path, sample_rate=0.0)
    log.record("ok", "/predict", 200, 1.0, [{}], [1], None)
    log.record("bad", "/predict", 422, 1.0, None, None, "records[0].x is required")
    log.close()
    assert [r["request_id"] for r in read_log(tmp_path / "log")] == ["bad"]


def test_sampling_rate_is_roughly_kept(tmp_path: Path) -> None:
    log = make(tmp_path, sample_rate=0.25)
    for i in range(4000):
        log.record(f"r{i}", "/predict", 200, 1.0, None, [1], None)
    log.close()
    assert 800 < len(read_log(tmp_path / "log")) < 1200


def test_non_finite_outputs_become_null(tmp_path: Path) -> None:
    log = make(tmp_path)
    log.record("nan", "/predict", 200, 1.0, [{"x": 1}], [float("nan"), float("inf"), 2.0], None)
    log.close()
    text = next((tmp_path / "log").iterdir()).read_text()
    assert json.loads(text)["outputs"] == [None, None, 2.0]


def test_disabled_log_writes_nothing(tmp_path: Path) -> None:
    log = make(tmp_path, enabled=False)
    log.record("x", "/predict", 200, 1.0, None, None, None)
    log.close()
    assert not (tmp_path / "log").exists()


def test_log_dir_precedence() -> None:
    spec = RuntimeSpec("m", "1", "src", "art", {}, extra={"logging": {"path": "from-yaml"}})
    assert resolve(spec, env={}).log.path == "from-yaml"
    assert resolve(spec, env={"MLSHIP_LOG_DIR": "from-env"}).log.path == "from-env"
    assert resolve(spec, log_dir="from-flag", env={"MLSHIP_LOG_DIR": "from-env"}).log.path == "from-flag"
    assert resolve(RuntimeSpec("m", "1", "s", "a", {}), env={}).log.path == "logs/predictions"
