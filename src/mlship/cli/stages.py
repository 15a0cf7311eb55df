"""`mlship train` and `mlship predict`: the project's own stages, the same path as serving."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli._output import JSON_HELP, emit, progress, quiet_mode, stderr


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
    input: Path = typer.Option(
        ..., "--input", "-i", help="Records to score (.csv, .jsonl, .json, .parquet)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the scored records."),
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
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Score a file with the trained model through the project's preprocess -> predict code, in chunks."""
    from mlship.batch.run import predict_file
    from mlship.project import Project

    project = Project.load(directory)
    with _rows_progress(f"Scoring {input}", json_mode=json_mode) as advance:
        result = predict_file(
            project,
            input=input,
            output=output,
            force=force,
            jobs=jobs,
            batch_rows=batch_rows,
            max_errors=None if max_errors < 0 else max_errors,
            rejects=rejects,
            id_column=id_column,
            progress=advance,
        )

    def render(r) -> None:  # type: ignore[no-untyped-def]
        stderr.print(
            f"[green]Scored[/] {r.rows} rows in {r.seconds * 1000:.1f} ms -> {escape(r.output)}"
            f" (model {r.model_version})"
        )
        if r.rejected:
            stderr.print(f"[yellow]Rejected[/] {r.rejected} rows -> {escape(r.rejects)}")

    emit(result, json_mode=json_mode, render=render)


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
