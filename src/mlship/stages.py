"""The project's own stages, run through the same code path as serving: train (predict: mlship.batch)."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlship.datafiles import read_table
from mlship.errors import InputError, ProjectCodeError, UsageError
from mlship.project import Project, artifacts_sha256, runtime_spec
from mlship.serving.pipeline import Pipeline, PipelineError, resolve


def _project_failure(stage: str, exc: BaseException) -> ProjectCodeError:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return ProjectCodeError(
        f"the project's {stage} raised {type(exc).__name__}: {exc}",
        hint="the traceback below is from your code; fix it and run again",
        details="".join(frames[-6:]).rstrip(),
    )


@dataclass
class TrainResult:
    artifact_dir: str
    artifact_sha256: str | None
    metrics: dict[str, Any]
    seconds: float
    files: list[str] = field(default_factory=list)
    reference: str | None = None  # the drift reference profile, None when it could not be computed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train(project: Project, *, data: Path | None = None) -> TrainResult:
    """Run the project's train entrypoint into a fresh directory, then swap it into place.

    A failed run leaves the previous artifacts untouched.
    """
    cfg = project.config
    data_path = Path(data) if data else (project.data_path() if "train" in cfg.data else None)
    if data_path is None:
        raise UsageError("no training data", hint="set data.train in mlship.yaml or pass --data")
    check_training_data(data_path)
    try:
        train_fn = resolve(cfg.entrypoints.train, project.source_dir)
    except PipelineError as exc:
        raise ProjectCodeError(str(exc)) from None

    final = project.artifact_dir
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".artifacts-", dir=final.parent))
    started = time.perf_counter()
    try:
        metrics = _run_train(train_fn, data_path, staging, dict(cfg.params))
        reference = _reference(project, data_path, staging)
        _performance_reference(project, data_path, staging)
        _score_training_records(project, data_path, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_into_place(staging, final)
    seconds = time.perf_counter() - started
    files = sorted(p.relative_to(final).as_posix() for p in final.rglob("*") if p.is_file())
    ref_path = str(final / reference.name) if reference else None
    return TrainResult(str(final), artifacts_sha256(final), metrics, round(seconds, 3), files, ref_path)


def _reference(project: Project, data_path: Path, staging: Path) -> Path | None:
    """What `mlship monitor` compares live traffic with: the training data and the new model's outputs."""
    from mlship.monitor.profile import write_reference

    try:
        return write_reference(project, data_path, staging, strict=True)
    except Exception as exc:  # noqa: BLE001 - reading the data or the project's code may raise anything
        failure = _project_failure("train", exc)
        raise ProjectCodeError(
            f"building the drift reference profile from {data_path} failed: {type(exc).__name__}: {exc}",
            hint="`mlship monitor` needs it; the training data must be a file mlship reads "
            "(.csv, .jsonl, .json, .parquet) whose columns the serving pipeline accepts",
            details=failure.details,
        ) from None


def _performance_reference(project: Project, data_path: Path, staging: Path) -> None:
    """The training-time metrics `mlship monitor --labels` compares with (and CBPE's calibration)."""
    from mlship.monitor.performance import write_performance_reference

    write_performance_reference(project, data_path, staging)


SMOKE_ROWS = 50


def _score_training_records(project: Project, data_path: Path, staging: Path) -> None:
    """The fresh model must score one by one the records its reference profile is built from (the first
    50 training rows, request columns only) through the serving Pipeline; one that scores is enough."""
    from mlship.monitor.profile import feature_columns

    cfg = project.config
    raw = read_table(data_path)
    frame = raw[feature_columns(raw, cfg)].head(SMOKE_ROWS)
    spec = runtime_spec(project, staging)
    try:
        pipeline = Pipeline(spec)
    except PipelineError as exc:
        raise ProjectCodeError(f"the trained model cannot be loaded for serving ({exc})") from None
    first: Exception | None = None
    for record in frame.to_dict(orient="records"):
        try:
            with contextlib.redirect_stdout(sys.stderr):
                pipeline.predict_records([record])
            return
        except Exception as exc:  # noqa: BLE001 - the project's code may raise anything
            first = first or exc
    if first is not None:
        raise ProjectCodeError(
            f"the trained model scores none of the first {len(frame)} training records through the serving "
            f"pipeline (the first record: {type(first).__name__}: {first})",
            hint="`mlship predict` and `mlship serve` would fail the same way; run "
            "`mlship predict --input` on the training data to see it",
            details=_project_failure("predict", first).details,
        )


def _run_train(train_fn: Any, data_path: Path, staging: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Call the project's train into `staging`; its metrics, checked and written as metrics.json."""
    try:
        # The project's prints must not mix with mlship's data on stdout (`--json`).
        with contextlib.redirect_stdout(sys.stderr):
            metrics = train_fn(str(data_path), str(staging), params) or {}
    except Exception as exc:
        raise _project_failure("train", exc) from None
    if not isinstance(metrics, dict):
        raise ProjectCodeError(f"train returned {type(metrics).__name__}, expected a dict of metrics")
    if not any(staging.iterdir()):
        raise ProjectCodeError("train wrote nothing into the artifact directory it was given")
    try:
        metrics = json.loads(json.dumps(metrics, default=float))
    except (TypeError, ValueError) as exc:
        raise ProjectCodeError(
            f"train returned metrics that are not numbers or strings ({exc})",
            hint="return a dict such as {'mae': 3.2, 'rows': 400}",
        ) from None
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


# Table formats that are text: a NUL byte in their first block means a binary file under a wrong name.
_TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".jsonl"}


def check_training_data(path: Path) -> None:
    """The obvious ways a data file is unusable, told in mlship's words before the project's code
    meets them (an empty or binary CSV would otherwise surface as a pandas traceback)."""
    if path.is_dir():
        raise InputError(f"training data {path} is a directory, not a file", hint="pass the data file")
    if not path.is_file():
        raise InputError(f"training data {path} does not exist")
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise InputError(f"cannot read training data {path}: {exc.strerror or exc}") from None
    if not head.strip():
        raise InputError(f"training data {path} is empty")
    if path.suffix.lower() in _TEXT_SUFFIXES and b"\0" in head:
        raise InputError(
            f"training data {path} is not a {path.suffix} text file (it holds binary data)",
            hint="check the path, or export the data as CSV",
        )


def _swap_into_place(staging: Path, final: Path) -> None:
    backup = final.with_name(f".{final.name}.previous")
    if backup.exists():
        shutil.rmtree(backup)
    if final.exists():
        final.rename(backup)
    staging.rename(final)
    shutil.rmtree(backup, ignore_errors=True)
