"""The reference profile: what the training features and predictions looked like (`reference.json`).

Written into the artifacts at `mlship train` time, read by `mlship monitor`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from mlship.errors import InputError
from mlship.serving.validate import is_missing

REFERENCE_FILE = "reference.json"
FORMAT = 1
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
DECILES = tuple(range(10, 100, 10))
SAMPLE_SIZE = 1000  # values kept per numeric feature for the KS test and the plots
MAX_CATEGORIES = 200  # beyond this a column is profiled as top categories + "other"
MAX_PREDICT_ROWS = 100_000  # the prediction profile scores at most this many training rows
PREDICTION = "prediction"

log = logging.getLogger("mlship.monitor")


def numeric_profile(values: np.ndarray, missing: int, *, seed: int = 0) -> dict[str, Any]:
    """Profile of the finite values of a numeric column; `missing` counts the absent ones."""
    values = values[np.isfinite(values)]
    count = int(len(values)) + missing
    out: dict[str, Any] = {"kind": "numeric", "count": count, "missing": missing}
    out["missing_rate"] = missing / count if count else 0.0
    if len(values) == 0:
        out.update(edges=[], bin_counts=[0], sample=[], percentiles={})
        return out
    # Decile edges; duplicates collapse, so a 0/1 column gets the bins (-inf,0], (0,1], (1,inf).
    edges = np.unique(np.percentile(values, DECILES, method="inverted_cdf"))
    idx = np.searchsorted(edges, values, side="left")
    rng = np.random.default_rng(seed)
    sample = values if len(values) <= SAMPLE_SIZE else rng.choice(values, SAMPLE_SIZE, replace=False)
    out.update(
        mean=float(values.mean()),
        std=float(values.std()),
        min=float(values.min()),
        max=float(values.max()),
        percentiles={
            str(p): float(v) for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True)
        },
        edges=[float(e) for e in edges],
        bin_counts=np.bincount(idx, minlength=len(edges) + 1).astype(int).tolist(),
        sample=[float(v) for v in np.sort(sample)],
    )
    return out


def categorical_profile(values: list[Any]) -> dict[str, Any]:
    """Category counts of a column (values compared as strings, the way a JSON request sends them)."""
    from collections import Counter

    present = [category_key(v) for v in values if not is_missing(v)]
    missing = len(values) - len(present)
    counts = Counter(present).most_common()
    kept, rest = counts[:MAX_CATEGORIES], counts[MAX_CATEGORIES:]
    return {
        "kind": "categorical",
        "count": len(values),
        "missing": missing,
        "missing_rate": missing / len(values) if values else 0.0,
        "counts": dict(kept),
        "other": int(sum(c for _, c in rest)),
        "truncated": bool(rest),
    }


def category_key(value: Any) -> str:
    """How a category value is compared: 3 and 3.0 and "3" are the same category."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def column_kind(series: Any, declared: str | None) -> str:
    if declared in {"number", "integer"}:
        return "numeric"
    if declared in {"string", "category", "boolean"}:
        return "categorical"
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return "numeric" if numeric else "categorical"


def profile_column(series: Any, declared: str | None = None) -> dict[str, Any]:
    import pandas as pd

    if column_kind(series, declared) == "numeric":
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return numeric_profile(numbers, int(np.isnan(numbers).sum()))
    return categorical_profile(series.astype(object).where(series.notna(), None).tolist())


def prediction_columns(predictions: list[Any]) -> dict[str, list[Any]]:
    """Predictions as named columns: scalars -> `prediction`, dicts of scalars -> `prediction.KEY`."""
    if not predictions:
        return {}
    if all(isinstance(p, dict) for p in predictions[:100]):
        keys = sorted(
            {k for p in predictions[:1000] for k, v in p.items() if not isinstance(v, (list, dict))}
        )
        return {
            f"{PREDICTION}.{k}": [p.get(k) if isinstance(p, dict) else None for p in predictions]
            for k in keys
        }
    if any(isinstance(p, (list, dict)) for p in predictions[:100]):
        return {}  # vectors (embeddings, per-class lists) have no single distribution to watch
    return {PREDICTION: list(predictions)}


def build_profile(
    frame: Any, predictions: list[Any] | None, *, declared: dict[str, str] | None = None
) -> dict[str, Any]:
    """The reference profile of a frame of raw training records and the model's predictions on them."""
    import pandas as pd

    declared = declared or {}
    features = {str(c): profile_column(frame[c], declared.get(str(c))) for c in frame.columns}
    preds: dict[str, Any] = {}
    for name, column in prediction_columns(predictions or []).items():
        preds[name] = profile_column(pd.Series(column, dtype=object).infer_objects())
    # No timestamp: the same data and model give the same file, so the artifacts' digest (the model
    # version) stays reproducible.
    return {
        "format": FORMAT,
        "rows": int(len(frame)),
        "features": features,
        "predictions": preds,
    }


def feature_columns(frame: Any, config: Any) -> list[str]:
    """Which training columns are request inputs: monitor.features, else the contract schema's
    fields, else every column but the target (`params.target`) and `monitor.exclude`."""
    columns = [str(c) for c in frame.columns]
    mon = config.monitor
    if mon.features:
        return [c for c in mon.features if c in columns]
    schema = list(config.contract.schema_)
    if schema and any(c in columns for c in schema):
        return [c for c in columns if c in schema]
    target = config.params.get("target")
    drop = {target, *mon.exclude} if isinstance(target, str) else set(mon.exclude)
    return [c for c in columns if c not in drop]


def write_reference(
    project: Any, data_path: Path, artifact_dir: Path, *, strict: bool = False
) -> Path | None:
    """The train-time hook: profile the training data and the fresh model's predictions on it.

    With `strict` (what `mlship train` uses) a profile that cannot be built raises; otherwise the
    failure becomes a warning and a reference file that says why, so `mlship monitor` can explain it.
    """
    target = Path(artifact_dir) / REFERENCE_FILE
    try:
        profile = _reference_for(project, Path(data_path), Path(artifact_dir))
    except Exception as exc:  # noqa: BLE001 - the project's code may raise anything here
        if strict:
            raise
        log.warning("mlship: no reference profile for monitoring (%s: %s)", type(exc).__name__, exc)
        profile = {"format": FORMAT, "error": f"{type(exc).__name__}: {exc}"}
    target.write_text(json.dumps(profile, indent=1) + "\n")
    return target if "error" not in profile else None


def _reference_for(project: Any, data_path: Path, artifact_dir: Path) -> dict[str, Any]:
    from mlship.datafiles import read_table
    from mlship.serving.pipeline import Pipeline

    raw = read_table(data_path)
    frame = raw[feature_columns(raw, project.config)]
    declared = {name: spec.type for name, spec in project.config.contract.schema_.items()}
    scored = frame if len(frame) <= MAX_PREDICT_ROWS else frame.sample(MAX_PREDICT_ROWS, random_state=0)
    predictions: list[Any] | None = None
    prediction_error = None
    try:
        from mlship.project import runtime_spec

        spec = runtime_spec(project, Path(artifact_dir))
        predictions = Pipeline(spec).predict_frame(scored.reset_index(drop=True))
    except Exception as exc:  # noqa: BLE001 - features are still worth profiling without predictions
        prediction_error = f"{type(exc).__name__}: {exc}"
        log.warning("mlship: reference profile without predictions (%s)", prediction_error)
    profile = build_profile(frame, predictions, declared=declared)
    profile["data"] = {
        "path": _shown(data_path, project.root),
        "sha256": _sha256(data_path),
        "columns": list(map(str, raw.columns)),
    }
    if prediction_error:
        profile["prediction_error"] = prediction_error
    return profile


def _shown(path: Path, root: Path) -> str:
    # Relative to the project, so the file (and the artifacts' digest) is the same on every machine.
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_reference(artifact_dir: Path) -> dict[str, Any]:
    path = Path(artifact_dir) / REFERENCE_FILE
    if not path.is_file():
        raise InputError(
            f"no reference profile at {path}",
            hint="run `mlship train` (it writes the profile of the training data next to the model)",
        )
    try:
        profile = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if "error" in profile:
        raise InputError(
            f"the reference profile could not be computed at train time: {profile['error']}",
            hint="fix the cause and run `mlship train` again",
        )
    if profile.get("format") != FORMAT:
        raise InputError(f"{path} has format {profile.get('format')!r}; this mlship reads {FORMAT}")
    return profile
