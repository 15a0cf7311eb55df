"""`mlship build` without a requirements.lock: it locks for the user against the real (local) index,
and says so; `--locked` refuses instead (CI)."""

from __future__ import annotations

from pathlib import Path

from mlship.errors import CheckFailed
from mlship.image.build import ensure_lock
from mlship.project import Project


def test_build_locks_a_project_without_a_lock_and_says_so(example_project: Path) -> None:
    assert not (example_project / "requirements.lock").exists()
    lines: list[str] = []
    notes = ensure_lock(Project.load(example_project), "auto", lines.append)
    lock = (example_project / "requirements.lock").read_text()
    assert "scikit-learn==" in lock and "--hash=sha256:" in lock
    assert any("locking requirements.txt" in line for line in lines)
    assert notes and "requirements.lock" in notes[0]
    # A second build finds the lock and leaves it alone.
    assert ensure_lock(Project.load(example_project), "auto", lines.append) == []
    assert (example_project / "requirements.lock").read_text() == lock


def test_locked_refuses_without_a_lock(example_project: Path) -> None:
    try:
        ensure_lock(Project.load(example_project), "require", print)
    except CheckFailed as exc:
        assert "there is no requirements.lock" in exc.message and exc.exit_code == 1
    else:
        raise AssertionError("--locked built without a lock")
    assert not (example_project / "requirements.lock").exists()
