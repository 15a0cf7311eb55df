"""The runtime's settings, resolved from the RuntimeSpec's `extra` plus flags and environment.

Precedence (documented in docs/serving.md): flag > environment variable > runtime spec (mlship.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mlship.serving.pipeline import RuntimeSpec

DEFAULT_PORT = 8080
DEFAULT_MAX_BODY = 10 * 1024 * 1024


@dataclass(frozen=True)
class LogSettings:
    enabled: bool = True
    path: str = "logs/predictions"
    sample_rate: float = 1.0
    max_bytes: int = 50 * 1024 * 1024
    flush_interval: float = 1.0
    # Beyond this many records waiting for the writer, it is woken at once (bounds memory and loss).
    max_pending: int = 10_000


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY
    # Native thread pools (OpenMP, BLAS) per worker: one keeps a small request from paying for
    # thread wake-ups, which cost tens of milliseconds on a busy host.
    threads: int = 1
    batching: bool = True
    max_batch_rows: int = 512
    strict_schema: bool = False
    # A body still arriving after this many seconds is refused (408): a client sending a byte a
    # second must not hold a connection and its memory for ever.
    body_timeout: float = 30.0
    graceful_timeout: float = 30.0
    access_log: bool = False
    log: LogSettings = field(default_factory=LogSettings)


def _pick(data: Mapping[str, Any], cls: type, ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    names = {f.name for f in fields(cls)} - ignore
    return {k: v for k, v in data.items() if k in names and v is not None}


def resolve(
    spec: RuntimeSpec,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    log_dir: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Settings for `spec`: flags win over MLSHIP_* variables, which win over mlship.yaml."""
    env = os.environ if env is None else env
    extra = spec.extra or {}
    serving = dict(extra.get("serving") or {})
    log = LogSettings(**_pick(extra.get("logging") or {}, LogSettings))
    if "max_batch_rows" in serving:
        serving["max_batch_rows"] = max(1, int(serving["max_batch_rows"]))
    settings = Settings(**_pick(serving, Settings, frozenset({"host", "log"})), log=log)
    path = log_dir or env.get("MLSHIP_LOG_DIR") or log.path
    return replace(
        settings,
        host=host or settings.host,
        port=int(port) if port else settings.port,
        workers=int(workers) if workers else settings.workers,
        log=replace(log, path=path),
    )
