"""`mlship verify`: every example reaches parity; a changed pipeline is caught (exit 1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ..support import run_mlship
from .nb_helpers import EXAMPLES, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_examples_reach_parity(verified, name):
    result = verified[name]
    failed = [r for r in result.rows if not r.ok]
    assert result.ok, failed
    checks = [r.check for r in result.rows]
    rows = int(checks[0].removeprefix("predictions (").split()[0])
    assert checks[0] == f"predictions ({rows} rows)" and rows >= 10
    # every record the notebook scored is scored alone too, not a sample of three
    assert f"records scored alone ({rows} of {rows})" in checks
    assert any(c.startswith("metric ") for c in checks), "each example computes a metric"
    assert result.golden_test == "tests/test_golden.py"


def test_golden_test_passes_inside_the_project(verified, converted):
    project = converted["sensor_magics_plots"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_golden.py"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]


def test_a_changed_pipeline_fails_with_exit_1(tmp_path):
    from mlship.notebook.convert import convert_notebook

    project = tmp_path / "demand"
    convert_notebook(notebook=EXAMPLES / "demand_gradient_boosting.ipynb", directory=project)
    predict = project / "src" / "demand" / "predict.py"
    text = predict.read_text()
    assert "    return forecast\n" in text
    predict.write_text(text.replace("    return forecast\n", "    return forecast * 1.01\n"))
    captured = run_mlship("verify", str(project), "--json")
    assert captured.returncode == 1
    assert "parity failed: predictions (20 rows)" in " ".join(captured.stderr.split())
    assert '"ok": false' in captured.stdout
    assert not (project / "tests" / "test_golden.py").exists()


def test_verify_needs_a_converted_project(tmp_path):
    run_mlship("init", str(tmp_path / "plain"), "--no-input", check=True)
    done = run_mlship("verify", str(tmp_path / "plain"))
    assert done.returncode == 2
    assert "was not made from a notebook" in " ".join(done.stderr.split())


# claims_no_scoring_cell: the training data has rows without bmi, which the notebook drops (`dropna`)
# before the fit; bmi is required in the converted schema, so its contract holds (a null bmi is refused).
@pytest.mark.parametrize("name", NAMES)
def test_converted_examples_keep_their_contract(verified, converted, tmp_path, name):
    """init --from + verify (the session fixtures) + `mlship train` + `mlship test`: exit 0."""
    assert verified[name].examples.startswith("contract.examples: 5 examples written"), verified[name]
    project = tmp_path / name
    shutil.copytree(converted[name], project)  # the session's project stays as verify left it
    examples = yaml.safe_load((project / "mlship.yaml").read_text())["contract"]["examples"]
    golden = json.loads((project / "tests" / "golden" / "notebook.json").read_text())["predictions"]
    # The first, quartile and last of the records the notebook scored, with the notebook's values.
    from mlship.compare import close

    rows = [round(q * (len(golden) - 1)) for q in (0, 0.25, 0.5, 0.75, 1)]
    assert close([e["output"] for e in examples], [golden[r] for r in rows], 1e-9, rtol=1e-6)
    run_mlship("train", cwd=project, check=True, timeout=300)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = run_mlship("test", "--json", cwd=project, env=env, timeout=300)
    report = json.loads(proc.stdout)
    failures = {
        c["name"]: c["failures"] for c in report["checks"] if c["status"] not in ("passed", "skipped")
    }
    assert proc.returncode == 0, failures
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status["examples"] == status["schema"] == status["extremes"] == "passed", status


def test_verify_leaves_examples_the_user_wrote(converted, tmp_path):
    from mlship.notebook.parity import seed_contract_examples
    from mlship.project import Project

    project = tmp_path / "demand"
    shutil.copytree(converted["demand_gradient_boosting"], project)
    path = project / "mlship.yaml"
    text = path.read_text().replace(
        "contract:\n", "contract:\n  examples:\n  - {input: {price: 1}, output: 2}\n", 1
    )
    path.write_text(text)
    message = seed_contract_examples(Project.load(project), {"singles": {"0": 80.0}})
    assert message.startswith("contract.examples left as it is: contract.examples already exists")
    assert path.read_text() == text
