"""`mlship serve`: the HTTP runtime on this machine, without a container."""

from __future__ import annotations

from pathlib import Path

import typer


def serve_command(
    directory: Path = typer.Argument(Path("."), help="The project directory."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0 for all interfaces)."),
    port: int = typer.Option(None, "--port", "-p", help="Port (default: serving.port, 8080)."),
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes (default: serving.workers)."),
    log_dir: Path = typer.Option(
        None, "--log-dir", help="Prediction log directory (default: MLSHIP_LOG_DIR, then logging.path)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="Server log level (debug, info, warning)."),
) -> None:
    """Serve the trained model over HTTP: /predict, /v2 (Open Inference Protocol), /metrics.

    Runs until Ctrl-C or SIGTERM; in-flight requests finish and the prediction log is flushed.
    """
    from mlship.project import Project
    from mlship.serve import serve

    code = serve(
        Project.load(directory), host=host, port=port, workers=workers, log_dir=log_dir, log_level=log_level
    )
    if code:
        raise typer.Exit(code)
