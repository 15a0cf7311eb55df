"""The HTML drift report: one self-contained file (inline CSS and SVG, no scripts, nothing fetched)."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlship.errors import UsageError

TEMPLATE = "report.html.j2"
GENERATOR = '<meta name="generator" content="mlship monitor">'
WIDTH, HEIGHT = 420, 170  # one plot, in SVG user units
MARGIN = {"left": 44, "right": 10, "top": 10, "bottom": 26}
BAR_ROW = 18  # height of one category row


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e4 or magnitude < 1e-2:
        return f"{value:.2g}"
    return f"{value:.3g}" if magnitude < 100 else f"{value:.0f}"


def numeric_svg(plot: dict[str, Any]) -> dict[str, Any]:
    """Two overlaid histograms (shares per bin) on one axis: geometry for the template."""
    edges, ref, live = plot["edges"], plot["reference"], plot["live"]
    inner_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    inner_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    top = max(max(ref), max(live), 1e-9)
    lo, hi = edges[0], edges[-1]
    span = hi - lo

    def x(value: float) -> float:
        return MARGIN["left"] + (value - lo) / span * inner_w

    def y(share: float) -> float:
        return MARGIN["top"] + inner_h - share / top * inner_h

    bars = []
    for i in range(len(ref)):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        bars.append(
            {
                "x": round(x0, 2),
                "w": round(max(x1 - x0 - 1, 0.5), 2),
                "ref_y": round(y(ref[i]), 2),
                "ref_h": round(y(0) - y(ref[i]), 2),
            }
        )
    # The live distribution as a step outline, so both stay visible where they overlap.
    points = [(x(lo), y(0))]
    for i, share in enumerate(live):
        points += [(x(edges[i]), y(share)), (x(edges[i + 1]), y(share))]
    points.append((x(hi), y(0)))
    ticks = [{"x": round(x(v), 2), "label": _fmt(v)} for v in (lo, lo + span / 2, hi)]
    return {
        "kind": "numeric",
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "live_path": " ".join(f"{px:.2f},{py:.2f}" for px, py in points),
        "ticks": ticks,
        "axis_y": round(y(0), 2),
        "left": MARGIN["left"],
        "right": WIDTH - MARGIN["right"],
        "top_label": f"{top:.0%}" if top >= 0.01 else f"{top:.1%}",
        "top_y": MARGIN["top"] + 4,
    }


def categorical_svg(plot: dict[str, Any]) -> dict[str, Any]:
    """Paired horizontal bars per category (reference over live), new categories marked."""
    bars = plot["bars"]
    label_w = 120
    inner_w = WIDTH - label_w - 50
    top = max([max(b["reference"], b["live"]) for b in bars] + [1e-9])
    rows = []
    for i, bar in enumerate(bars):
        y0 = MARGIN["top"] + i * BAR_ROW
        label = bar["label"] if len(bar["label"]) <= 18 else bar["label"][:17] + "…"
        rows.append(
            {
                "y": y0,
                "label": label + (" (new)" if bar["new"] else ""),
                "new": bar["new"],
                "ref_w": round(bar["reference"] / top * inner_w, 2),
                "live_w": round(bar["live"] / top * inner_w, 2),
                "live_label": f"{bar['live']:.0%}",
            }
        )
    return {
        "kind": "categorical",
        "width": WIDTH,
        "height": MARGIN["top"] + len(bars) * BAR_ROW + 8,
        "rows": rows,
        "label_w": label_w,
        "bar_x": label_w + 4,
    }


def plot_for(row: Any) -> dict[str, Any] | None:
    if not row.plot:
        return None
    return numeric_svg(row.plot) if row.kind == "numeric" else categorical_svg(row.plot)


def render_report(result: Any) -> str:
    import jinja2

    from mlship.templates_dir import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "monitor")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else _fmt(v)
    env.filters["pct"] = lambda v: "" if v is None else f"{v:.1%}"
    rows = [*result.features, *result.predictions]
    perf = getattr(result, "performance", None)
    if perf is not None:
        from mlship.monitor.perfplot import charts

        perf_charts = charts(perf)
    else:
        perf_charts = []
    return env.get_template(TEMPLATE).render(
        result=result,
        rows=rows,
        perf=perf,
        perf_charts=perf_charts,
        plots=[(row, plot_for(row)) for row in rows],
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def write_report(result: Any, path: Path) -> Path:
    """Write atomically: a half-written report must never replace a good one."""
    from mlship.outfiles import write_text

    path = Path(path)
    check_report_target(path)
    return write_text(path, render_report(result), "--report")


def check_report_target(path: Path) -> None:
    """Never overwrite a file that is not an earlier report (a typo must not cost the user a file)."""
    from mlship.outfiles import check_target

    if path.is_dir():
        raise UsageError(f"--report {path} is a directory", hint="give a file name such as drift.html")
    check_target(path, "--report")
    if path.is_file() and GENERATOR not in path.read_text(encoding="utf-8", errors="replace")[:2000]:
        raise UsageError(
            f"--report {path} exists and is not an mlship report", hint="choose another file name"
        )
