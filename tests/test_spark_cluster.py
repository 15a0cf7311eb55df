"""`mlship predict --engine spark` on a real standalone Spark cluster on 127.0.0.1: a master and two
workers (one core, bounded memory each) started from pyspark's own distribution, the job named by an
mlship.yaml environment; the table is scored on both workers and equals `mlship predict`'s output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.support import free_port, run_mlship
from tests.test_batch import _table
from tests.test_spark import read_output

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow


def _spark_class(name: str, *args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    spark_home = Path(pyspark.__file__).parent
    handle = log.open("wb")
    return subprocess.Popen(
        [str(spark_home / "bin" / "spark-class"), name, *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed whole at teardown
    )


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as answer:
            return int(json.load(answer).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """spark://127.0.0.1:PORT with two registered workers; their work directories for evidence."""
    root = tmp_path_factory.mktemp("spark-cluster")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "256m",  # the master's and workers' own JVMs
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui = free_port(), free_port()
    master_url = f"spark://127.0.0.1:{port}"
    procs = [
        _spark_class(
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)),
            env=env,
            log=root / "master.log",
        )
    ]
    work = [root / "worker-1", root / "worker-2"]
    try:
        for directory in work:
            procs.append(
                _spark_class(
                    "org.apache.spark.deploy.worker.Worker",
                    *(master_url, "--host", "127.0.0.1", "--cores", "1", "--memory", "768m"),
                    *("--webui-port", str(free_port()), "--work-dir", str(directory)),
                    env=env,
                    log=root / f"{directory.name}.log",
                )
            )
        deadline = time.monotonic() + 120
        while _alive_workers(ui) < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = "\n".join(p.read_text()[-2000:] for p in root.glob("*.log"))
                pytest.fail(f"the standalone cluster did not come up:\n{logs}")
            time.sleep(0.5)
        yield master_url, work
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)


def test_a_table_partitioned_across_two_workers_scores_like_mlship_predict(
    cluster, example_project, tmp_path
):
    master_url, work = cluster
    yaml = example_project / "mlship.yaml"
    yaml.write_text(
        yaml.read_text()
        + "environments:\n  cluster:\n    spark:\n"
        + f"      master: {master_url}\n"
        + f"      python: {sys.executable}\n"
        + "      conf:\n"
        + "        spark.driver.host: 127.0.0.1\n        spark.driver.bindAddress: 127.0.0.1\n"
        + "        spark.driver.memory: 512m\n        spark.executor.memory: 512m\n"
        + "        spark.executor.cores: 1\n        spark.cores.max: 2\n        spark.ui.enabled: false\n"
        # the job starts when both executors are there, and the table comes in 8+ splits
        + "        spark.scheduler.minRegisteredResourcesRatio: 1.0\n"
        + "        spark.scheduler.maxRegisteredResourcesWaitingTime: 60s\n"
        + "        spark.sql.files.maxPartitionBytes: 32768\n"
    )
    src = tmp_path / "table.csv"
    frame = _table(example_project, 8000, src)
    local = tmp_path / "local.parquet"
    run_mlship("predict", str(example_project), "-i", str(src), "-o", str(local), check=True)
    out = tmp_path / "scored.parquet"
    proc = run_mlship(
        *("predict", str(example_project), "-i", str(src), "-o", str(out)),
        *("--engine", "spark", "--env", "cluster", "--json", "--log", "--log-dir", str(tmp_path / "logs")),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert (result["rows"], result["engine"], result["master"]) == (8000, "spark", master_url)
    got = read_output(out).reset_index(drop=True)
    want = pd.read_parquet(local)
    assert list(got.columns) == [*frame.columns, "prediction"]
    assert got["id"].tolist() == list(range(8000))
    assert got["prediction"].tolist() == want["prediction"].tolist()  # exactly

    # each worker ran an executor of this job, and each executor ran tasks of it
    for directory in work:
        stderr_logs = list(directory.glob("app-*/*/stderr"))
        assert stderr_logs, f"no executor ran on {directory.name}"
        assert any("Running task" in p.read_text(errors="replace") for p in stderr_logs), directory.name
    # executors wrote the log lines themselves (a file per python worker), every row once
    from mlship.serving.predlog import read_log

    lines = read_log(tmp_path / "logs")
    assert sorted(r["id"] for line in lines for r in line["inputs"]) == list(range(8000))
