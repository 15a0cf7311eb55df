"""Raw records -> model features. The same functions run in training, batch scoring and serving.

`fit` learns what preprocessing needs from the training data (category lists, fill values);
that state is saved with the model and reused at prediction time, never re-learned from a request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

NUMERIC = ["price", "promo", "temperature"]
CATEGORICAL = ["day_of_week", "store"]
FEATURES = NUMERIC + CATEGORICAL
# May be left out of a request (mlship.yaml's contract.schema says so too): filled like a gap.
OPTIONAL = ["temperature"]
# No price, promotion or temperature is larger than this: such a number is a typing or unit error,
# and in the model's linear sum it could overflow to an infinite prediction. Refused, naming the field.
LARGEST = 1e12


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

    The features are built as numpy columns and put into a DataFrame once, at the end: the
    server runs this for every request, often for one record, and there one pandas operation
    per feature column costs more than the model's prediction.
    """
    missing = [c for c in FEATURES if c not in raw.columns and c not in OPTIONAL]
    if missing:
        raise KeyError(f"records lack the fields {missing}")
    names = list(NUMERIC)
    columns = [numbers(raw, column, fill=state["fill"][column]) for column in NUMERIC]
    for column in CATEGORICAL:
        categories = state["categories"][column]
        names += [f"{column}={category}" for category in categories]
        columns.append(one_hot(raw[column], categories))
    return pd.DataFrame(np.column_stack(columns), columns=names, index=raw.index)


def numbers(raw: pd.DataFrame, column: str, fill: float) -> np.ndarray:
    """One numeric field as floats, gaps (or the whole field, when optional and left out) filled."""
    if column not in raw.columns:
        return np.full(len(raw), fill)
    values = raw[column]
    try:
        if not pd.api.types.is_numeric_dtype(values):  # e.g. numbers sent as text: "2.5"
            values = pd.to_numeric(values, errors="raise")
        values = values.to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{column} must be a number: {exc}") from None
    if (np.abs(values) > LARGEST).any():
        raise ValueError(f"{column} must be a number between -{LARGEST:g} and {LARGEST:g}")
    return np.where(np.isnan(values), fill, values)


def one_hot(values: pd.Series, categories: list[str]) -> np.ndarray:
    """A 0/1 column per training category, compared as text (store 1 and store "1" are one store)."""
    text = values.astype(str).to_numpy(dtype=object)
    return (text[:, None] == np.array(categories, dtype=object)).astype(float)


def transform(raw: pd.DataFrame, model: Any) -> pd.DataFrame:
    """The serving entrypoint: features for a loaded model (uses the state saved at train time)."""
    return apply(raw, model.preprocess_state)
