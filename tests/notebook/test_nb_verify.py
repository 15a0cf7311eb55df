"""`mlship verify`: every example reaches parity; a changed pipeline is caught (exit 1)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .nb_helpers import EXAMPLES, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_examples_reach_parity(verified, name):
    result = verified[name]
    failed = [r for r in result.rows if not r.ok]
    assert result.ok, failed
    checks = [r.check for r in result.rows]
    assert checks[0] == "predictions (20 rows)"
    assert sum(c.startswith("single record") for c in checks) == 3
    assert any(c.startswith("metric ") for c in checks), "each example computes a metric"
    assert result.golden_test == "tests/test_golden.py"


def test_golden_test_passes_inside_the_project(verified, converted):
    project = converted["sensor_magics_plots"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_golden.py"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]


def test_a_changed_pipeline_fails_with_exit_1(tmp_path, capsys):
    from mlship.cli import main
    from mlship.notebook.convert import convert_notebook

    project = tmp_path / "demand"
    convert_notebook(notebook=EXAMPLES / "demand_gradient_boosting.ipynb", directory=project)
    predict = project / "src" / "demand" / "predict.py"
    text = predict.read_text()
    assert "    return forecast\n" in text
    predict.write_text(text.replace("    return forecast\n", "    return forecast * 1.01\n"))
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(project), "--json"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "parity failed: predictions (20 rows)" in " ".join(captured.err.split())
    assert '"ok": false' in captured.out
    assert not (project / "tests" / "test_golden.py").exists()


def test_verify_needs_a_converted_project(tmp_path, capsys):
    from mlship.cli import main

    main(["init", str(tmp_path / "plain"), "--no-input"])
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(tmp_path / "plain")])
    assert exit_info.value.code == 2
    assert "was not made from a notebook" in " ".join(capsys.readouterr().err.split())
