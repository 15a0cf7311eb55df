"""`mlship train` and `mlship predict`: the project's own stages, the same path as serving."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mlship.cli import app
from mlship.cli._output import JSON_HELP, emit, progress, stderr


@app.command("train")
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


@app.command("predict")
def predict_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    input: Path = typer.Option(..., "--input", "-i", help="Records to score (.csv, .jsonl, .parquet)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the scored records."),
    force: bool = typer.Option(False, "--force", help="Replace --output if it exists."),
    json_mode: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Score a file with the trained model through the project's preprocess -> predict code."""
    from mlship.project import Project
    from mlship.stages import predict_file

    project = Project.load(directory)
    result = predict_file(project, input=input, output=output, force=force)
    emit(
        result,
        json_mode=json_mode,
        render=lambda r: stderr.print(
            f"[green]Scored[/] {r.rows} rows in {r.seconds * 1000:.1f} ms -> {escape(r.output)}"
            f" (model {r.model_version})"
        ),
    )
