"""Tables on an 80-column terminal: the URL, dates and digests are never cut; less useful columns go first."""

from __future__ import annotations

import io

from rich.console import Console

from mlship.cli.deploy import history_table, status_table

URL = "http://staging-demand.models.example.internal:30080"
DATE = "2025-06-01T12:00:00Z"
DIGEST = "sha256:0123456789abcdef0123"
ENVIRONMENT = {
    "environment": "staging",
    "target": "kubernetes",
    "current": {"version": "0.1.0", "deployed_at": DATE, "deployed_by": "alice@laptop"},
    "ready": True,
    "replicas": {"running": 2, "desired": 2},
    "url": URL,
}
RELEASE = {
    "deployed_at": DATE,
    "version": "0.1.0",
    "result": "live",
    "deployed_by": "alice@laptop",
    "strategy": "rolling",
    "digest": DIGEST,
}


def _render(table: object, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), force_terminal=False)
    console.print(table)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_status_keeps_the_url_whole_on_80_columns() -> None:
    lines = _render(status_table([ENVIRONMENT], width=80), 80)
    assert all(len(line) <= 80 for line in lines), lines
    assert any(URL in line for line in lines), "\n".join(lines)
    assert "…" not in "\n".join(lines)


def test_status_on_a_wide_terminal_shows_every_column() -> None:
    text = "\n".join(_render(status_table([ENVIRONMENT], width=200), 200))
    for cell in ("kubernetes", URL, f"{DATE} by alice@laptop"):
        assert cell in text, text


def test_history_drops_the_strategy_before_cutting_the_date_or_digest() -> None:
    lines = _render(history_table([RELEASE], width=80), 80)
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in lines), lines
    assert any(DATE in line and DIGEST[:19] in line for line in lines), text
    assert "rolling" not in text and "strategy" not in text
    assert "alice@laptop" in text and "…" not in text
