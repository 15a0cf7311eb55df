import json

import pandas as pd

from tests.support import run_mlship


def test_train_reports_metrics_and_digest(example_project):
    proc = run_mlship("train", str(example_project), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["metrics"]["r2"] > 0.8
    assert len(result["artifact_sha256"]) == 64
    assert {"model.joblib", "preprocess.json", "metrics.json"} <= set(result["files"])


def test_training_is_reproducible(example_project):
    first = json.loads(run_mlship("train", str(example_project), "--json").stdout)
    second = json.loads(run_mlship("train", str(example_project), "--json").stdout)
    assert first["metrics"] == second["metrics"]


def test_failed_train_keeps_the_previous_artifacts(example_project):
    before = sorted(p.name for p in (example_project / "artifacts").iterdir())
    model = (example_project / "artifacts" / "model.joblib").read_bytes()
    train_py = next(example_project.glob("src/*/train.py"))
    train_py.write_text(train_py.read_text().replace("raw = pd.read_csv(data_path)", "raw = 1 / 0"))
    proc = run_mlship("train", str(example_project))
    assert proc.returncode == 2
    assert "ZeroDivisionError" in proc.stderr
    assert "Traceback" not in proc.stderr.split("error:")[0]
    assert sorted(p.name for p in (example_project / "artifacts").iterdir()) == before
    assert (example_project / "artifacts" / "model.joblib").read_bytes() == model
    assert not list(example_project.glob(".artifacts-*"))


def test_predict_a_single_record(example_project, tmp_path):
    record = {"price": 4.5, "promo": 1, "day_of_week": "sat", "store": "city", "temperature": 21.0}
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps(record) + "\n")
    proc = run_mlship(
        "predict", str(example_project), "-i", str(src), "-o", str(tmp_path / "o.csv"), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == 1
    assert 100 < pd.read_csv(tmp_path / "o.csv")["prediction"].iloc[0] < 260


def test_predict_refuses_to_overwrite(example_project, tmp_path):
    out = tmp_path / "o.csv"
    out.write_text("precious")
    proc = run_mlship(
        "predict", str(example_project), "-i", "data/train.csv", "-o", str(out), cwd=example_project
    )
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert out.read_text() == "precious"


def test_predict_bad_inputs(example_project, tmp_path):
    missing = run_mlship(
        "predict", str(example_project), "-i", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("colour,size\nred,3\n")
    proc = run_mlship("predict", str(example_project), "-i", str(wrong), "-o", str(tmp_path / "o.csv"))
    assert proc.returncode == 2 and "price" in proc.stderr
    fmt = run_mlship("predict", str(example_project), "-i", str(wrong), "-o", str(tmp_path / "o.xlsx"))
    assert fmt.returncode == 2 and "unsupported output format" in fmt.stderr


def test_predict_before_train_says_what_to_do(tmp_path):
    run_mlship("init", str(tmp_path / "p"), "--no-input", check=True)
    proc = run_mlship(
        "predict", str(tmp_path / "p"), "-i", "data/train.csv", "-o", "o.csv", cwd=tmp_path / "p"
    )
    assert proc.returncode == 2
    assert "mlship train" in proc.stderr
