"""`mlship serve`'s core: the runtime spec of a project (with its serving settings), served locally."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mlship.config import Config
from mlship.errors import ProjectCodeError, UsageError
from mlship.project import Project
from mlship.serving.pipeline import RuntimeSpec

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")  # uvicorn's (and `python -m mlship.serving`'s)
# The serving runtime's imports (mlship's `serve` extra), by module name.
RUNTIME_MODULES = ("uvicorn", "starlette", "prometheus_client", "msgspec")
INSTALL_HINT = 'pip install "mlship-cli[serve]"'


def runtime_extra(config: Config, root: Path | None = None) -> dict[str, Any]:
    """The `extra` the serving runtime reads: logging, serving, contract schema and examples.

    With `root`, a relative logging.path is made absolute against the project (local serving);
    without, it stays relative to the runtime's working directory (inside an image).
    """
    data = config.to_data()
    logging = dict(data["logging"])
    if root is not None and not Path(logging["path"]).is_absolute():
        logging["path"] = str(root / logging["path"])
    contract = data["contract"]
    return {
        "logging": logging,
        "serving": data["serving"],
        "contract_schema": contract["schema"],
        "examples": [{"input": e["input"]} for e in contract["examples"]],
    }


def serving_spec(project: Project) -> RuntimeSpec:
    from mlship.project import runtime_spec

    spec = runtime_spec(project)
    if spec.model_sha256 is None:
        raise ProjectCodeError(f"no trained model in {project.artifact_dir}", hint="run `mlship train` first")
    return dataclasses.replace(spec, extra=runtime_extra(project.config, project.root))


def serve(
    project: Project,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    log_dir: Path | None = None,
    log_level: str = "info",
) -> int:
    """Serve the project's model until interrupted; returns the exit code."""
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port number (1-65535)")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    log_level = log_level.lower()
    if log_level not in LOG_LEVELS:
        raise UsageError(f"--log-level {log_level!r} is not a log level", hint=f"use {', '.join(LOG_LEVELS)}")
    require_runtime()
    from mlship.serving.server import run

    spec = serving_spec(project)
    return run(
        spec,
        host=host,
        port=port,
        workers=workers,
        log_dir=str(log_dir.resolve()) if log_dir else None,
        log_level=log_level,
    )


def require_runtime() -> None:
    """One line that says what to install when the serving runtime is missing (an install without
    mlship's dependencies, `pip install --no-deps`), instead of an import error from inside uvicorn."""
    import importlib

    missing = []
    for name in RUNTIME_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UsageError(
            f"`mlship serve` needs the serving runtime, and {', '.join(missing)} is not installed",
            hint=f"run: {INSTALL_HINT}",
        )
