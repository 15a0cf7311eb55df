"""The performance section of the HTML report: metrics per time window as inline SVG line charts."""

from __future__ import annotations

from typing import Any

from mlship.config import HIGHER_IS_BETTER

WIDTH, HEIGHT = 420, 170
MARGIN = {"left": 44, "right": 10, "top": 12, "bottom": 26}
SHOWN = {"classification": ("auc", "f1", "precision", "recall"), "regression": ("mae", "rmse", "bias")}


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def charts(perf: Any) -> list[dict[str, Any]]:
    """One chart per metric: realised (labelled) and estimated (CBPE) per window, training and its limit."""
    from mlship.monitor.performance import _limit

    windows = perf.windows
    training = perf.training["values"]
    out = []
    for metric in SHOWN.get(perf.task, ()):
        realised = _series(windows, "realised", metric)
        estimated = _series(windows, "estimated", metric)
        if not realised and not estimated:
            continue
        base = training.get(metric)
        drop = perf.thresholds.get(metric)
        limit = _limit(metric, base, drop) if base is not None and drop is not None else None
        out.append(_chart(metric, windows, realised, estimated, base, limit))
    return out


def _series(windows: list[dict[str, Any]], kind: str, metric: str) -> list[tuple[int, float]]:
    values = [(i, (w.get(kind) or {}).get(metric)) for i, w in enumerate(windows)]
    return [(i, float(v)) for i, v in values if v is not None]


def _chart(
    metric: str,
    windows: list[dict[str, Any]],
    realised: list[tuple[int, float]],
    estimated: list[tuple[int, float]],
    base: float | None,
    limit: float | None,
) -> dict[str, Any]:
    values = [v for _, v in realised + estimated] + [v for v in (base, limit) if v is not None]
    if metric == "bias" and limit is not None:
        values.append(-limit)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    inner_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    inner_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    count = max(len(windows) - 1, 1)

    def x(i: int) -> float:
        return round(MARGIN["left"] + (i / count if len(windows) > 1 else 0.5) * inner_w, 2)

    def y(v: float) -> float:
        return round(MARGIN["top"] + (hi - v) / (hi - lo) * inner_h, 2)

    def line(points: list[tuple[int, float]]) -> dict[str, Any]:
        return {
            "path": " ".join(f"{x(i)},{y(v)}" for i, v in points),
            "dots": [{"x": x(i), "y": y(v), "label": f"{windows[i]['start']}: {_fmt(v)}"} for i, v in points],
        }

    ticks = [{"x": x(0), "label": windows[0]["start"][:16]}]
    if len(windows) > 1:
        ticks.append({"x": x(len(windows) - 1), "label": windows[-1]["start"][:16]})
    return {
        "metric": metric,
        "better": "higher" if metric in HIGHER_IS_BETTER else ("nearer 0" if metric == "bias" else "lower"),
        "width": WIDTH,
        "height": HEIGHT,
        "left": MARGIN["left"],
        "right": WIDTH - MARGIN["right"],
        "bottom": HEIGHT - MARGIN["bottom"],
        "realised": line(realised) if realised else None,
        "estimated": line(estimated) if estimated else None,
        "training": None if base is None else {"y": y(base), "label": _fmt(base)},
        "limit": None if limit is None else {"y": y(limit), "label": _fmt(limit)},
        "y_labels": [{"y": y(v), "label": _fmt(v)} for v in (lo + pad, hi - pad)],
        "ticks": ticks,
    }
