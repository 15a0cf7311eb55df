"""The HTML report is one self-contained file whose plots render in a real (headless) browser."""

from __future__ import annotations

import re

import pytest

from mlship.errors import UsageError
from mlship.monitor.core import monitor

from .conftest import screenshot


@pytest.fixture
def drift_report(demo, training_inputs, write_traffic, tmp_path):
    frame = training_inputs.sample(600, replace=True, random_state=11).reset_index(drop=True)
    frame["temperature"] = frame["temperature"] + 12
    frame.loc[frame.index[:200], "store"] = "airport"
    result = monitor(demo, logs=[write_traffic(frame)], report=tmp_path / "out" / "drift.html")
    return result, tmp_path / "out" / "drift.html"


def test_report_is_self_contained_with_a_plot_per_feature(drift_report):
    result, path = drift_report
    html = path.read_text()
    assert result.report == str(path)
    # Nothing fetched: no scripts, no external stylesheets or images.
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)
    assert html.count("<svg") == 6  # five features and the predictions
    assert "airport (new)" in html and "Drift in: store, temperature" in html


def test_report_renders_in_headless_chromium(drift_report, chromium, tmp_path):
    from PIL import ImageStat

    _, path = drift_report
    image = screenshot(chromium, path.as_uri(), tmp_path / "report.png", "1400,1800")
    assert image.size == (1400, 1800)
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 20  # not a blank page
    # The plots drew: the live colour (#1f6feb) and the reference grey (#9aa5b1) fill many pixels.
    colours = image.getcolors(maxcolors=1 << 20)
    counts = {rgb: n for n, rgb in colours}
    assert counts.get((31, 111, 235), 0) > 2000
    assert sum(n for rgb, n in counts.items() if _near(rgb, (154, 165, 177))) > 2000


def _near(rgb, target, slack=40) -> bool:
    return sum(abs(a - b) for a, b in zip(rgb, target, strict=True)) <= slack


def test_report_never_replaces_a_file_it_did_not_write(demo, training_inputs, write_traffic, tmp_path):
    notes = tmp_path / "notes.html"
    notes.write_text("<p>my notes</p>")
    with pytest.raises(UsageError):
        monitor(demo, logs=[write_traffic(training_inputs)], report=notes)
    assert notes.read_text() == "<p>my notes</p>"
