"""`mlship predict --engine spark`: the same pipeline in a Spark job (the one module that talks to Spark).

The driver packs the project's source and artifacts into one archive, shipped once to each executor
(SparkContext.addArchive); the executors' python workers load the model once and score their
partitions' Arrow batches (mapInPandas, mlship.batch.executor). Input and output are paths Spark reads
and writes itself (local files, hdfs://, s3a://); the output is a directory of part files, written under
a temporary name and renamed into place only when the job has succeeded and the rejects are within
--max-errors. Column types of a CSV or JSON lines input come from its first rows, read the way the local
engine reads them, and are given to Spark as the schema (so both engines see the same types).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship.batch.run import (
    PredictResult,
    default_rejects,
    nothing_scored,
    sigterm_interrupts,
    too_many_rejected,
)
from mlship.batch.tables import INPUT_SUFFIXES, OUTPUT_SUFFIXES, csv_options, kept_as_text
from mlship.errors import ConfigError, InputError, ProjectCodeError, UnreachableError, UsageError

DEFAULT_MASTER = "local[*]"
SAMPLE_LINES = 10_000  # rows read on the driver to settle a CSV's or JSON lines' column types
_FORMATS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass
class SparkSettings:
    """Where the job runs: a master, Spark properties and the executors' python."""

    master: str = DEFAULT_MASTER
    conf: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable
    source: str = "default"  # where the master came from


def spark_settings(
    config: Any,
    *,
    env_name: str | None = None,
    master: str | None = None,
    conf: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> SparkSettings:
    """--master > environments.ENV.spark.master (--env) > SPARK_MASTER > local[*]; --conf K=V over the
    environment's conf; the executors' python: spark.python > PYSPARK_PYTHON > this python."""
    environ = os.environ if environ is None else environ
    spark = None
    if env_name is not None:
        spark = config.environment(env_name).spark
        if spark is None:
            raise ConfigError(
                f"environment {env_name!r} has no spark section",
                hint=f"add environments.{env_name}.spark.master (and conf) to mlship.yaml",
            )
    settings = SparkSettings()
    if spark is not None:
        settings.conf = {k: _text(v) for k, v in spark.conf.items()}
    for item in conf or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().startswith("spark."):
            raise UsageError(f"--conf {item!r} is not KEY=VALUE", hint="e.g. --conf spark.executor.memory=2g")
        settings.conf[key.strip()] = value
    candidates: list[tuple[str | None, str]] = [
        (master, "--master"),
        (spark.master if spark is not None else None, f"environments.{env_name}.spark.master"),
        (environ.get("SPARK_MASTER"), "SPARK_MASTER"),
    ]
    for chosen, source in candidates:
        if chosen:
            settings.master, settings.source = chosen, source
            break
    python = (spark.python if spark is not None else None) or settings.conf.get("spark.pyspark.python")
    settings.python = python or environ.get("PYSPARK_PYTHON") or sys.executable
    return settings


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def start_session(settings: SparkSettings, app_name: str) -> Any:
    """A SparkSession on the settings' master (the JVM is started here, a few seconds)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError(
            "--engine spark needs pyspark, which is not installed", hint='pip install "pyspark>=3.5"'
        ) from None
    # pyspark reads the executors' python from the environment when the context starts.
    os.environ["PYSPARK_PYTHON"] = settings.python
    import warnings

    # pyspark warns on every conversion that it is not yet tested with pandas 3; the tests pin the results.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    builder = SparkSession.builder.appName(app_name).master(settings.master)
    conf = {"spark.ui.showConsoleProgress": "false", **settings.conf}  # mlship draws its own status
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j and the JVM launcher raise their own types
        raise UnreachableError(
            f"cannot start a Spark session on {settings.master} ({settings.source}): {_first_line(exc)}",
            hint="is Java 17+ installed (JAVA_HOME), and is the master's address right?",
        ) from None
    session.sparkContext.setLogLevel(settings.conf.get("spark.log.level", "WARN"))
    return session


def predict_spark(
    project: Any,
    *,
    input: str,
    output: str,
    settings: SparkSettings | None = None,
    session: Any = None,
    force: bool = False,
    batch_rows: int = 50_000,
    max_errors: int | None = 100,
    rejects: Path | None = None,
    id_column: str | None = None,
    log: Any = None,
) -> PredictResult:
    """Score `input` into the directory `output` in a Spark job; rejects to a local JSON lines file.
    `session`: an existing SparkSession (tests share one), else one is started from `settings`."""
    from mlship.project import load_pipeline

    settings = settings or SparkSettings()
    in_suffix, out_suffix = _suffix(input), _suffix(output)
    explicit_rejects = rejects is not None
    rejects = rejects or _default_rejects(output)
    _check_options(in_suffix, out_suffix, rejects, batch_rows=batch_rows, max_errors=max_errors)
    if _is_local(input) and not Path(_local(input)).exists():
        raise InputError(f"input {input} does not exist")
    if _is_local(output) and Path(_local(output)).exists():
        if Path(_local(output)).resolve() == Path(_local(input)).resolve():
            raise UsageError(f"--output {output} is the --input", hint="write to another path")
        if not force:
            raise UsageError(f"{output} already exists", hint="choose another --output or pass --force")
    if rejects.exists() and explicit_rejects and not force:
        raise UsageError(f"{rejects} already exists", hint="choose another --rejects or pass --force")
    pipeline = load_pipeline(project)
    owned = session is None
    session = session or start_session(settings, f"mlship predict {project.config.name}")
    started = time.perf_counter()
    stack = contextlib.ExitStack()
    stack.enter_context(sigterm_interrupts())  # a stopped job unwinds: the temporary output is removed
    try:
        files = _FileSystem(session)
        if files.exists(output) and not force:
            raise UsageError(f"{output} already exists", hint="choose another --output or pass --force")
        if not files.exists(input):
            raise InputError(f"input {input} does not exist")
        session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        frame = _read(session, input, in_suffix)
        if id_column is not None and id_column not in frame.columns:
            raise UsageError(
                f"--id-column {id_column!r} is not a column of {input}",
                hint=f"its columns: {', '.join(frame.columns)}",
            )
        report = session.sparkContext.accumulator({}, _report_param())
        with _bundle(project, pipeline) as (bundle, spec):
            session.sparkContext.addArchive(str(bundle))
            job = _job(bundle.name, spec, pipeline, frame, max_errors, id_column, report, log)
            scored = frame.mapInPandas(_partial(job), _output_schema(frame.schema, job.prediction_type))
            temporary = _temporary(output)
            try:
                _write(scored, temporary, out_suffix)
                totals = _totals(report.value)
                _write_rejects(totals.rejects, rejects, explicit_rejects=explicit_rejects, force=force)
                if max_errors is not None and totals.rejected > max_errors:
                    raise too_many_rejected(input, rejects, totals, max_errors)
                if totals.scored == 0:
                    raise nothing_scored(input, rejects, totals)
                files.replace(temporary, output)
            finally:
                files.delete(temporary)
    except _spark_errors() as exc:
        raise _job_failed(exc) from None
    finally:
        if owned:
            session.stop()
        stack.close()
    return PredictResult(
        input,
        output,
        totals.scored,
        round(time.perf_counter() - started, 4),
        pipeline.spec.model_version,
        rejected=totals.rejected,
        rejects=str(rejects) if totals.rejected else None,
        engine="spark",
        log=log.path if log is not None else None,
        master=settings.master if owned else session.sparkContext.master,
    )


def _suffix(path: str) -> str:
    return os.path.splitext(path.rstrip("/"))[1].lower()


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _default_rejects(output: str) -> Path:
    """Beside a local output; in the working directory for an output on hdfs:// or s3a://."""
    name = Path(output.rstrip("/"))
    return default_rejects(Path(_local(output))) if _is_local(output) else Path(f"{name.stem}.rejects.jsonl")


def _check_options(
    in_suffix: str, out_suffix: str, rejects: Path, *, batch_rows: int, max_errors: int | None
) -> None:
    if in_suffix not in INPUT_SUFFIXES:
        raise InputError(
            f"unsupported input format {in_suffix or '(none)'}",
            hint="name the input (file or directory) .csv, .jsonl, .json or .parquet",
        )
    if out_suffix not in OUTPUT_SUFFIXES:
        raise InputError(
            f"unsupported output format {out_suffix or '(none)'}", hint="use .csv, .jsonl or .parquet"
        )
    if rejects.suffix.lower() != ".jsonl":
        raise UsageError(f"--rejects {rejects} must be a .jsonl file")
    if batch_rows < 1:
        raise UsageError(f"--batch-rows must be at least 1, not {batch_rows}")
    if max_errors is not None and max_errors < 0:
        raise UsageError(f"--max-errors must be 0 or more, not {max_errors}")


class _FileSystem:
    """Hadoop's FileSystem of each path (local, hdfs, s3a: whatever the cluster is set up for)."""

    def __init__(self, session: Any):
        self._jvm = session.sparkContext._jvm
        self._conf = session.sparkContext._jsc.hadoopConfiguration()

    def _path(self, path: str) -> tuple[Any, Any]:
        jpath = self._jvm.org.apache.hadoop.fs.Path(path)
        return jpath.getFileSystem(self._conf), jpath

    def exists(self, path: str) -> bool:
        fs, jpath = self._path(path)
        return bool(fs.exists(jpath))

    def delete(self, path: str) -> None:
        fs, jpath = self._path(path)
        if fs.exists(jpath):
            fs.delete(jpath, True)

    def replace(self, source: str, target: str) -> None:
        self.delete(target)
        fs, jsource = self._path(source)
        if not fs.rename(jsource, self._path(target)[1]):
            raise InputError(f"cannot move the finished output into place at {target}")


def _temporary(output: str) -> str:
    head, _, name = output.rstrip("/").rpartition("/")
    hidden = f".{name}.{uuid.uuid4().hex[:8]}.tmp"  # Spark and Hadoop skip dot files when reading
    return f"{head}/{hidden}" if head else hidden


def _read(session: Any, path: str, suffix: str) -> Any:
    reader = session.read
    if suffix == ".parquet":
        return reader.parquet(path)
    schema = _sampled_schema(session, path, suffix)
    if suffix == ".csv":
        return reader.csv(path, header=True, schema=schema, escape='"', mode="FAILFAST")
    return reader.json(path, schema=schema, mode="FAILFAST", multiLine=suffix == ".json")


def _sampled_schema(session: Any, path: str, suffix: str) -> Any:
    """The column types of the first SAMPLE_LINES rows, read as the local engine reads them (pyarrow:
    empty fields missing, dates as text), as a Spark schema."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StringType, StructField, StructType

    if suffix == ".json" and _is_local(path):  # an array is read whole, as the local engine reads it
        import pandas as pd

        sample = pa.Table.from_pandas(pd.read_json(_local(path)).head(SAMPLE_LINES), preserve_index=False)
    elif suffix == ".json":  # Spark's reading of it (its columns in name order)
        sample = pa.Table.from_pandas(
            session.read.json(path, multiLine=True).limit(SAMPLE_LINES).toPandas(), preserve_index=False
        )
    else:
        lines = [r.value for r in session.read.text(path).limit(SAMPLE_LINES + 1).collect()]
        data = ("\n".join(lines) + "\n").encode()
        if suffix == ".csv":
            from pyarrow import csv

            sample = csv.read_csv(pa.BufferReader(data), convert_options=csv_options())
        else:
            from pyarrow import json as pajson

            sample = pajson.read_json(pa.BufferReader(data))
    fields = []
    for f in sample.schema:
        fields.append(
            StructField(f.name, StringType() if kept_as_text(f.type) else from_arrow_type(f.type), True)
        )
    return StructType(fields)


def _output_schema(schema: Any, kind: str) -> Any:
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

    spark_type = {"double": DoubleType(), "long": LongType(), "boolean": BooleanType()}.get(
        kind, StringType()
    )
    fields = [f for f in schema.fields if f.name != "prediction"]
    at = [f.name for f in schema.fields].index("prediction") if "prediction" in schema.names else len(fields)
    fields.insert(at, StructField("prediction", spark_type, True))
    return StructType(fields)


@contextlib.contextmanager
def _bundle(project: Any, pipeline: Any) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The project's source and artifacts in one zip (stored, not compressed: models are large and
    usually compressed already), and the runtime spec with paths inside it."""
    spec = pipeline.spec.to_dict()
    with tempfile.TemporaryDirectory(prefix="mlship-spark-") as tmp:
        bundle = Path(tmp) / f"mlship-{project.config.name}-{uuid.uuid4().hex[:12]}.zip"
        with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_STORED) as archive:
            for key, inside in (("source_dir", "src"), ("artifact_dir", "artifacts")):
                root = Path(spec[key])
                for path in sorted(root.rglob("*")):
                    if path.is_file() and "__pycache__" not in path.parts:
                        archive.write(path, f"{inside}/{path.relative_to(root).as_posix()}")
                spec[key] = inside
        yield bundle, spec


def _job(
    bundle: str,
    spec: dict[str, Any],
    pipeline: Any,
    frame: Any,
    max_errors: int | None,
    id_column: str | None,
    report: Any,
    log: Any,
) -> Any:
    """The executors' job, with the prediction type taken from the first rows scored here."""
    import dataclasses

    from mlship.batch.executor import Job, prediction_type
    from mlship.batch.logged import BatchLog
    from mlship.batch.score import score_chunk

    sample = frame.limit(200).toPandas()
    predictions = score_chunk(pipeline, sample, None).predictions if len(sample) else []
    log_settings = None
    run_id = ""
    if log is not None:
        log_settings = dataclasses.asdict(dataclasses.replace(log, path=str(Path(log.path).absolute())))
        run_id = BatchLog(log, pipeline.spec.model_version).run_id  # the id every executor's lines carry
    return Job(
        bundle, spec, prediction_type(predictions), max_errors, id_column, report, log_settings, run_id
    )


def _partial(job: Any) -> Any:
    import functools

    from mlship.batch.executor import score_partition

    return functools.partial(score_partition, job)


def _report_param() -> Any:
    from mlship.batch.executor import ReportParam

    return ReportParam()


def _write(frame: Any, path: str, suffix: str) -> None:
    writer = frame.write.mode("errorifexists")
    if suffix == ".csv":
        writer.csv(path, header=True, escape='"')
    elif suffix == ".parquet":
        writer.parquet(path)
    else:
        writer.json(path)


@dataclass
class _Totals:
    scored: int
    rejected: int
    rejects: list[dict[str, Any]]

    @property
    def first_error(self) -> str | None:
        if not self.rejects:
            return None
        first = self.rejects[0]
        return f"partition {first['_partition']} row {first['_row']}: {first['_error']}"


def _totals(report: dict[int, Any]) -> _Totals:
    scored = sum(r[0] for r in report.values())
    rejected = sum(r[1] for r in report.values())
    rows = [row for _, r in sorted(report.items()) for row in r[2]]
    return _Totals(scored, rejected, rows)


def _write_rejects(rows: list[dict[str, Any]], rejects: Path, *, explicit_rejects: bool, force: bool) -> None:
    """The reject file, written whole (it is bounded by --max-errors); a run without rejects removes
    this command's default one, which would describe another run."""
    if not rows:
        if force or not explicit_rejects:
            rejects.unlink(missing_ok=True)
        return
    import pandas as pd

    from mlship.batch.tables import Writer

    hidden = rejects.with_name(f".{rejects.name}.{os.getpid()}.tmp")
    writer = Writer(hidden, ".jsonl")
    try:
        writer.write(pd.DataFrame.from_records(rows))
        writer.close()
        os.replace(hidden, rejects)
    finally:
        hidden.unlink(missing_ok=True)


def _spark_errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (Py4JError, PySparkException)


def _job_failed(exc: BaseException) -> Exception:
    text = str(exc)
    if "PipelineError" in text or "Fatal" in text:
        return ProjectCodeError(f"the project's code failed on an executor: {_python_error(text)}")
    if "Malformed" in text or "FAILFAST" in text or "NumberFormat" in text:
        return InputError(
            f"Spark cannot read a row of the input: {_root_cause(text)}",
            hint="column types are taken from the first rows; a column that changes type later stops "
            "the run: fix the data or write it as Parquet",
        )
    if "No FileSystem for scheme" in text:
        return UsageError(
            f"Spark has no filesystem for this path: {_first_line(exc)}",
            hint="add the filesystem's connector to the job, e.g. "
            "--conf spark.jars.packages=org.apache.hadoop:hadoop-aws:VERSION",
        )
    return UnreachableError(f"the Spark job failed: {_python_error(text)}")


def _root_cause(text: str) -> str:
    """The JVM's innermost cause ("For input string: ...") and the malformed record, when it says so."""
    causes = [line.split(": ", 1)[-1].strip() for line in text.splitlines() if line.startswith("Caused by:")]
    record = next((c for c in causes if "Malformed records" in c), None)
    if not causes:
        return _first_line(Exception(text))
    found = causes[-1]
    return f"{found} ({record.split('] ', 1)[-1]})"[:500] if record and record != found else found[:500]


def _python_error(text: str) -> str:
    """The last line of a Python traceback an executor sent back, else the first line of the message."""
    lines = [line for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line and not line.lstrip().startswith(("at ", "File ")):
            return line.strip()[:500]
    return lines[0][:500] if lines else text[:500]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:500]
