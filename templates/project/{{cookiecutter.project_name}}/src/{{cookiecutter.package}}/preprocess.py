"""Raw records -> model features. The same functions run in training, batch scoring and serving.

`fit` learns what preprocessing needs from the training data (category lists, fill values);
that state is saved with the model and reused at prediction time, never re-learned from a request.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

NUMERIC = ["price", "promo", "temperature"]
CATEGORICAL = ["day_of_week", "store"]
FEATURES = NUMERIC + CATEGORICAL
# May be left out of a request (mlship.yaml's contract.schema says so too): filled like a gap.
OPTIONAL = ["temperature"]


def fit(raw: pd.DataFrame) -> dict[str, Any]:
    """Learn the preprocessing state from training records."""
    missing = [c for c in FEATURES if c not in raw.columns]
    if missing:
        raise KeyError(f"training data lacks the columns {missing}")
    return {
        "fill": {c: float(raw[c].median()) for c in NUMERIC},
        "categories": {c: sorted(raw[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL},
    }


def apply(raw: pd.DataFrame, state: dict[str, Any]) -> pd.DataFrame:
    """Features from raw records with a fitted state. Unseen categories become all-zero columns.

    Errors name the field, so a client knows what to fix.
    """
    missing = [c for c in FEATURES if c not in raw.columns and c not in OPTIONAL]
    if missing:
        raise KeyError(f"records lack the fields {missing}")
    out = pd.DataFrame(index=raw.index)
    for column in NUMERIC:
        given = raw[column] if column in raw.columns else pd.Series(float("nan"), index=raw.index)
        try:
            values = pd.to_numeric(given, errors="raise").astype(float)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{column} must be a number: {exc}") from None
        out[column] = values.fillna(state["fill"][column])
    for column in CATEGORICAL:
        values = raw[column].astype(str)
        for category in state["categories"][column]:
            out[f"{column}={category}"] = (values == category).astype(float)
    return out


def transform(raw: pd.DataFrame, model: Any) -> pd.DataFrame:
    """The serving entrypoint: features for a loaded model (uses the state saved at train time)."""
    return apply(raw, model.preprocess_state)
