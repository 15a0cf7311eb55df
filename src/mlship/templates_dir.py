"""Where mlship's templates live: inside the wheel when installed, at the checkout's top otherwise."""

from __future__ import annotations

from pathlib import Path


def templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parents[1] / "templates"):
        if (candidate / "project").is_dir():
            return candidate
    raise FileNotFoundError("mlship's templates are missing from this installation")
