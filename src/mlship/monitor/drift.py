"""Live traffic against the reference profile: one verdict per feature and for the predictions."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlship.monitor import stats
from mlship.monitor.reader import Column, LiveData

PLOT_BINS = 30
PLOT_CATEGORIES = 12


@dataclass
class FeatureDrift:
    name: str
    role: str  # "feature" or "prediction"
    kind: str  # "numeric" or "categorical"
    verdict: str  # ok | warn | drift | few (too few values) | absent (never sent)
    samples: int
    psi: float | None = None
    test: str | None = None  # "ks" or "chi2"
    statistic: float | None = None
    p_value: float | None = None
    missing_reference: float = 0.0
    missing_live: float = 0.0
    reasons: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    new_categories: dict[str, float] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("plot")
        return data


def compare_numeric(name: str, ref: dict[str, Any], column: Column, thresholds: Any) -> FeatureDrift:
    finite = column.values
    row = FeatureDrift(name, "feature", "numeric", "ok", int(len(finite)))
    row.missing_reference = ref["missing_rate"]
    row.missing_live = column.missing / column.total if column.total else 0.0
    if column.invalid:
        row.reasons.append(f"{column.invalid} values were not numbers (counted as missing)")
    if len(finite):
        row.summary = {
            "reference_median": ref.get("percentiles", {}).get("50"),
            "live_median": float(np.median(finite)),
            "reference_mean": ref.get("mean"),
            "live_mean": float(finite.mean()),
        }
    if len(finite) >= thresholds.min_samples and ref["sample"]:
        row.psi = stats.psi(ref["bin_counts"], stats.bin_counts(finite, ref["edges"]))
        row.statistic, row.p_value = stats.ks_2samp(np.asarray(ref["sample"]), finite)
        row.test = "ks"
    if len(finite) and ref["sample"]:  # a few values are still worth looking at
        row.plot = _numeric_plot(np.asarray(ref["sample"]), finite)
    return _verdict(row, thresholds, thresholds.ks_pvalue, column.total)


def compare_categorical(name: str, ref: dict[str, Any], column: Column, thresholds: Any) -> FeatureDrift:
    live = Counter(column.counts)
    present = sum(live.values())
    row = FeatureDrift(name, "feature", "categorical", "ok", present)
    row.missing_reference = ref["missing_rate"]
    row.missing_live = column.missing / column.total if column.total else 0.0
    known = ref["counts"]
    if ref["truncated"]:
        # The reference kept only its top categories: the rest are "other", and nothing is "new".
        other = sum(c for k, c in live.items() if k not in known)
        live = Counter({k: c for k, c in live.items() if k in known})
        live["(other)"] = other
        known = {**known, "(other)": ref["other"]}
    elif present:
        new = {k: c / present for k, c in live.items() if k not in known}
        row.new_categories = dict(sorted(new.items(), key=lambda kv: -kv[1])[:20])
    categories = list(dict.fromkeys([*known, *live]))
    ref_counts = [known.get(k, 0) for k in categories]
    live_counts = [live.get(k, 0) for k in categories]
    if present:
        top = max(live, key=live.__getitem__)
        row.summary = {"live_top": top, "live_top_share": live[top] / present}
    if present >= thresholds.min_samples:
        row.psi = stats.psi(ref_counts, live_counts)
        row.statistic, row.p_value, _ = stats.chi2_2samp(ref_counts, live_counts)
        row.test = "chi2"
    if present:
        row.plot = _categorical_plot(categories, ref_counts, live_counts, set(row.new_categories))
    if row.new_categories:
        shown = ", ".join(f"{k} ({v:.0%})" for k, v in list(row.new_categories.items())[:5])
        row.reasons.append(f"categories not seen in training: {shown}")
    return _verdict(row, thresholds, thresholds.chi2_pvalue, column.total)


def _verdict(row: FeatureDrift, thresholds: Any, alpha: float, records: int) -> FeatureDrift:
    """Drift needs both a material change (PSI) and a significant one (the test); one alone warns."""
    hits = []
    if row.psi is not None and row.psi >= thresholds.psi_threshold:
        hits.append(f"PSI {row.psi:.3g} >= {thresholds.psi_threshold:g}")
    if row.p_value is not None and row.p_value < alpha:
        hits.append(f"{row.test} p={row.p_value:.2g} < {alpha:g}")
    missing_change = abs(row.missing_live - row.missing_reference)
    missing_hit = records >= thresholds.min_samples and missing_change > thresholds.missing_rate_delta
    if missing_hit:
        row.reasons.insert(
            0,
            f"missing rate {row.missing_reference:.1%} -> {row.missing_live:.1%} "
            f"(change > {thresholds.missing_rate_delta:.0%})",
        )
    if hits:
        row.reasons.insert(0, " and ".join(hits))
    if len(hits) == 2 or missing_hit:
        row.verdict = "drift"
    elif row.psi is None and row.samples < thresholds.min_samples:
        row.verdict = "few"
        row.reasons.append(f"{row.samples} values < monitor.min_samples ({thresholds.min_samples})")
    elif hits or row.new_categories:
        row.verdict = "warn"
    return row


def compare(reference: dict[str, Any], live: LiveData, thresholds: Any) -> list[FeatureDrift]:
    """Rows for the reference's features, in the reference's order."""
    rows = []
    for name, ref in reference["features"].items():
        column = live.columns[name]
        if not column.present and live.records:
            row = FeatureDrift(
                name, "feature", ref["kind"], "absent", 0, missing_reference=ref["missing_rate"]
            )
            row.reasons.append("no logged request carried this field")
            rows.append(row)
            continue
        compare_one = compare_numeric if ref["kind"] == "numeric" else compare_categorical
        rows.append(compare_one(name, ref, column, thresholds))
    return rows


def compare_predictions(reference: dict[str, Any], live: LiveData, thresholds: Any) -> list[FeatureDrift]:
    rows = []
    for name, ref in reference.get("predictions", {}).items():
        compare_one = compare_numeric if ref["kind"] == "numeric" else compare_categorical
        row = compare_one(name, ref, live.predictions[name], thresholds)
        row.role = "prediction"
        rows.append(row)
    return rows


def _numeric_plot(ref: np.ndarray, live: np.ndarray) -> dict[str, Any]:
    # One axis for both, wide enough to show where live traffic went.
    lo = min(float(ref.min()), float(np.percentile(live, 0.5)))
    hi = max(float(ref.max()), float(np.percentile(live, 99.5)))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, PLOT_BINS + 1)
    ref_hist = np.histogram(ref, bins=edges)[0] / max(len(ref), 1)
    live_hist = np.histogram(np.clip(live, lo, hi), bins=edges)[0] / max(len(live), 1)
    return {"edges": edges.tolist(), "reference": ref_hist.tolist(), "live": live_hist.tolist()}


def _categorical_plot(
    categories: list[str], ref: list[int], live: list[int], new: set[str]
) -> dict[str, Any]:
    ref_total, live_total = max(sum(ref), 1), max(sum(live), 1)
    order = sorted(range(len(categories)), key=lambda i: -(ref[i] / ref_total + live[i] / live_total))
    shown = order[:PLOT_CATEGORIES]
    bars = [
        {
            "label": categories[i],
            "reference": ref[i] / ref_total,
            "live": live[i] / live_total,
            "new": categories[i] in new,
        }
        for i in shown
    ]
    rest = order[PLOT_CATEGORIES:]
    if rest:
        bars.append(
            {
                "label": f"{len(rest)} more",
                "reference": sum(ref[i] for i in rest) / ref_total,
                "live": sum(live[i] for i in rest) / live_total,
                "new": False,
            }
        )
    return {"bars": bars}
