"""Model performance in production: outcomes joined to logged predictions, per window and model version,
against the metrics of training time; and, for classifiers, the estimate before the outcomes arrive.

`mlship train` writes `performance.json` beside the model (the training-time metrics, and for a
classifier the isotonic calibration map CBPE needs); `mlship monitor --labels` reads it back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlship.config import HIGHER_IS_BETTER
from mlship.errors import InputError
from mlship.monitor import metrics as m
from mlship.monitor.labelled import Joined, join, read_labels, read_scored, watched_value
from mlship.monitor.logs import duration_seconds

log = logging.getLogger("mlship")
PERFORMANCE_FILE = "performance.json"
FORMAT = 1
MAX_ROWS = 100_000  # the reference scores at most this many labelled rows
ESTIMATE_TOLERANCE = 0.05  # |estimated - realised| AUC or accuracy beyond this: the estimate is not valid
RELATIVE = frozenset({"mae", "rmse"})  # errors in the target's units: max_drop is a fraction of training


# -- train time ------------------------------------------------------------------------------


def write_performance_reference(project: Any, data_path: Path, artifact_dir: Path) -> Path | None:
    """Score labelled rows with the fresh model and keep the metrics (and the calibration map) for monitor.

    None when the project names no target (params.target) in its data; a failure is written to the file
    as an error (monitor explains it) and logged, never failing the training run.
    """
    target = project.config.params.get("target")
    path = Path(artifact_dir) / PERFORMANCE_FILE
    if not isinstance(target, str):
        return None
    try:
        reference = _reference(project, Path(data_path), Path(artifact_dir), target)
    except Exception as exc:  # noqa: BLE001 - the project's code may raise anything here
        log.warning("mlship: no performance reference (%s: %s)", type(exc).__name__, exc)
        reference = {"format": FORMAT, "error": f"{type(exc).__name__}: {exc}"}
    path.write_text(json.dumps(reference, indent=1) + "\n")
    return path


def _reference(project: Any, data_path: Path, artifact_dir: Path, target: str) -> dict[str, Any]:
    from mlship.datafiles import read_table
    from mlship.monitor.profile import _shown, feature_columns
    from mlship.project import runtime_spec
    from mlship.serving.pipeline import Pipeline

    perf = project.config.monitor.performance
    source = project.root / perf.holdout if perf.holdout else data_path
    raw = read_table(source)
    if target not in raw.columns:
        raise KeyError(f"{_shown(source, project.root)} has no target column {target!r}")
    raw = raw[raw[target].notna()]
    if len(raw) > MAX_ROWS:
        raw = raw.sample(MAX_ROWS, random_state=0)
    raw = raw.reset_index(drop=True)
    outputs = Pipeline(runtime_spec(project, artifact_dir)).predict_frame(
        raw[feature_columns(raw, project.config)]
    )
    value = output_values(outputs, perf.score)
    task = perf.task or ("classification" if raw[target].nunique() == 2 else "regression")
    ref: dict[str, Any] = {
        "format": FORMAT,
        "task": task,
        "target": target,
        "data": _shown(source, project.root),
        "in_sample": perf.holdout is None,
        "rows": int(len(raw)),
    }
    usable = ~np.isnan(value)
    if task == "classification":
        y = positive_mask(raw[target].to_numpy(), perf.positive)[usable]
        score = value[usable]
        ref["metrics"] = m.classification(y, score, perf.threshold)
        if 0 < y.sum() < len(y):
            ref["calibration"] = m.fit_calibration(y, score)
    else:
        ref["metrics"] = m.regression(raw[target].to_numpy(dtype=float)[usable], value[usable])
    return ref


def output_values(outputs: list[Any], key: str | None) -> np.ndarray:
    """The watched output of each prediction as a float (NaN where there is none)."""
    if key is not None:
        outputs = [o.get(key) if isinstance(o, dict) else None for o in outputs]
    return np.array([watched_value(v) for v in outputs], dtype=float)


def positive_mask(outcome: np.ndarray, positive: Any) -> np.ndarray:
    """1 where the outcome is the positive class: numbers compare as numbers, anything else as text."""
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(outcome), errors="coerce").to_numpy(dtype=float)
    try:
        wanted = float(positive)
    except (TypeError, ValueError):
        wanted = None
    if wanted is not None and not np.isnan(numbers).any():
        return (numbers == wanted).astype(int)
    return (pd.Series(outcome).astype(str).to_numpy() == str(positive)).astype(int)


def load_performance_reference(artifact_dir: Path) -> dict[str, Any] | None:
    path = Path(artifact_dir) / PERFORMANCE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


# -- monitor time ----------------------------------------------------------------------------


@dataclass
class Failure:
    metric: str
    scope: str  # "all", "window 2024-05-01T00:00", "model 0.2.0+abc"
    live: float
    training: float
    limit: float

    def __str__(self) -> str:
        return (
            f"{self.metric} {self.live:.4g} vs {self.training:.4g} at training "
            f"(limit {self.limit:.4g}, {self.scope})"
        )


@dataclass
class PerformanceResult:
    verdict: str  # "ok", "degraded", "insufficient" (too few labels to judge), "estimated" (no labels)
    task: str
    labels: dict[str, Any]  # files and join counts
    training: dict[str, Any]  # metric -> value, where from
    overall: dict[str, Any] | None
    windows: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    thresholds: dict[str, float]
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed_metrics(self) -> list[str]:
        return sorted({f.metric for f in self.failures})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [{**asdict(f), "message": str(f)} for f in self.failures]
        data["failed_metrics"] = self.failed_metrics
        return data


def evaluate(
    project: Any, files: list[Path], *, labels: list[Path] | None, since: Any = None
) -> PerformanceResult | None:
    """Join outcomes (if any) to the logs and judge the metrics; None when there is nothing to say."""
    perf = project.config.monitor.performance
    reference = load_performance_reference(project.artifact_dir)
    if reference is None or "error" in reference:
        if labels:
            why = reference["error"] if reference else f"artifacts/{PERFORMANCE_FILE} is missing"
            raise InputError(
                f"no training-time performance to compare with: {why}",
                hint="set params.target to the target column of data.train and run `mlship train` again",
            )
        return None
    calibration = reference.get("calibration")
    if not labels and not calibration:
        return None
    scored = read_scored(files, key_field=perf.key, output=perf.score, since=since)
    task = reference["task"]
    training = _training_metrics(project, reference)
    width = duration_seconds(perf.window) or 86400.0
    result = PerformanceResult(
        verdict="estimated",
        task=task,
        labels={},
        training=training,
        overall=None,
        windows=[],
        versions=[],
        thresholds=dict(perf.max_drop),
    )
    joined = None
    if labels:
        table = read_labels(
            labels, key_column=perf.key or "key", outcome_columns=[reference["target"], "outcome", "label"]
        )
        joined = join(scored, table)
        result.labels = _label_counts(table, joined, scored.no_key)
        y = _outcomes(joined, task, perf.positive)
        result.overall = {"scope": "all", **_metrics(task, y, joined.value, perf.threshold)}
        result.versions = [
            {"model_version": str(v), **_metrics(task, y[mask], joined.value[mask], perf.threshold)}
            for v, mask in _groups(joined.version)
        ]
    result.windows = _windows(scored, joined, task, perf, width, calibration)
    if joined is not None:
        _judge(result, perf)
    _note(result, reference, scored, joined, perf)
    return result


def _training_metrics(project: Any, reference: dict[str, Any]) -> dict[str, Any]:
    """mlship's figures on the reference rows, overridden by train.py's own (metrics.json) where named alike:
    the project's holdout evaluation is the fairer figure."""
    values = {k: v for k, v in reference["metrics"].items() if isinstance(v, (int, float)) and k != "n"}
    source = {
        k: f"mlship on {reference['data']}" + (" (in-sample)" if reference.get("in_sample") else "")
        for k in values
    }
    path = Path(project.artifact_dir) / "metrics.json"
    try:
        own = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        own = {}
    for name, value in own.items():
        if name.lower() in m.METRIC_NAMES and isinstance(value, (int, float)):
            values[name.lower()] = float(value)
            source[name.lower()] = "train.py (metrics.json)"
    return {"values": values, "source": source}


def _label_counts(table: Any, joined: Joined, no_key: int) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "sources": table.sources,
        "rows": table.rows,
        "duplicate_labels": table.duplicates,
        "no_outcome": table.no_outcome,
        "predictions": joined.predictions,
        "matched": joined.labelled,
        "unmatched_labels": joined.unmatched_labels,
        "unlabelled_predictions": joined.unlabelled,
        "duplicate_prediction_keys": joined.duplicate_keys,
        "predictions_without_key": no_key,
        "labelled_without_output": joined.no_output,
    }
    if joined.delay_s is not None and len(joined.delay_s):
        finite = joined.delay_s[np.isfinite(joined.delay_s)]
        if len(finite):
            counts["label_delay_s"] = {"p50": float(np.median(finite)), "max": float(finite.max())}
    return counts


def _outcomes(joined: Joined, task: str, positive: Any) -> np.ndarray:
    if task == "classification":
        return positive_mask(joined.outcome, positive)
    import pandas as pd

    y = pd.to_numeric(pd.Series(joined.outcome), errors="coerce").to_numpy(dtype=float)
    if np.isnan(y).any():
        bad = int(np.isnan(y).sum())
        raise InputError(f"{bad} outcome(s) are not numbers; a regression's outcomes must be")
    return y


def _metrics(task: str, y: np.ndarray, value: np.ndarray, threshold: float) -> dict[str, Any]:
    return m.classification(y, value, threshold) if task == "classification" else m.regression(y, value)


def _groups(values: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    """(value, the indices holding it) per distinct value, in order: one sort, not a pass per group."""
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(1, len(uniques)))
    return list(zip(uniques, np.split(order, bounds), strict=True))


def _windows(
    scored: Any, joined: Joined | None, task: str, perf: Any, width: float, calibration: Any
) -> list[dict[str, Any]]:
    """One row per time window of `width` seconds: the realised metrics (labelled records) and, for a
    calibrated classifier, the estimate from every record scored in it."""
    step = np.int64(width * 1000)
    rows: dict[int, dict[str, Any]] = {}
    if scored.records:
        valid = ~np.isnan(scored.value) & ~np.isnat(scored.ts)
        starts = scored.ts[valid].astype("int64") // step
        for start, mask in _groups(starts):
            row = rows.setdefault(int(start), {})
            row["scored"] = len(mask)
            if calibration is not None:
                row["estimated"] = m.estimate(calibration, scored.value[valid][mask], perf.threshold)
    if joined is not None and len(joined.value):
        timed = ~np.isnat(joined.ts)  # a line without a readable time counts overall, in no window
        y = _outcomes(joined, task, perf.positive)[timed]
        value = joined.value[timed]
        starts = joined.ts[timed].astype("int64") // step
        for start, mask in _groups(starts):
            row = rows.setdefault(int(start), {})
            row["realised"] = _metrics(task, y[mask], value[mask], perf.threshold)
    out = []
    for start in sorted(rows):
        moment = np.datetime64(int(start * step), "ms").astype("datetime64[s]")
        out.append({"start": str(moment) + "Z", **rows[start]})
    return out


def _limit(metric: str, training: float, drop: float) -> float:
    if metric in HIGHER_IS_BETTER:
        return training - drop
    if metric in RELATIVE:
        return training * (1 + drop)
    if metric == "bias":
        return abs(training) + drop
    return training + drop  # brier: an absolute amount


def _worse(metric: str, live: float, limit: float) -> bool:
    if metric in HIGHER_IS_BETTER:
        return live < limit
    return (abs(live) if metric == "bias" else live) > limit


def _judge(result: PerformanceResult, perf: Any) -> None:
    training = result.training["values"]
    scopes = [("all", result.overall or {})]
    scopes += [(f"window {w['start']}", w["realised"]) for w in result.windows if "realised" in w]
    scopes += (
        [(f"model {v['model_version']}", v) for v in result.versions] if len(result.versions) > 1 else []
    )
    judged = 0
    for scope, figures in scopes:
        if (figures.get("n") or 0) < perf.min_labels:
            continue
        judged += 1
        for metric, drop in perf.max_drop.items():
            live, base = figures.get(metric), training.get(metric)
            if live is None or base is None:
                continue
            limit = _limit(metric, float(base), float(drop))
            if _worse(metric, float(live), limit):
                result.failures.append(Failure(metric, scope, float(live), float(base), limit))
    result.verdict = "degraded" if result.failures else ("ok" if judged else "insufficient")


def _note(result: PerformanceResult, reference: dict[str, Any], scored: Any, joined: Any, perf: Any) -> None:
    notes = result.notes
    if reference.get("in_sample"):
        notes.append(
            f"training-time metrics from mlship are measured on the training rows ({reference['data']}), "
            "so they flatter the model; set monitor.performance.holdout to rows it did not learn from"
        )
    calibration = reference.get("calibration")
    ece = ((reference.get("metrics") or {}).get("reliability") or {}).get("ece")
    if calibration is not None:
        if calibration["rows"] < 500:
            notes.append(f"the estimate is calibrated on only {calibration['rows']} rows: treat it as rough")
        if ece is not None and ece > 0.05:
            notes.append(
                f"the model's scores are not calibrated (calibration error {ece:.3f} on the reference rows); "
                "the estimate uses an isotonic map fitted on them instead of the raw scores"
            )
        lo, hi = calibration["score_range"]
        valid = scored.value[~np.isnan(scored.value)]
        outside = float(np.mean((valid < lo) | (valid > hi))) if len(valid) else 0.0
        if outside > 0.05:
            notes.append(
                f"{outside:.0%} of live scores lie outside the calibration rows' range: estimate not valid"
            )
        for w in result.windows:
            est, real = w.get("estimated") or {}, w.get("realised") or {}
            if (real.get("n") or 0) < perf.min_labels:
                continue
            for metric in ("auc", "accuracy"):
                if est.get(metric) is not None and real.get(metric) is not None:
                    gap = est[metric] - real[metric]
                    w.setdefault("estimate_error", {})[metric] = gap
                    if abs(gap) > ESTIMATE_TOLERANCE:
                        w["estimate_valid"] = False
                        notes.append(
                            f"window {w['start']}: estimated {metric} {est[metric]:.3f}, realised "
                            f"{real[metric]:.3f} -- the estimate is not valid there (concept drift: the "
                            "link between inputs and outcome changed, which scores alone cannot show)"
                        )
    if joined is not None:
        counts = result.labels
        if counts["unmatched_labels"]:
            notes.append(
                f"{counts['unmatched_labels']} label(s) match no logged prediction (another window, or "
                "predictions the log sampled out)"
            )
        if counts["predictions_without_key"]:
            notes.append(
                f"{counts['predictions_without_key']} logged record(s) lack the key field {perf.key!r}"
            )
        if counts["labelled_without_output"]:
            notes.append(
                f"{counts['labelled_without_output']} labelled record(s) were logged without an output"
            )
