"""`mlship monitor --labels`: outcomes joined to predictions the real runtime served and logged, the
metrics checked against scikit-learn directly, a shifted concept failing the run, and CBPE's estimate."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
)

from mlship.errors import InputError
from mlship.monitor.core import monitor
from tests.support import run_mlship
from tests.support import served as serving

from .conftest import screenshot

CLASSIFIER_TRAIN = '''"""A logistic regression: P(high demand) from the example's features."""
import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression

from {package} import preprocess


def main(data_path, artifact_dir, params):
    raw = pd.read_csv(data_path)
    target = raw.pop(params["target"])
    state = preprocess.fit(raw)
    model = LogisticRegression(max_iter=500).fit(preprocess.apply(raw, state), target)
    joblib.dump((model, state), f"{{artifact_dir}}/model.joblib")
    return {{"rows": len(raw)}}
'''

CLASSIFIER_PREDICT = '''"""Label and probability of high demand."""
import joblib

from {package} import preprocess


def load(artifact_dir):
    return joblib.load(f"{{artifact_dir}}/model.joblib")


def predict(model, features):
    p = model[0].predict_proba(features)[:, 1]
    return [{{"label": int(v >= 0.5), "probability": round(float(v), 6)}} for v in p]


def transform(raw, model):
    return preprocess.apply(raw, model[1])
'''


@pytest.fixture(scope="session")
def classifier(tmp_path_factory):
    """The example project turned into a classifier of high demand (with label noise), trained for real."""
    from mlship.project import Project
    from mlship.scaffold import init_project
    from mlship.stages import train

    root = tmp_path_factory.mktemp("perf") / "p19clf"
    init_project(directory=root, no_input=True)
    package = next(p.name for p in (root / "src").iterdir() if (p / "train.py").is_file())
    data = pd.read_csv(root / "data" / "train.csv")
    noise = np.random.default_rng(5).normal(0, 25, len(data))
    noisy = data.pop("demand") + noise
    data["high"] = (noisy > noisy.median()).astype(int)
    data.to_csv(root / "data" / "train.csv", index=False)
    (root / "src" / package / "train.py").write_text(CLASSIFIER_TRAIN.format(package=package))
    (root / "src" / package / "predict.py").write_text(CLASSIFIER_PREDICT.format(package=package))
    text = (root / "mlship.yaml").read_text()
    text = text.replace("target: demand", "target: high")
    text = text.replace(
        f"preprocess: {package}.preprocess:transform", f"preprocess: {package}.predict:transform"
    )
    text += "monitor:\n  performance:\n    score: probability\n    min_labels: 100\n    window: 1h\n"
    (root / "mlship.yaml").write_text(text)
    project = Project.load(root)
    train(project)
    return project


def serve_and_send(project, records: list[dict[str, Any]], log_dir: Path, *, batch: int = 5) -> list[dict]:
    """POST the records to the real `mlship serve`; every record's key and output from the responses.
    The server is stopped with SIGTERM (the runtime flushes its log) before the log is read."""
    answers: list[dict] = []
    with serving(project.root, log_dir=log_dir) as url:
        for start in range(0, len(records), batch):
            body = json.dumps({"records": records[start : start + batch]}).encode()
            request = urllib.request.Request(
                f"{url}/predict", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                reply = json.loads(response.read())
            assert len(reply["keys"]) == len(reply["predictions"])
            answers += [
                {"key": k, "output": o} for k, o in zip(reply["keys"], reply["predictions"], strict=True)
            ]
    return answers


@pytest.fixture(scope="session")
def served(classifier, tmp_path_factory):
    """1,000 training-like records served by the classifier; their keys, outputs and true outcomes."""
    data = pd.read_csv(classifier.data_path())
    sample = data.sample(1000, replace=True, random_state=3).reset_index(drop=True)
    inputs = sample.drop(columns=["high"])
    records = inputs.astype(object).where(inputs.notna(), None).to_dict("records")
    log_dir = tmp_path_factory.mktemp("perflogs") / "logs"
    answers = serve_and_send(classifier, records, log_dir)
    frame = pd.DataFrame(
        {
            "key": [a["key"] for a in answers],
            "probability": [a["output"]["probability"] for a in answers],
            "high": sample["high"],
        }
    )
    return log_dir, frame


def test_labels_for_part_of_the_traffic_give_scikit_learns_metrics(classifier, served, tmp_path):
    log_dir, frame = served
    part = frame.sample(700, random_state=1)  # outcomes known for 70% so far
    labels = tmp_path / "labels.csv"
    part[["key", "high"]].assign(time="2030-01-01T00:00:00Z").to_csv(labels, index=False)
    stray = tmp_path / "more" / "late.jsonl"  # a second file, one key that matches nothing
    stray.parent.mkdir()
    stray.write_text(json.dumps({"key": "not-a-logged-key", "high": 1}) + "\n")

    result = monitor(classifier, logs=[log_dir], labels=[labels, stray.parent])
    perf = result.performance
    assert perf.task == "classification"
    assert perf.labels["matched"] == 700 and perf.labels["unmatched_labels"] == 1
    assert perf.labels["predictions"] == 1000 and perf.labels["unlabelled_predictions"] == 300
    y, score = part["high"].to_numpy(), part["probability"].to_numpy()
    overall = perf.overall
    assert overall["n"] == 700
    assert overall["auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    predicted = (score >= 0.5).astype(int)
    assert overall["precision"] == pytest.approx(precision_score(y, predicted), abs=1e-12)
    assert overall["recall"] == pytest.approx(recall_score(y, predicted), abs=1e-12)
    assert overall["f1"] == pytest.approx(f1_score(y, predicted), abs=1e-12)
    assert overall["reliability"]["predicted"] and overall["brier"] > 0
    assert perf.labels["label_delay_s"]["p50"] > 0  # the outcomes came after the predictions
    assert perf.verdict == "ok", perf.failures
    assert result.verdict == "ok"


@pytest.mark.slow
def test_a_shifted_concept_exits_1_naming_the_metric(classifier, served, tmp_path):
    log_dir, frame = served
    shifted = frame.assign(high=np.where(frame.index % 2 == 0, 1 - frame["high"], frame["high"]))
    labels = tmp_path / "labels.parquet"
    shifted[["key", "high"]].to_parquet(labels)
    done = run_mlship("monitor", str(classifier.root), "--log", str(log_dir), "--labels", str(labels))
    assert done.returncode == 1, done.stderr
    assert "performance fell" in done.stderr and "auc" in done.stderr
    done = run_mlship(
        "monitor", str(classifier.root), "--log", str(log_dir), "--labels", str(labels), "--json"
    )
    data = json.loads(done.stdout)
    assert "auc" in data["performance"]["failed_metrics"]
    # The estimate from scores alone cannot see a concept shift; monitor says the estimate is not valid.
    assert any("not valid" in note for note in data["performance"]["notes"])


def test_cbpe_estimate_tracks_the_realised_auc_on_a_drift_free_window(classifier, served, tmp_path):
    """Stated tolerance: 0.04 of AUC and of accuracy on 1,000 records drawn like the training data --
    about three standard errors of an accuracy near 0.8 on 1,000 records (sqrt(0.8 * 0.2 / 1000) = 0.013)."""
    log_dir, frame = served
    before = monitor(classifier, logs=[log_dir])  # no labels yet: the estimate alone
    assert before.performance.verdict == "estimated"
    (window,) = before.performance.windows
    estimated = window["estimated"]
    assert estimated["n"] == 1000 and "realised" not in window
    labels = tmp_path / "labels.jsonl"
    frame[["key", "high"]].to_json(labels, orient="records", lines=True)
    after = monitor(classifier, logs=[log_dir], labels=[labels])
    (window,) = after.performance.windows
    realised = roc_auc_score(frame["high"], frame["probability"])
    assert window["realised"]["auc"] == pytest.approx(realised, abs=1e-12)
    assert abs(window["estimated"]["auc"] - realised) < 0.04
    assert abs(window["estimated"]["accuracy"] - window["realised"]["accuracy"]) < 0.04
    assert window.get("estimate_valid", True)


def test_regression_metrics_by_model_version_against_train_py(demo, write_traffic, training_inputs, tmp_path):
    """The example regressor: MAE, RMSE and bias per model version, training's MAE from metrics.json."""
    import uuid

    from tests.monitor.conftest import log_lines, write_log

    data = pd.read_csv(demo.data_path())
    rows = data.sample(400, random_state=2).reset_index(drop=True)
    from mlship.project import load_pipeline

    outputs = load_pipeline(demo).predict_frame(rows.drop(columns=["demand"]))
    log_dir = tmp_path / "logs"
    inputs = rows.drop(columns=["demand"]).to_dict("records")
    # Four days of traffic, 100 requests a day: v0.1.0 for two days, then v0.2.0.
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    step = timedelta(seconds=864)
    lines = log_lines(inputs[:200], outputs[:200], model_version="0.1.0+a", start=start, step=step)
    lines += log_lines(
        inputs[200:], outputs[200:], model_version="0.2.0+b", start=start + 200 * step, step=step
    )
    write_log(log_dir, lines)
    keys = [f"{json.loads(line)['request_id']}:0" for line in lines]
    truth = rows["demand"].to_numpy(dtype=float)
    truth[200:] += 40  # the second version under-predicts by 40 units
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"key": keys, "outcome": truth}).to_csv(labels, index=False)
    assert uuid  # keys are the logged request ids, as the runtime returns them
    result = monitor(demo, logs=[log_dir], labels=[labels], report=tmp_path / "perf.html")
    perf = result.performance
    assert perf.task == "regression"
    assert perf.training["source"]["mae"] == "train.py (metrics.json)"
    by_version = {v["model_version"]: v for v in perf.versions}
    predicted = np.asarray(outputs, dtype=float)
    assert by_version["0.1.0+a"]["mae"] == pytest.approx(mean_absolute_error(truth[:200], predicted[:200]))
    assert by_version["0.2.0+b"]["rmse"] == pytest.approx(
        np.sqrt(mean_squared_error(truth[200:], predicted[200:]))
    )
    assert by_version["0.2.0+b"]["bias"] == pytest.approx(np.mean(predicted[200:] - truth[200:]))
    assert perf.verdict == "degraded" and {f.scope for f in perf.failures} >= {"model 0.2.0+b"}
    assert "mae" in perf.failed_metrics and result.verdict == "degraded"
    # Per day (window 1d): the first two days pass, the last two fail; the report plots the four.
    assert [w["start"][:10] for w in perf.windows] == ["2030-01-01", "2030-01-02", "2030-01-03", "2030-01-04"]
    failed_days = sorted({f.scope[7:17] for f in perf.failures if f.scope.startswith("window")})
    assert failed_days == ["2030-01-03", "2030-01-04"]
    html = (tmp_path / "perf.html").read_text()
    chart = html[html.index('aria-label="mae per window"') :]
    points = chart[chart.index('<polyline points="') + 18 :].split('"', 1)[0]
    assert len(points.split()) == 4


def test_labels_without_a_key_column_are_refused(demo, write_traffic, training_inputs, tmp_path):
    log_dir = write_traffic(training_inputs.head(20))
    labels = tmp_path / "labels.csv"
    labels.write_text("id,outcome\n1,2\n")
    with pytest.raises(InputError, match="key column"):
        monitor(demo, logs=[log_dir], labels=[labels])


def test_report_has_a_performance_section_that_renders_in_headless_chromium(
    classifier, served, chromium, tmp_path
):

    log_dir, frame = served
    labels = tmp_path / "labels.csv"
    frame.head(600)[["key", "high"]].to_csv(labels, index=False)
    report = tmp_path / "out" / "perf.html"
    monitor(classifier, logs=[log_dir], labels=[labels], report=report)
    html = report.read_text()
    assert 'id="performance"' in html and "600 of 1000 logged predictions have an outcome" in html
    assert "<script" not in html
    assert html.count('aria-label="auc per window"') == 1 and "estimated (CBPE)" in html
    image = screenshot(chromium, f"{report.as_uri()}#performance", tmp_path / "perf.png", "1400,4000")
    counts = {rgb: n for n, rgb in image.getcolors(maxcolors=1 << 22)}
    # The realised points (#1f6feb) and the estimate (#8250df) drew in the performance charts.
    assert counts.get((130, 80, 223), 0) > 200
    assert counts.get((31, 111, 235), 0) > 200


@pytest.mark.slow
def test_replay_measures_the_candidate_against_the_live_model_with_an_interval(classifier, served, tmp_path):
    """A candidate trained on shuffled outcomes is measurably worse; `--not-worse auc` exits 1 naming it."""
    import shutil

    log_dir, frame = served
    candidate = tmp_path / "candidate"
    shutil.copytree(classifier.root, candidate, ignore=shutil.ignore_patterns("artifacts", "logs"))
    package = next(p for p in (candidate / "src").iterdir() if (p / "train.py").is_file())
    code = (package / "train.py").read_text()
    shuffled = code.replace(
        'target = raw.pop(params["target"])',
        'target = raw.pop(params["target"]).sample(frac=1, random_state=0).to_numpy()',
    )
    assert shuffled != code
    (package / "train.py").write_text(shuffled)
    # In a fresh process: this one has the live project's package (same name) imported already.
    assert run_mlship("train", str(candidate)).returncode == 0
    labels = tmp_path / "labels.csv"
    frame[["key", "high"]].to_csv(labels, index=False)

    argv = ["replay", str(log_dir), "--model", str(candidate), "--labels", str(labels), "--json"]
    done = run_mlship(*argv, "--not-worse", "auc")
    assert done.returncode == 1, done.stderr
    assert "worse than the live model: auc" in done.stderr
    data = json.loads(done.stdout)
    auc = data["performance"]["metrics"]["auc"]
    assert data["performance"]["labelled"] == 1000
    assert auc["live"] == pytest.approx(roc_auc_score(frame["high"], frame["probability"]), abs=1e-12)
    assert auc["ci_low"] <= auc["difference"] <= auc["ci_high"] < 0 and auc["verdict"] == "worse"

    same = run_mlship(
        "replay", str(log_dir), "--model", str(classifier.root), "--labels", str(labels), "--json"
    )
    assert same.returncode == 0, same.stderr
    metrics = json.loads(same.stdout)["performance"]["metrics"]
    assert metrics["auc"]["difference"] == 0 and metrics["auc"]["verdict"] == "no measurable difference"


def test_a_client_id_field_is_the_join_key_when_configured(tmp_path):
    """monitor.performance.key: the outcome joins on the client's own id; records without it are counted."""
    from tests.monitor.conftest import log_lines, make_project, write_log

    project = make_project(
        tmp_path,
        "p19key",
        replace={"logging:\n": "monitor:\n  performance:\n    key: order_id\n    min_labels: 10\nlogging:\n"},
    )
    from mlship.project import load_pipeline

    data = pd.read_csv(project.data_path()).head(120).reset_index(drop=True)
    inputs = data.drop(columns=["demand"])
    outputs = load_pipeline(project).predict_frame(inputs)
    records = inputs.astype(object).where(inputs.notna(), None).to_dict("records")
    for i, record in enumerate(records[:100]):
        record["order_id"] = 5000 + i  # a number in the request, text in the labels file
    write_log(tmp_path / "logs", log_lines(records, list(outputs), batch=4))
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"order_id": [str(5000 + i) for i in range(100)], "demand": data["demand"][:100]}).to_csv(
        labels, index=False
    )
    perf = monitor(project, logs=[tmp_path / "logs"], labels=[labels]).performance
    assert perf.labels["matched"] == 100 and perf.labels["predictions_without_key"] == 20
    assert perf.overall["mae"] == pytest.approx(
        mean_absolute_error(data["demand"][:100], np.asarray(outputs[:100], dtype=float))
    )


def test_an_unknown_metric_or_window_in_mlship_yaml_is_a_config_error(tmp_path):
    from mlship.errors import ConfigError
    from mlship.project import Project
    from mlship.scaffold import init_project

    init_project(directory=tmp_path / "p", no_input=True)
    config = tmp_path / "p" / "mlship.yaml"
    base = config.read_text()
    for block, words in (
        ("    max_drop: {aucc: 0.1}\n", "unknown metrics ['aucc']"),
        ("    window: fortnightly\n", "not a duration"),
    ):
        config.write_text(base + "monitor:\n  performance:\n" + block)
        with pytest.raises(ConfigError, match="monitor.performance") as caught:
            Project.load(tmp_path / "p")
        assert words in str(caught.value)


def test_a_binary_classifiers_probability_pairs_are_watched_as_p_of_the_second_class():
    """A converted notebook's predict returns predict_proba rows ([P(0), P(1)]): monitoring watches
    P(classes_[1]), at train time (numpy rows) and in the log (JSON lists), instead of dropping them."""
    import numpy as np

    from mlship.monitor.labelled import _floats
    from mlship.monitor.performance import output_values

    pairs = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]
    assert _floats(pairs).tolist() == [0.1, 0.8, 0.5]
    assert output_values([np.array(p) for p in pairs], None).tolist() == [0.1, 0.8, 0.5]
    mixed = _floats([0.3, [0.4, 0.6], None, [1, 2, 3], "x", True])
    assert mixed[:2].tolist() == [0.3, 0.6] and np.isnan(mixed[2:]).all()
