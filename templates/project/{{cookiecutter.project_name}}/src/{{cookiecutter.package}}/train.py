"""Read data, preprocess, train, evaluate, and write the artifacts that predict.py loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package }} import preprocess


def fit_model(features: pd.DataFrame, target: pd.Series, seed: int) -> HistGradientBoostingRegressor:
    # Demand must not rise with price: the constraint is part of the model, not a hope.
    monotonic = [-1 if column == "price" else 0 for column in features.columns]
    model = HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.1, monotonic_cst=monotonic, random_state=seed
    )
    return model.fit(features, target)


def main(data_path: str, artifact_dir: str, params: dict[str, Any]) -> dict[str, float]:
    target_column = params.get("target", "demand")
    seed = int(params.get("seed", 42))
    raw = pd.read_csv(data_path)
    target = raw.pop(target_column)
    train_raw, test_raw, train_y, test_y = train_test_split(
        raw, target, test_size=0.2, random_state=seed
    )
    state = preprocess.fit(train_raw)
    model = fit_model(preprocess.apply(train_raw, state), train_y, seed)
    predicted = np.clip(model.predict(preprocess.apply(test_raw, state)), 0, None)
    metrics = {
        "mae": float(mean_absolute_error(test_y, predicted)),
        "r2": float(r2_score(test_y, predicted)),
        "rows": int(len(raw)),
    }
    out = Path(artifact_dir)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    (out / "preprocess.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    return metrics


if __name__ == "__main__":
    import sys

    print(main(sys.argv[1], sys.argv[2], {}))
