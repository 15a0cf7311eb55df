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
    estimator: Any
    preprocess_state: dict[str, Any]


def load(artifact_dir: str) -> Model:
    path = Path(artifact_dir)
    return Model(
        estimator=joblib.load(path / "model.joblib"),
        preprocess_state=json.loads((path / "preprocess.json").read_text()),
    )


def predict(model: Model, features: pd.DataFrame) -> np.ndarray:
    """Expected daily demand (units), never negative."""
    return np.clip(model.estimator.predict(features), 0, None).round(2)
