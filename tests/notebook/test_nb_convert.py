"""`mlship init --from`: the project, its modules in a plain interpreter, train/predict/serving paths."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mlship.project import Project
from tests.support import run_mlship

from .nb_helpers import EXAMPLES, GOOD_CELLS, NAMES


def package(project) -> str:
    return Project.load(project).config.entrypoints.train.split(".")[0]


@pytest.mark.parametrize("name", NAMES)
def test_project_layout_and_config(converted, name):
    project = converted[name]
    cfg = Project.load(project).config
    pkg = project / "src" / package(project)
    for module in ("preprocess.py", "train.py", "predict.py"):
        assert (pkg / module).is_file()
    assert not (project / "tests" / "test_model.py").exists()  # the template's example model is gone
    assert (project / cfg.data["train"]).is_file() and (project / cfg.data["predict"]).is_file()
    assert cfg.notebook is not None and (project / cfg.notebook.path).is_file()
    assert cfg.contract.schema_, "the request schema comes from the notebook's new records"
    assert "pandas" in (project / "requirements.txt").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_modules_import_in_a_plain_interpreter(converted, run_python, name):
    project = converted[name]
    pkg = package(project)
    done = run_python(project, f"import {pkg}.preprocess, {pkg}.train, {pkg}.predict; print('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_generated_code_has_no_undefined_or_unused_names(converted):
    sources = [str(p / "src") for p in converted.values()]
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F", *sources],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


def test_notebook_copy_carries_the_plan_as_tags_and_working_paths(converted):
    project = converted["house_prices_onehot"]
    copy = json.loads((project / "notebooks" / "house_prices_onehot.ipynb").read_text())
    code = [c for c in copy["cells"] if c["cell_type"] == "code"]
    assert [c["metadata"]["tags"] for c in code][:3] == [["imports"], ["preprocess"], ["skip"]]
    assert '"../data/houses.csv"' in code[1]["source"]
    original = json.loads((EXAMPLES / "house_prices_onehot.ipynb").read_text())
    assert len(original["cells"]) == len(copy["cells"])


def test_train_saves_fitted_state_and_predict_reuses_it(converted, tmp_path):
    import pandas as pd

    from mlship.project import load_pipeline
    from mlship.stages import train

    project = Project.load(converted["house_prices_onehot"])
    result = train(project)
    assert result.metrics["mae"] > 0
    pipeline = load_pipeline(project)
    scaler = pipeline.model["scaler"]
    assert hasattr(scaler, "mean_")  # fitted at train time, loaded from the artifact
    raw = pd.read_csv(project.data_path("predict"))
    record = raw.iloc[0].to_dict()
    # one record, one city: get_dummies alone would make one city column; training had four
    features = pipeline._preprocess(pd.DataFrame([record]), pipeline.model)
    trained_columns = list(pipeline.model["model"].feature_names_in_)
    assert [c for c in trained_columns if c.startswith("city_")] == [
        "city_lille", "city_lyon", "city_nantes", "city_paris",
    ]  # fmt: skip
    assert [c for c in features.columns if c.startswith("city_")] == ["city_paris"]
    single = pipeline.predict_records([record])
    assert single == pipeline.predict_frame(raw)[:1]
    unseen = pipeline.predict_records([{**record, "city": "brest"}])
    assert len(unseen) == 1 and unseen[0] > 0
    assert features.shape[0] == 1


def test_mlship_train_and_predict_cli_on_one_record(converted, tmp_path):
    project = converted["churn_tagged_pipeline"]
    done = run_mlship("train", str(project), "--json")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["metrics"]) == {"auc", "accuracy"}
    import pandas as pd

    one = tmp_path / "one.jsonl"
    pd.read_csv(project / "data" / "new_customers.csv").head(1).to_json(one, orient="records", lines=True)
    out = tmp_path / "out.csv"
    done = run_mlship("predict", str(project), "--input", str(one), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(out)["prediction"].iloc[0] in {"call", "wait"}


def test_generated_project_tests_pass(converted):
    project = converted["demand_gradient_boosting"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_pipeline.py"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]


def test_data_option_supplies_files_that_are_not_next_to_the_notebook(tmp_path, make_notebook):

    (tmp_path / "nb").mkdir()
    notebook = make_notebook(tmp_path / "nb" / "model.ipynb", GOOD_CELLS)
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    for name in ("houses.csv", "new_houses.csv"):
        shutil.copy(EXAMPLES / "data" / name, elsewhere / name)
    target = tmp_path / "project"
    done = run_mlship("init", str(target), "--from", str(notebook), "--data", str(elsewhere / "houses.csv"),
                      "--data", str(elsewhere / "new_houses.csv"), "--json", check=True)  # fmt: skip
    result = json.loads(done.stdout)
    assert result["notebook_copy"] == "notebooks/model.ipynb"
    assert (target / "data" / "houses.csv").read_bytes() == (elsewhere / "houses.csv").read_bytes()


def test_refuses_a_non_empty_directory(tmp_path, small_notebook):

    target = tmp_path / "busy"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    assert run_mlship("init", str(target), "--from", str(small_notebook)).returncode == 2
    assert (target / "mine.txt").read_text() == "keep me" and len(list(target.iterdir())) == 1
