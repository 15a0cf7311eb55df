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


def test_train_succeeds_when_the_profile_cannot_use_predict(tmp_path):
    """A project whose predict breaks on the training frame still trains; monitor explains why not."""

    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    init_project(directory=tmp_path / "t9broken", no_input=True)
    predict_py = tmp_path / "t9broken" / "src" / "t9broken" / "predict.py"
    predict_py.write_text(
        predict_py.read_text() + "\n\ndef predict(model, features):\n    raise RuntimeError('no')\n"
    )
    result = train(Project.load(tmp_path / "t9broken"))
    assert result.reference == str(tmp_path / "t9broken" / "artifacts" / "reference.json")
    profile = json.loads((tmp_path / "t9broken" / "artifacts" / "reference.json").read_text())
    assert profile["predictions"] == {} and "RuntimeError" in profile["prediction_error"]
    assert profile["features"]["price"]["kind"] == "numeric"


def test_a_profile_that_cannot_be_made_is_explained_by_monitor(tmp_path, training_inputs, write_traffic):
    """Training data mlship cannot read (the project's own train can): train succeeds, monitor says why."""
    from typer.testing import CliRunner

    from mlship.cli import app
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    root = tmp_path / "t9txt"
    init_project(directory=root, no_input=True)
    (root / "data" / "train.csv").rename(root / "data" / "train.txt")
    config = root / "mlship.yaml"
    config.write_text(config.read_text().replace("data/train.csv", "data/train.txt"))
    result = train(Project.load(root))
    assert result.reference is None and (root / "artifacts" / "model.joblib").is_file()
    assert (
        "unsupported input format" in json.loads((root / "artifacts" / "reference.json").read_text())["error"]
    )
    logs = write_traffic(training_inputs.head(10))
    outcome = CliRunner().invoke(app, ["monitor", str(root), "--log", str(logs)])
    assert outcome.exception.exit_code == 2
    assert "could not be computed at train time" in outcome.exception.message
