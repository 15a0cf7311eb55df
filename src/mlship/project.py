"""A project on disk: its root, its resolved config and the paths every stage shares."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mlship.config import Config, load_config
from mlship.errors import ProjectCodeError, UsageError
from mlship.serving.pipeline import Pipeline, PipelineError, RuntimeSpec

# Each deployed environment's prediction log, under the project (ignored by git and by builds: logs/).
ENVIRONMENT_LOGS = Path("logs") / "environments"


@dataclass(frozen=True)
class Project:
    root: Path
    config: Config

    @classmethod
    def load(cls, directory: Path | str = ".") -> Project:
        root = Path(directory).resolve()
        if not root.exists():
            raise UsageError(
                f"{directory} does not exist", hint="pass the project directory (with mlship.yaml)"
            )
        if not root.is_dir():
            hint = "pass the project directory (with mlship.yaml)"
            if root.name == "mlship.yaml":
                hint = f"pass the directory that holds it: {Path(directory).parent}"
            raise UsageError(f"{directory} is a file, not a project directory", hint=hint)
        return cls(root=root, config=load_config(root))

    @property
    def source_dir(self) -> Path:
        return self.root / self.config.source

    @property
    def artifact_dir(self) -> Path:
        return self.root / self.config.artifacts

    @property
    def state_dir(self) -> Path:
        """mlship's own working files (`.mlship/`): build context, journals, caches."""
        return self.root / ".mlship"

    @property
    def last_build_file(self) -> Path:
        """What `mlship build` made last (image ref, id, digest); `mlship deploy` reads it."""
        return self.state_dir / "build" / "last.json"

    def log_dir(self, environment: str) -> Path:
        """Where ENV's prediction log lands on this machine: environments.ENV.log_dir (a relative one
        is under the project), else `logs/environments/ENV`, which `deploy` creates. `monitor --env`,
        `replay --env` and `test --against ENV` read the same directory."""
        configured = self.config.environment(environment).log_dir
        if configured:
            path = Path(configured).expanduser()
            return path if path.is_absolute() else (self.root / path).resolve()
        return self.root / ENVIRONMENT_LOGS / environment

    def data_path(self, key: str = "train") -> Path:
        return self.root / self.config.data[key]

    @cached_property
    def artifact_sha256(self) -> str | None:
        return artifacts_sha256(self.artifact_dir)


def artifacts_sha256(directory: Path) -> str | None:
    """One digest over every file under the artifact directory (names and contents)."""
    if not directory.is_dir():
        return None
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    if not files:
        return None
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def runtime_spec(project: Project, artifact_dir: Path | None = None) -> RuntimeSpec:
    """How the serving runtime loads the project: its artifacts, or those in `artifact_dir` (a
    training run's staging directory, before it is swapped into place)."""
    cfg = project.config
    artifacts = artifact_dir or project.artifact_dir
    return RuntimeSpec(
        name=cfg.name,
        version=cfg.version,
        source_dir=str(project.source_dir),
        artifact_dir=str(artifacts),
        entrypoints=cfg.entrypoints.model_dump(),
        gpu=cfg.gpu,
        model_sha256=artifacts_sha256(artifacts) if artifact_dir is None else None,
    )


def load_pipeline(project: Project) -> Pipeline:
    try:
        return Pipeline(runtime_spec(project))
    except PipelineError as exc:
        raise ProjectCodeError(
            f"cannot load the model ({exc})",
            hint="run `mlship train` first" if exc.stage == "load" else None,
        ) from None
