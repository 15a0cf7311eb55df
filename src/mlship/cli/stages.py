"""`mlship train` and `mlship predict`: the project's own stages, the same path as serving."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, emit, progress, quiet_mode, stderr
from mlship.errors import UsageError


def train_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    data: Path = typer.Option(None, "--data", help="Training data (default: data.train)."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Train the model; artifacts replace the previous ones only when training succeeds."""
    from mlship.project import Project
    from mlship.stages import train

    project = Project.load(directory)
    with progress(f"Training {project.config.name}", json_mode=json_mode):
        result = train(project, data=data)

    def render(r) -> None:  # type: ignore[no-untyped-def]
        metrics = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.metrics.items()
        )
        stderr.print(f"[green]Trained[/] in {r.seconds:.2f}s -> {escape(r.artifact_dir)}")
        if metrics:
            stderr.print(f"  metrics: {metrics}")
        stderr.print(f"  artifacts sha256: {r.artifact_sha256}")

    emit(result, json_mode=json_mode, render=render)


def predict_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    input: str = typer.Option(
        ..., "--input", "-i", help="Records to score (.csv, .jsonl, .json, .parquet; spark: hdfs://, s3a://)."
    ),
    output: str = typer.Option(..., "--output", "-o", help="Where to write the scored records."),
    force: bool = typer.Option(False, "--force", help="Replace --output (and --rejects) if they exist."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes, each loading the model once."),
    batch_rows: int = typer.Option(50_000, "--batch-rows", help="Rows read, scored and written at a time."),
    max_errors: int = typer.Option(
        100, "--max-errors", help="Stop (no output) when more rows than this are rejected; -1: never."
    ),
    rejects: Path = typer.Option(
        None, "--rejects", help="Rows that fail, with their error (default: OUTPUT_STEM.rejects.jsonl)."
    ),
    id_column: str = typer.Option(None, "--id-column", help="A column that names each row in the rejects."),
    log: bool = typer.Option(False, "--log", help="Also write the predictions to the prediction log."),
    log_dir: Path = typer.Option(
        None, "--log-dir", help="The prediction log directory (default: logging.path)."
    ),
    engine: str = typer.Option("local", "--engine", help="local (this machine) or spark."),
    master: str = typer.Option(None, "--master", help="spark: the master (default: SPARK_MASTER, local[*])."),
    env: str = typer.Option(
        None, "--env", help="spark: the mlship.yaml environment whose spark section to use."
    ),
    conf: list[str] = typer.Option(None, "--conf", help="spark: a property KEY=VALUE (repeatable)."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Score a file with the trained model through the project's preprocess -> predict code, in chunks."""
    from mlship.project import Project

    if engine not in ("local", "spark"):
        raise UsageError(f"--engine {engine!r} is not an engine", hint="use local or spark")
    project = Project.load(directory)
    log_settings = _log_settings(project, log_dir) if log or log_dir else None
    max_errors_or_none = None if max_errors < 0 else max_errors
    if engine == "spark":
        if jobs != 1:
            raise UsageError("--jobs is for the local engine", hint="with spark the executors' cores decide")
        from mlship.batch.spark import predict_spark, spark_settings

        settings = spark_settings(project.config, env_name=env, master=master, conf=conf)
        with progress(f"Scoring {input} on Spark ({settings.master})", json_mode=json_mode):
            result = predict_spark(
                project,
                input=input,
                output=output,
                settings=settings,
                force=force,
                batch_rows=batch_rows,
                max_errors=max_errors_or_none,
                rejects=rejects,
                id_column=id_column,
                log=log_settings,
            )
    else:
        if master or env or conf:
            raise UsageError("--master, --env and --conf are for --engine spark")
        from mlship.batch.run import predict_file

        with _rows_progress(f"Scoring {input}", json_mode=json_mode) as advance:
            result = predict_file(
                project,
                input=Path(input),
                output=Path(output),
                force=force,
                jobs=jobs,
                batch_rows=batch_rows,
                max_errors=max_errors_or_none,
                rejects=rejects,
                id_column=id_column,
                progress=advance,
                log=log_settings,
            )

    def render(r) -> None:  # type: ignore[no-untyped-def]
        stderr.print(
            f"[green]Scored[/] {r.rows} rows in {r.seconds * 1000:.1f} ms -> {escape(r.output)}"
            f" (model {r.model_version})"
        )
        if r.rejected:
            stderr.print(f"[yellow]Rejected[/] {r.rejected} rows -> {escape(r.rejects)}")
        if r.log:
            stderr.print(f"  logged to {escape(r.log)} (endpoint batch)")

    emit(result, json_mode=json_mode, render=render)


def _log_settings(project, log_dir: Path | None):  # type: ignore[no-untyped-def]
    """The serving runtime's prediction log settings (mlship.yaml logging, MLSHIP_LOG_DIR, --log-dir)."""
    from mlship.serve import serving_spec
    from mlship.serving.settings import resolve

    return resolve(serving_spec(project), log_dir=str(log_dir.resolve()) if log_dir else None).log


@contextmanager
def _rows_progress(description: str, *, json_mode: bool) -> Iterator[Callable[[int, float | None], None]]:
    """A bar with rows, rows/s and ETA on a terminal; nothing with --json, in CI or off a terminal."""
    if quiet_mode(json_mode):
        yield lambda rows, fraction: None
        return
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]:,} rows  {task.fields[rate]:,.0f} rows/s"),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(escape(description), total=1000, rows=0, rate=0.0)

        def advance(rows: int, fraction: float | None) -> None:
            rate = rows / max(time.perf_counter() - started, 1e-9)
            done = None if fraction is None else round(fraction * 1000)
            bar.update(task, completed=done, rows=rows, rate=rate)

        yield advance
