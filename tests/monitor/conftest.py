"""Fixtures for monitor tests: the example project, trained for real, and traffic logged in its name."""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

# Prediction log lines in the serving runtime's documented format (one request per line).


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def log_lines(
    records: list[dict[str, Any]],
    outputs: list[Any],
    *,
    model_version: str = "0.1.0+test",
    start: datetime | None = None,
    batch: int = 1,
    step: timedelta = timedelta(seconds=1),
) -> list[str]:
    start = start or datetime.now(timezone.utc) - timedelta(minutes=30)
    lines = []
    for i in range(0, len(records), batch):
        inputs = [{k: _clean(v) for k, v in r.items()} for r in records[i : i + batch]]
        entry = {
            "ts": (start + step * (i // batch)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": uuid.uuid4().hex,
            "model_version": model_version,
            "endpoint": "/predict",
            "status": 200,
            "latency_ms": 3.5 + (i % 7),
            "inputs": inputs,
            "outputs": [_clean(o) for o in outputs[i : i + batch]],
            "error": None,
        }
        lines.append(json.dumps(entry))
    return lines


def failed_line(
    record: dict[str, Any],
    *,
    status: int = 422,
    ts: datetime | None = None,
    model_version: str = "0.1.0+test",
) -> str:
    ts = ts or datetime.now(timezone.utc)
    return json.dumps(
        {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": uuid.uuid4().hex,
            "model_version": model_version,
            "endpoint": "/predict",
            "status": status,
            "latency_ms": 1.0,
            "inputs": [record],
            "outputs": None,
            "error": "preprocess rejected the input",
        }
    )


def write_log(log_dir: Path, lines: list[str], *, stamp: str = "20240101T000000", pid: int = 4242) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"predictions-{stamp}-{pid}.jsonl"
    with path.open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def make_project(root: Path, name: str, *, replace: dict[str, str] | None = None):
    """Render the example project and train it; `replace` edits mlship.yaml's text first."""
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    init_project(directory=root / name, no_input=True)
    config = root / name / "mlship.yaml"
    text = config.read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)
    project = Project.load(root / name)
    train(project)
    return project


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The example model (templates/project), rendered and trained with `mlship train`'s code."""
    return make_project(tmp_path_factory.mktemp("monitor"), "t9demo")


@pytest.fixture(scope="session")
def retrained(tmp_path_factory):
    """The same example project trained on another split: a new model version."""
    return make_project(tmp_path_factory.mktemp("replay"), "t9demo_v2", replace={"seed: 42": "seed: 7"})


@pytest.fixture(scope="session")
def pipeline(demo):
    from mlship.project import load_pipeline

    return load_pipeline(demo)


@pytest.fixture(scope="session")
def training_inputs(demo):
    """The training records as clients would send them (no target column)."""
    import pandas as pd

    return pd.read_csv(demo.data_path()).drop(columns=["demand"])


@pytest.fixture
def write_traffic(demo, pipeline, tmp_path) -> Callable[..., Path]:
    """Log `records` as served traffic; returns the log directory.

    Until `mlship serve` writes the log in this branch, this scores the records with the real
    pipeline and writes the documented JSON Lines format. Swapping in the real server means
    POSTing the records to /predict of `python -m mlship.serving --log-dir DIR` here instead.
    """

    def write(
        records,
        *,
        log_dir: Path | None = None,
        batch: int = 1,
        failed: int = 0,
        unsent: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> Path:
        import pandas as pd

        frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(records)
        frame = frame.reset_index(drop=True)
        outputs = pipeline.predict_frame(frame)
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        for row in rows:  # fields a client left out (the server filled them in)
            for name in unsent:
                row.pop(name, None)
        kwargs.setdefault("model_version", pipeline.spec.model_version)
        lines = log_lines(rows, outputs, batch=batch, **kwargs)
        version = kwargs["model_version"]
        lines += [failed_line(rows[i % len(rows)], model_version=version) for i in range(failed)]
        target = log_dir or tmp_path / "logs"
        write_log(target, lines)
        return target

    return write


def serving_runtime() -> bool:
    """Whether this checkout has `mlship serve` (the serving issue's runtime, which writes the log)."""
    import importlib.util

    return importlib.util.find_spec("mlship.serve") is not None and os.environ.get("MLSHIP_T9_WRITER") != "1"


def _post(url: str, records: list[dict[str, Any]]) -> int:
    import urllib.error
    import urllib.request

    body = json.dumps({"records": records}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def served_traffic(demo, write_traffic, tmp_path) -> Callable[..., Path]:
    """Send `records` to the real `mlship serve` of the example model and return its log directory.

    Where this checkout has no serving runtime yet, the records are logged by `write_traffic`
    (same line format). `failed` adds requests the server rejects (422).
    """

    def serve(records, *, batch: int = 1, failed: int = 0) -> Path:
        from tests.support import served

        if not serving_runtime():
            return write_traffic(records, batch=batch, failed=failed)
        log_dir = tmp_path / "served-logs"
        with served(demo.root, log_dir=log_dir) as url:  # stopped by SIGTERM: the runtime flushes its log
            frame = records.reset_index(drop=True)
            rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
            statuses = [_post(f"{url}/predict", rows[i : i + batch]) for i in range(0, len(rows), batch)]
            statuses += [_post(f"{url}/predict", [{"price": "not a number"}]) for _ in range(failed)]
            assert statuses.count(200) == -(-len(rows) // batch), statuses
        return log_dir

    return serve


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if in_ci():
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


def screenshot(chromium: str, page: str, shot, size: str):  # type: ignore[no-untyped-def]
    """The page as headless Chromium draws it, as an RGB image."""
    import subprocess

    from PIL import Image

    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run(
        [*argv, f"--screenshot={shot}", f"--window-size={size}", page],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(shot).convert("RGB")


@pytest.fixture(scope="session")
def logfmt():
    """The log-line writers, for tests that build logs by hand."""
    from types import SimpleNamespace

    return SimpleNamespace(lines=log_lines, failed=failed_line, write=write_log)
