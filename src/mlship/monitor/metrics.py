"""Performance metrics from scikit-learn, and the estimate of them before labels arrive (CBPE).

Confidence-based performance estimation: a classifier's scores, calibrated on labelled rows the model
did not learn from (isotonic regression), are read as the probability that each record is positive.
Each record then counts as a positive with weight p and as a negative with weight 1 - p, and the
ordinary metric functions with those sample weights give the expected confusion matrix and AUC.
The estimate holds while P(label | inputs) is what it was on the calibration rows (no concept drift).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlship.config import PERFORMANCE_METRICS as METRIC_NAMES  # noqa: F401 - the names monitor judges

CALIBRATION_BINS = 10


def classification(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, Any]:
    """AUC, accuracy, precision, recall, F1 and calibration (Brier, reliability bins) of 0/1 labels."""
    from sklearn.metrics import (
        accuracy_score,
        brier_score_loss,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    predicted = (score >= threshold).astype(int)
    both = 0 < y.sum() < len(y)
    in_range = bool(len(score)) and score.min() >= 0 and score.max() <= 1
    return {
        "n": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else None,
        "auc": float(roc_auc_score(y, score)) if both else None,
        "accuracy": float(accuracy_score(y, predicted)) if len(y) else None,
        "precision": float(precision_score(y, predicted, zero_division=0)) if len(y) else None,
        "recall": float(recall_score(y, predicted, zero_division=0)) if len(y) else None,
        "f1": float(f1_score(y, predicted, zero_division=0)) if len(y) else None,
        "brier": float(brier_score_loss(y, score)) if in_range else None,
        "reliability": reliability(y, score) if in_range and both else None,
    }


def regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE and bias (mean of prediction - outcome: > 0 is over-prediction)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    y = np.asarray(y, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if not len(y):
        return {"n": 0, "mae": None, "rmse": None, "bias": None}
    return {
        "n": int(len(y)),
        "mae": float(mean_absolute_error(y, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
        "bias": float(np.mean(predicted - y)),
    }


def reliability(y: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """Reliability bins (scikit-learn's calibration_curve, equal-count bins) and the calibration error."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, score, n_bins=CALIBRATION_BINS, strategy="quantile")
    # Records per non-empty bin (the bins calibration_curve uses), for the expected calibration error.
    edges = np.percentile(score, np.linspace(0, 100, CALIBRATION_BINS + 1))
    counts = np.bincount(np.searchsorted(edges[1:-1], score), minlength=len(edges))
    counts = counts[counts > 0]
    ece = (
        float(np.sum(counts * np.abs(observed - predicted)) / len(score))
        if len(counts) == len(observed)
        else None
    )
    return {"predicted": predicted.tolist(), "observed": observed.tolist(), "ece": ece}


# -- CBPE ------------------------------------------------------------------------------------


def fit_calibration(y: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """An isotonic map score -> P(positive), fitted on labelled rows; stored as its step points."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, y)
    return {
        "x": [float(v) for v in iso.X_thresholds_],
        "y": [float(v) for v in iso.y_thresholds_],
        "rows": int(len(y)),
        "score_range": [float(np.min(score)), float(np.max(score))],
    }


def calibrated(calibration: dict[str, Any], score: np.ndarray) -> np.ndarray:
    # IsotonicRegression.predict is a linear interpolation between its thresholds, clipped at the ends.
    return np.interp(np.asarray(score, dtype=float), calibration["x"], calibration["y"])


def estimate(calibration: dict[str, Any], score: np.ndarray, threshold: float) -> dict[str, Any]:
    """The expected AUC, accuracy, precision, recall and F1 of scores whose labels are not known yet."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    score = np.asarray(score, dtype=float)
    if not len(score):
        return {"n": 0}
    p = calibrated(calibration, score)
    # Each record twice: positive with weight p, negative with weight 1 - p.
    y = np.concatenate([np.ones(len(p), dtype=int), np.zeros(len(p), dtype=int)])
    weight = np.concatenate([p, 1 - p])
    both_score = np.concatenate([score, score])
    predicted = (both_score >= threshold).astype(int)
    has_both = p.sum() > 0 and (1 - p).sum() > 0
    kw = {"sample_weight": weight}
    return {
        "n": int(len(score)),
        "positive_rate": float(p.mean()),
        "auc": float(roc_auc_score(y, both_score, **kw)) if has_both else None,
        "accuracy": float(accuracy_score(y, predicted, **kw)),
        "precision": float(precision_score(y, predicted, zero_division=0, **kw)),
        "recall": float(recall_score(y, predicted, zero_division=0, **kw)),
        "f1": float(f1_score(y, predicted, zero_division=0, **kw)),
    }
