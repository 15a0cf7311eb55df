"""The one interface every deploy target implements, the context it gets, and the factory that picks one."""

from __future__ import annotations

import os
import re
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlship.config import Environment, Example
from mlship.deploy.gate import GateResult
from mlship.deploy.images import ImageInfo
from mlship.deploy.state import Release, TargetState


@dataclass
class Context:
    """Everything a target needs to know about one environment of one project."""

    project: str
    environment: str
    env: Environment
    container_port: int
    examples: list[Example]
    report: Callable[[str], None] = lambda _text: None
    # The image the docker target's proxy (HAProxy from Debian's packages) is built on.
    proxy_base: str = "debian:bookworm-slim"
    # The host directory the prediction log is mounted from (absolute; None: the log stays inside).
    log_dir: str | None = None

    @property
    def name(self) -> str:
        """Container / service / Deployment name: `mlship-<project>-<env>`, DNS-safe."""
        raw = f"mlship-{self.project}-{self.environment}".lower()
        return re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:63]

    @property
    def public_port(self) -> int:
        return self.env.port or self.container_port

    @property
    def host(self) -> str:
        """Where clients reach published ports: environments.X.host, else the engine's host."""
        if self.env.host:
            return self.env.host
        docker_host = os.environ.get("DOCKER_HOST", "")
        if docker_host.startswith(("tcp://", "http://", "https://", "ssh://")):
            return urllib.parse.urlparse(docker_host).hostname or "127.0.0.1"
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.public_port}"


@dataclass
class RolloutResult:
    release: Release
    url: str
    gates: list[GateResult] = field(default_factory=list)
    replaced: Release | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "release": self.release.to_dict(),
            "url": self.url,
            "replaced": self.replaced.to_dict() if self.replaced else None,
            "gates": [g.to_dict() for g in self.gates],
            "notes": self.notes,
        }


class Target(ABC):
    """A place that runs an environment's service: deploy, read state, and undo on failure."""

    kind: str = ""

    def __init__(self, context: Context):
        self.ctx = context

    @abstractmethod
    def state(self) -> TargetState:
        """The live release and its history, read from the target itself (labels / annotations)."""

    @abstractmethod
    def rollout(self, image: ImageInfo, release: Release, strategy: str) -> RolloutResult:
        """Put `release` into service through the gate; on failure restore the previous one and raise
        DeployError (exit 4)."""

    def check_image(self, image: ImageInfo) -> None:  # noqa: B027 - optional hook
        """Refuse images this target cannot run (e.g. not in a registry) before anything changes."""

    def preflight(self) -> None:  # noqa: B027 - optional hook
        """Refuse what would fail at start (e.g. a host port taken) before any image is pushed."""
