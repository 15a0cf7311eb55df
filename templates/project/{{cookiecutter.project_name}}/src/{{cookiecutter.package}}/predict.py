"""Load the trained artifacts and predict from features (see preprocess.transform)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd


@dataclass
class Model:
    estimator: Any  # the fitted scikit-learn Ridge (train.fit_model)
    preprocess_state: dict[str, Any]


def load(artifact_dir: str) -> Model:
    path = Path(artifact_dir)
    return Model(
        estimator=joblib.load(path / "model.joblib"),
        preprocess_state=json.loads((path / "preprocess.json").read_text()),
    )


def predict(model: Model, features: pd.DataFrame) -> np.ndarray:
    """Expected daily demand (units), never negative.

    The arithmetic of `model.estimator.predict(features)` written out: intercept + features @
    coefficients. The server calls this for every request, often for one record, and there
    scikit-learn's input checks take ~0.4 ms while the sum takes microseconds. The one check that
    matters -- the columns are the trained ones, in order -- stays.
    """
    estimator = model.estimator
    if list(features.columns) != list(estimator.feature_names_in_):
        raise ValueError(f"features {list(features.columns)} are not the trained columns")
    demand = features.to_numpy(dtype=float) @ estimator.coef_ + estimator.intercept_
    return np.clip(demand, 0, None).round(2)
