"""What a deployment is, as data: the release records written as labels on the target and read back."""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from mlship import labels

# Labels deploy writes besides mlship.labels' own: the image reference and the release history,
# so `status`, `history` and `rollback` read the truth from the target, not from this machine.
IMAGE_REF = f"{labels.PREFIX}.image-ref"
HISTORY = f"{labels.PREFIX}.history"
ROLE = f"{labels.PREFIX}.role"
HISTORY_KEEP = 20


@dataclass
class Release:
    """One version put into service in one environment."""

    version: str
    image: str  # the reference the target runs: repo@sha256:... (or a local image id)
    digest: str
    model_sha256: str | None = None
    deployed_at: str = ""
    deployed_by: str = ""
    strategy: str = ""
    result: str = "live"  # live | superseded | rolled-back (journal only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class TargetState:
    """What a target reports about one environment."""

    environment: str
    target: str
    current: Release | None
    history: list[Release] = field(default_factory=list)
    url: str | None = None
    replicas_running: int = 0
    replicas_desired: int = 0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "target": self.target,
            "current": self.current.to_dict() if self.current else None,
            "url": self.url,
            "replicas": {"running": self.replicas_running, "desired": self.replicas_desired},
            "detail": self.detail,
        }


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployed_by() -> str:
    """Who deploys: MLSHIP_DEPLOYED_BY, else the CI actor, else user@host."""
    explicit = os.environ.get("MLSHIP_DEPLOYED_BY") or os.environ.get("GITHUB_ACTOR")
    explicit = explicit or os.environ.get("GITLAB_USER_LOGIN")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def release_labels(project: str, environment: str, release: Release, history: list[Release]) -> dict:
    """Labels that describe `release` and carry the history (newest last, bounded)."""
    kept = [*history, release][-HISTORY_KEEP:]
    return {
        labels.PROJECT: project,
        labels.ENVIRONMENT: environment,
        labels.VERSION: release.version,
        labels.IMAGE_DIGEST: release.digest,
        labels.MODEL_SHA256: release.model_sha256 or "",
        labels.DEPLOYED_AT: release.deployed_at,
        labels.DEPLOYED_BY: release.deployed_by,
        IMAGE_REF: release.image,
        HISTORY: json.dumps([r.to_dict() for r in kept], separators=(",", ":")),
    }


def read_labels(values: dict[str, str] | None) -> tuple[Release | None, list[Release]]:
    """The current release and the history (oldest first, current included) from target labels."""
    values = values or {}
    if IMAGE_REF not in values:
        return None, []
    current = Release(
        version=values.get(labels.VERSION, ""),
        image=values[IMAGE_REF],
        digest=values.get(labels.IMAGE_DIGEST, ""),
        model_sha256=values.get(labels.MODEL_SHA256) or None,
        deployed_at=values.get(labels.DEPLOYED_AT, ""),
        deployed_by=values.get(labels.DEPLOYED_BY, ""),
    )
    try:
        history = [Release.from_dict(item) for item in json.loads(values.get(HISTORY, "[]"))]
    except (ValueError, TypeError):
        history = []
    if history:
        current.strategy = history[-1].strategy
    return current, history or [current]
