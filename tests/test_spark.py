"""`mlship predict --engine spark` in Spark's local mode: the same rows, columns, order and predictions as
the local engine, rejects with their error, and the prediction log. One SparkSession for the module
(starting one takes seconds); the standalone cluster is tests/test_spark_cluster.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlship.batch.run import predict_file
from mlship.errors import ConfigError, InputError, UsageError
from mlship.project import Project
from tests.support import run_mlship
from tests.test_batch import _table

pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def spark():
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlship-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.shuffle.partitions", "2")
        # small splits: a few thousand rows come in several partitions, so order across them is tested
        .config("spark.sql.files.maxPartitionBytes", "16384")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def read_output(path: Path) -> pd.DataFrame:
    """A local engine's file, or Spark's directory of part files in order."""
    suffix = path.suffix
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.name.startswith("part-"))
        return pd.concat([_read(p, suffix) for p in parts])
    return _read(path, suffix)


def _read(path: Path, suffix: str) -> pd.DataFrame:
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_json(path, lines=True)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_spark_scores_exactly_like_mlship_predict(spark, example_project, tmp_path, suffix):
    from mlship.batch.spark import predict_spark

    src = tmp_path / f"in{suffix}"
    frame = _table(example_project, 3000, src)
    if suffix == ".parquet":  # several row groups, so several partitions
        frame.to_parquet(src, index=False, row_group_size=500)
    project = Project.load(example_project)
    local = predict_file(project, input=src, output=tmp_path / "local.parquet")
    result = predict_spark(project, input=str(src), output=str(tmp_path / "spark.parquet"), session=spark)
    assert (result.rows, result.rejected, result.engine) == (3000, 0, "spark")
    assert result.model_version == local.model_version
    parts = list((tmp_path / "spark.parquet").glob("part-*"))
    assert len(parts) > 1, "the table should have been split across partitions"
    want = pd.read_parquet(tmp_path / "local.parquet")
    got = read_output(tmp_path / "spark.parquet").reset_index(drop=True)
    assert list(got.columns) == [*frame.columns, "prediction"]
    assert got["id"].tolist() == list(range(3000))  # row order kept across partitions
    # exactly: the same code on the same values, bit for bit
    assert got["prediction"].tolist() == want["prediction"].tolist()
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@pytest.mark.slow
def test_spark_writes_csv_and_jsonl_the_local_engine_can_read(spark, example_project, tmp_path):
    from mlship.batch.spark import predict_spark

    src = tmp_path / "in.parquet"
    _table(example_project, 400, src)
    project = Project.load(example_project)
    want = pd.read_parquet(predict_file(project, input=src, output=tmp_path / "local.parquet").output)
    for suffix in (".csv", ".jsonl"):
        out = tmp_path / f"spark{suffix}"
        predict_spark(project, input=str(src), output=str(out), session=spark)
        got = read_output(out).reset_index(drop=True)
        assert got["id"].tolist() == list(range(400))
        assert got["prediction"].tolist() == pytest.approx(want["prediction"].tolist(), rel=1e-15)


@pytest.mark.slow
def test_spark_bad_rows_go_to_the_reject_file_and_max_errors_stops(spark, example_project, tmp_path):
    from mlship.batch.spark import predict_spark

    src = tmp_path / "in.csv"
    frame = _table(example_project, 2000, src).astype({"price": object})
    frame.loc[[3, 1500], "price"] = "cheap"
    frame.to_csv(src, index=False)
    project = Project.load(example_project)
    out = tmp_path / "out.parquet"
    result = predict_spark(project, input=str(src), output=str(out), session=spark, id_column="id")
    assert (result.rows, result.rejected) == (1998, 2)
    assert result.rejects == str(tmp_path / "out.rejects.jsonl")
    rejects = [json.loads(line) for line in Path(result.rejects).read_text().splitlines()]
    assert [r["id"] for r in rejects] == [3, 1500]
    assert list(rejects[0])[:4] == ["_partition", "_row", "id", "_error"]
    assert all("price must be a number" in r["_error"] and r["price"] == "cheap" for r in rejects)
    assert read_output(out)["id"].tolist() == [i for i in range(2000) if i not in (3, 1500)]

    stopped = tmp_path / "stopped.parquet"
    with pytest.raises(InputError, match="more than 1 rows were rejected"):
        predict_spark(project, input=str(src), output=str(stopped), session=spark, max_errors=1)
    assert not stopped.exists()
    assert not list(tmp_path.glob(".stopped*"))  # the temporary output is gone too
    assert len((tmp_path / "stopped.rejects.jsonl").read_text().splitlines()) == 2

    # an existing output is the user's: refused without --force, replaced with it
    with pytest.raises(UsageError, match="already exists"):
        predict_spark(project, input=str(src), output=str(out), session=spark)
    predict_spark(project, input=str(src), output=str(out), session=spark, force=True)
    assert len(read_output(out)) == 1998


@pytest.mark.slow
def test_spark_log_is_the_serving_prediction_log(spark, example_project, tmp_path):
    from mlship.batch.spark import predict_spark
    from mlship.serving.predlog import read_log
    from mlship.serving.settings import LogSettings

    src = tmp_path / "in.parquet"
    frame = _table(example_project, 2500, src)
    frame.to_parquet(src, index=False, row_group_size=600)
    project = Project.load(example_project)
    logs = tmp_path / "logs"
    result = predict_spark(
        project,
        input=str(src),
        output=str(tmp_path / "o.parquet"),
        session=spark,
        log=LogSettings(path=str(logs)),
    )
    lines = read_log(logs)
    assert {line["endpoint"] for line in lines} == {"batch"}
    assert {line["model_version"] for line in lines} == {result.model_version}
    records = [(r["id"], o) for line in lines for r, o in zip(line["inputs"], line["outputs"], strict=True)]
    assert sorted(records) == sorted(
        zip(
            read_output(tmp_path / "o.parquet")["id"],
            read_output(tmp_path / "o.parquet")["prediction"],
            strict=True,
        )
    )
    assert len({line["request_id"].rsplit("-", 2)[0] for line in lines}) == 1  # one run id


@pytest.mark.slow
def test_spark_refuses_bad_input_before_any_work(spark, example_project, tmp_path):
    from mlship.batch.spark import predict_spark, spark_settings

    project = Project.load(example_project)
    with pytest.raises(InputError, match="does not exist"):
        predict_spark(
            project, input=str(tmp_path / "nope.csv"), output=str(tmp_path / "o.parquet"), session=spark
        )
    with pytest.raises(InputError, match="unsupported output format"):
        predict_spark(project, input=str(tmp_path / "a.csv"), output=str(tmp_path / "o.txt"), session=spark)
    src = tmp_path / "in.parquet"
    _table(example_project, 10, src)
    with pytest.raises(UsageError, match="--id-column 'nope'"):
        predict_spark(
            project, input=str(src), output=str(tmp_path / "o.parquet"), session=spark, id_column="nope"
        )
    with pytest.raises(ConfigError, match="has no spark section"):
        spark_settings(project.config, env_name="local")


def test_spark_settings_precedence(example_project):
    from mlship.batch.spark import spark_settings
    from mlship.config import load_config

    yaml = example_project / "mlship.yaml"
    yaml.write_text(
        yaml.read_text()
        + "environments:\n  nightly:\n    spark:\n      master: spark://batch:7077\n"
        + "      conf:\n        spark.executor.memory: 2g\n        spark.dynamicAllocation.enabled: true\n"
    )
    config = load_config(example_project)
    env = {"SPARK_MASTER": "spark://from-env:7077", "PYSPARK_PYTHON": "/opt/py"}
    assert spark_settings(config, environ={}).master == "local[*]"
    assert spark_settings(config, environ=env).master == "spark://from-env:7077"
    nightly = spark_settings(config, env_name="nightly", environ=env, conf=["spark.executor.memory=4g"])
    assert (nightly.master, nightly.source) == ("spark://batch:7077", "environments.nightly.spark.master")
    assert nightly.conf == {"spark.executor.memory": "4g", "spark.dynamicAllocation.enabled": "true"}
    assert nightly.python == "/opt/py"
    flag = spark_settings(config, env_name="nightly", master="local[2]", environ=env)
    assert (flag.master, flag.source) == ("local[2]", "--master")
    with pytest.raises(UsageError, match="is not KEY=VALUE"):
        spark_settings(config, conf=["executor.memory"])


def test_spark_options_are_refused_on_the_command_line(example_project, tmp_path):
    src = tmp_path / "in.csv"
    _table(example_project, 10, src)
    base = ["predict", str(example_project), "-i", str(src), "-o", str(tmp_path / "o.parquet")]
    for extra, message in (
        (["--engine", "spark", "--jobs", "2"], "--jobs is for the local engine"),
        (["--master", "local[1]"], "are for --engine spark"),
        (["--engine", "flink"], "is not an engine"),
        (["--engine", "spark", "--env", "local"], "has no spark section"),
    ):
        proc = run_mlship(*base, *extra)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.slow
def test_a_row_that_changes_a_columns_type_late_stops_the_job(spark, example_project, tmp_path):
    from mlship.batch.spark import predict_spark

    src = tmp_path / "late.csv"
    frame = _table(example_project, 12_000, src).astype({"promo": object})
    frame.loc[11_500, "promo"] = "yes"  # past the rows the types are read from
    frame.to_csv(src, index=False)
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match='For input string: "yes"'):
        predict_spark(Project.load(example_project), input=str(src), output=str(out), session=spark)
    assert not out.exists() and not list(tmp_path.glob(".o.parquet*"))
