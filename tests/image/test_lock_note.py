"""`mlship build --skip-check` still says, for free, when the lock is older than requirements.txt."""

from __future__ import annotations

from pathlib import Path

from mlship.deps.requirements import read_requirements
from mlship.image.build import unchecked_lock_notes
from mlship.project import Project

CONFIG = (
    "name: proj\npython: '3.11'\nentrypoints:\n  preprocess: proj.model:a\n  train: proj.model:b\n"
    "  load: proj.model:c\n  predict: proj.model:d\n"
)


def _project(root: Path) -> Path:
    (root / "src" / "proj").mkdir(parents=True)
    (root / "mlship.yaml").write_text(CONFIG)
    (root / "requirements.txt").write_text("tabulate==0.9.0\n")
    digest = read_requirements(root / "requirements.txt").digest
    (root / "requirements.lock").write_text(
        f"# mlship-lock: python=3.11 platform=linux_x86_64 requirements-sha256={digest}\n"
        "tabulate==0.9.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    )
    return root


def test_a_stale_lock_is_a_build_note_and_a_current_one_is_not(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    lines: list[str] = []
    assert unchecked_lock_notes(Project.load(root), lines.append) == [] and lines == []
    (root / "requirements.txt").write_text("tabulate==0.9.0\npandas>=2\n")
    notes = unchecked_lock_notes(Project.load(root), lines.append)
    assert len(notes) == 1 and "requirements.txt changed since requirements.lock" in notes[0]
    assert lines == ["Note: " + notes[0]]
    # A lock without mlship's header records nothing to compare: no note (check says lock-unrequired).
    (root / "requirements.lock").write_text("tabulate==0.9.0\n")
    assert unchecked_lock_notes(Project.load(root), lines.append) == []
