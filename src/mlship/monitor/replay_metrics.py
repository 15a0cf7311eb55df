"""`mlship replay --labels`: candidate vs live model on logged traffic whose outcomes are known.

For each metric: the live model's figure (its logged outputs), the candidate's (its replayed outputs)
and the difference candidate - live with a 95% paired bootstrap confidence interval: the records are
resampled together, so both models are always measured on the same records.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sklearn

from mlship.config import HIGHER_IS_BETTER

RESAMPLES = 200  # paired bootstrap draws: a few seconds for thousands of records; ends to ~10% of the width
LEVEL = 0.95
CLASSIFICATION = ("auc", "accuracy", "f1", "brier")
REGRESSION = ("mae", "rmse", "bias")


def _score(task: str, y: np.ndarray, value: np.ndarray, threshold: float, metric: str) -> float | None:
    from sklearn.metrics import (
        accuracy_score,
        brier_score_loss,
        f1_score,
        mean_absolute_error,
        mean_squared_error,
        roc_auc_score,
    )

    if task == "classification":
        if metric == "auc":
            return float(roc_auc_score(y, value)) if 0 < y.sum() < len(y) else None
        if metric == "brier":
            return float(brier_score_loss(y, value)) if value.min() >= 0 and value.max() <= 1 else None
        predicted = (value >= threshold).astype(int)
        fn = accuracy_score if metric == "accuracy" else f1_score
        return float(fn(y, predicted))
    if metric == "mae":
        return float(mean_absolute_error(y, value))
    if metric == "rmse":
        return float(np.sqrt(mean_squared_error(y, value)))
    return float(np.mean(value - y))  # bias


def compare_models(
    task: str,
    y: np.ndarray,
    live: np.ndarray,
    candidate: np.ndarray,
    *,
    threshold: float = 0.5,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Per metric: live, candidate, difference and its bootstrap interval, and what that says."""
    rng = np.random.default_rng(seed)
    n = len(y)
    draws = rng.integers(0, n, size=(RESAMPLES, n)) if n else np.empty((0, 0), dtype=int)
    out: dict[str, dict[str, Any]] = {}

    # Thousands of calls on arrays already checked: skip scikit-learn's per-call validation.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        for metric in CLASSIFICATION if task == "classification" else REGRESSION:
            out_metric = _compare_metric(task, y, live, candidate, threshold, metric, draws)
            if out_metric is not None:
                out[metric] = out_metric
    return out


def _compare_metric(
    task: str,
    y: np.ndarray,
    live: np.ndarray,
    candidate: np.ndarray,
    threshold: float,
    metric: str,
    draws: Any,
) -> dict[str, Any] | None:
    a = _score(task, y, live, threshold, metric)
    b = _score(task, y, candidate, threshold, metric)
    if a is None or b is None:
        return None
    deltas = []
    for idx in draws:
        da = _score(task, y[idx], live[idx], threshold, metric)
        db = _score(task, y[idx], candidate[idx], threshold, metric)
        if da is not None and db is not None:
            deltas.append(abs(db) - abs(da) if metric == "bias" else db - da)
    diff = abs(b) - abs(a) if metric == "bias" else b - a
    low, high = np.quantile(deltas, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]).tolist() if deltas else [None, None]
    return {
        "live": a,
        "candidate": b,
        "difference": diff,
        "ci_low": low,
        "ci_high": high,
        "level": LEVEL,
        "verdict": _verdict(metric, low, high),
    }


def _verdict(metric: str, low: float | None, high: float | None) -> str:
    """ "better" / "worse" when the whole interval lies on one side of 0, else "no measurable difference"."""
    if low is None or high is None:
        return "unknown"
    higher = metric in HIGHER_IS_BETTER
    if low > 0:
        return "better" if higher else "worse"
    if high < 0:
        return "worse" if higher else "better"
    return "no measurable difference"
