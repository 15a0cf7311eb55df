"""The reference profile: column kinds, which columns are inputs, and train never failing because of it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mlship.monitor.profile import build_profile, categorical_profile, numeric_profile, prediction_columns


def test_numeric_profile_bins_and_sample():
    values = np.arange(5000, dtype=float)
    profile = numeric_profile(values, missing=500)
    assert profile["count"] == 5500 and profile["missing_rate"] == 500 / 5500
    assert len(profile["edges"]) == 9 and sum(profile["bin_counts"]) == 5000
    assert len(profile["sample"]) == 1000 and profile["sample"] == sorted(profile["sample"])


def test_binary_column_gets_one_bin_per_value():
    profile = numeric_profile(np.array([0.0] * 70 + [1.0] * 30), missing=0)
    assert profile["edges"] == [0.0, 1.0] and profile["bin_counts"] == [70, 30, 0]


def test_categories_compare_as_strings_and_truncate():
    profile = categorical_profile([1, 1.0, "1", None, True, *[f"c{i}" for i in range(300)]])
    assert profile["counts"]["1"] == 3 and profile["counts"]["true"] == 1 and profile["missing"] == 1
    assert profile["truncated"] and len(profile["counts"]) == 200 and profile["other"] == 102


def test_declared_types_win_over_dtypes_and_dict_predictions_split():
    frame = pd.DataFrame({"zip": [10115, 10117, 10115], "x": [1.0, 2.0, 3.0]})
    profile = build_profile(frame, [{"label": "a", "p": 0.9}] * 3, declared={"zip": "category"})
    assert profile["features"]["zip"]["kind"] == "categorical"
    assert profile["features"]["x"]["kind"] == "numeric"
    assert set(profile["predictions"]) == {"prediction.label", "prediction.p"}
    assert prediction_columns([[0.1, 0.9]]) == {}  # vectors are not profiled


def test_train_fails_when_the_model_scores_no_training_record(tmp_path):
    """A project whose predict breaks on every record is a failed training run (exit 2), not a warning."""
    import pytest

    from mlship.errors import ProjectCodeError
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    init_project(directory=tmp_path / "t9broken", no_input=True)
    predict_py = tmp_path / "t9broken" / "src" / "t9broken" / "predict.py"
    predict_py.write_text(
        predict_py.read_text() + "\n\ndef predict(model, features):\n    raise RuntimeError('no')\n"
    )
    with pytest.raises(ProjectCodeError) as failure:
        train(Project.load(tmp_path / "t9broken"))
    assert failure.value.exit_code == 2
    assert "scores none of the first 50 training records" in str(failure.value)
    assert "RuntimeError: no" in str(failure.value)
    assert not (tmp_path / "t9broken" / "artifacts" / "model.joblib").exists()  # nothing swapped in


def test_a_profile_that_cannot_be_made_fails_train_and_monitor_explains_an_old_one(
    tmp_path, training_inputs, write_traffic
):
    """Training data mlship cannot read (the project's own train can): train fails naming the profile."""
    import pytest

    from mlship.errors import ProjectCodeError
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train
    from tests.support import run_mlship

    root = tmp_path / "t9txt"
    init_project(directory=root, no_input=True)
    train(Project.load(root))
    (root / "data" / "train.csv").rename(root / "data" / "train.txt")
    config = root / "mlship.yaml"
    config.write_text(config.read_text().replace("data/train.csv", "data/train.txt"))
    before = (root / "artifacts" / "reference.json").read_text()
    with pytest.raises(ProjectCodeError) as failure:
        train(Project.load(root))
    assert failure.value.exit_code == 2
    assert "building the drift reference profile" in str(failure.value)
    assert "unsupported input format" in str(failure.value)
    assert (root / "artifacts" / "reference.json").read_text() == before  # the previous artifacts stay
    # a reference written by an older mlship that only recorded the error
    (root / "artifacts" / "reference.json").write_text(json.dumps({"format": 1, "error": "ValueError: x"}))
    logs = write_traffic(training_inputs.head(10))
    outcome = run_mlship("monitor", str(root), "--log", str(logs), timeout=300)
    assert outcome.returncode == 2
    assert "could not be computed at train time" in " ".join(outcome.stderr.split())
