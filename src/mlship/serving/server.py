"""Run the app on uvicorn: one worker in-process, or several through uvicorn's supervisor.

SIGTERM/SIGINT: uvicorn stops accepting, lets in-flight requests finish (up to
`graceful_timeout` seconds), then the app's shutdown flushes the prediction log.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from mlship.serving import device as devices
from mlship.serving.pipeline import RuntimeSpec
from mlship.serving.protocol import protocol_class
from mlship.serving.settings import LogSettings, Settings, resolve

CONFIG_VARIABLE = "MLSHIP_SERVE_CONFIG"
EXIT_FAILED = 2  # the model could not be loaded or the GPU requirement is unmet


def _uvicorn_options(settings: Settings, log_level: str) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": settings.graceful_timeout,
        "lifespan": "on",
        "server_header": False,
        # X-Forwarded-* rewriting costs every request and nothing here reads the client's address.
        "proxy_headers": False,
        # uvicorn's httptools protocol with one write per answer (see protocol.py); else its own.
        "http": protocol_class() or "auto",
    }


@contextlib.contextmanager
def quiet_signals() -> Iterator[None]:
    """After uvicorn's graceful shutdown it re-raises SIGTERM/SIGINT to the handlers it found;
    these handlers absorb that, so a clean shutdown exits 0 instead of dying by the signal."""

    def absorb(signum: int, frame: Any) -> None:
        return None

    previous = {sig: signal.signal(sig, absorb) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_device(spec: RuntimeSpec) -> str | None:
    """The refusal message when the spec requires a GPU that is not visible."""
    if spec.gpu != "required":
        return None
    try:
        devices.detect(spec.gpu)
    except devices.DeviceError as exc:
        return str(exc)
    return None


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be bound, checked before the model is loaded for nothing."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            other = "--port" if exc.errno == errno.EADDRINUSE else "--host or --port"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another {other}"
    return None


def log_problem(settings: Settings) -> str | None:
    """Why the prediction log cannot be written (checked before serving: never serve unlogged)."""
    if not settings.log.enabled:
        return None
    directory = settings.log.path
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return (
            f"cannot write the prediction log to {directory}: {exc.strerror or exc}; "
            "set --log-dir or MLSHIP_LOG_DIR to a writable directory (or logging.enabled: false)"
        )
    return None


def run(
    spec: RuntimeSpec,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    log_dir: str | None = None,
    log_level: str = "info",
) -> int:
    """Serve until SIGTERM/SIGINT; returns the process exit code."""
    settings = resolve(spec, host=host, port=port, workers=workers, log_dir=log_dir)
    devices.limit_threads(settings.threads)
    refusal = check_device(spec)
    if refusal:
        sys.stderr.write(f"mlship: refusing to start: {refusal}\n")
        return EXIT_FAILED
    problem = port_problem(settings.host, settings.port) or log_problem(settings)
    if problem:
        sys.stderr.write(f"mlship: {problem}\n")
        return EXIT_FAILED
    sys.stderr.write(
        f"mlship: serving {spec.name} {spec.model_version} on http://{settings.host}:{settings.port} "
        f"({settings.workers} worker(s)); prediction log: "
        f"{settings.log.path if settings.log.enabled else 'off'}\n"
    )
    import uvicorn

    if settings.workers > 1:
        return _run_workers(spec, settings, log_level)
    from mlship.serving.app import create_app

    app = create_app(spec, settings)
    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings, log_level)))
    runtime = app.state.service.runtime

    def stop(message: str) -> None:
        server.should_exit = True  # read by uvicorn's main loop every 0.1 s

    runtime.on_fatal = stop
    with quiet_signals():
        server.run()
    if runtime.state == "failed":
        return EXIT_FAILED
    return 0 if server.started else 1


def _run_workers(spec: RuntimeSpec, settings: Settings, log_level: str) -> int:
    import uvicorn

    from mlship.serving.metrics import MULTIPROC_VARIABLE

    # Workers are fresh processes: they rebuild the app from this file (see app_from_env).
    fd, path = tempfile.mkstemp(suffix=".json", prefix="mlship-serve-")
    with os.fdopen(fd, "w") as handle:
        json.dump({"spec": spec.to_dict(), "settings": asdict(settings)}, handle, default=str)
    os.environ[CONFIG_VARIABLE] = path
    # One empty directory per server for prometheus_client's multiprocess files: a scrape that
    # reaches any worker sums every worker's figures (files of an earlier run would be summed too).
    metrics_dir = tempfile.mkdtemp(prefix="mlship-metrics-")
    os.environ[MULTIPROC_VARIABLE] = metrics_dir
    try:
        with quiet_signals():
            uvicorn.run(
                "mlship.serving.server:app_from_env",
                factory=True,
                workers=settings.workers,
                **_uvicorn_options(settings, log_level),
            )
    finally:
        os.unlink(path)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop(MULTIPROC_VARIABLE, None)
    return 0


def app_from_env() -> Any:
    """The app factory each uvicorn worker process calls."""
    from mlship.serving.app import create_app

    with open(os.environ[CONFIG_VARIABLE], encoding="utf-8") as handle:
        data = json.load(handle)
    raw = dict(data["settings"])
    settings = Settings(**{**raw, "log": LogSettings(**raw["log"])})
    app = create_app(RuntimeSpec.from_dict(data["spec"]), settings)

    def stop(message: str) -> None:
        # A worker that cannot load its model would be restarted forever: stop the supervisor.
        os.kill(os.getppid(), signal.SIGTERM)

    app.state.service.runtime.on_fatal = stop
    return app
