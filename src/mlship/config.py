"""mlship.yaml: the schema every stage reads, and errors that name the key path and line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlship.errors import ConfigError

CONFIG_FILE = "mlship.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Entrypoints(_Section):
    """Dotted `module:function` references into the project's source directory."""

    preprocess: str = Field(description="transform(raw: DataFrame, model) -> features")
    train: str = Field(description="main(data_path, artifact_dir, params) -> metrics dict")
    load: str = Field(description="load(artifact_dir) -> model")
    predict: str = Field(description="predict(model, features) -> predictions")
    postprocess: str | None = Field(default=None, description="(predictions, raw) -> outputs")

    @field_validator("preprocess", "train", "load", "predict", "postprocess")
    @classmethod
    def _dotted(cls, value: str | None) -> str | None:
        if value is not None and (value.count(":") != 1 or not all(value.split(":"))):
            raise ValueError(f"must look like 'package.module:function', got {value!r}")
        return value


class Resources(_Section):
    cpu: float | None = Field(default=None, gt=0)
    memory: str | None = None
    gpus: int = Field(default=0, ge=0)


class Gate(_Section):
    """The health gate a new version passes before it takes traffic."""

    readiness_timeout: float = Field(default=60.0, gt=0)
    examples: bool = True
    latency_p99_ms: float | None = Field(default=None, gt=0)
    monitor_seconds: float = Field(default=10.0, ge=0)
    latency_requests: int = Field(default=20, ge=1, description="requests timed for latency_p99_ms")
    preflight: bool = Field(
        default=True, description="gate a candidate container before the orchestrator rolls it out"
    )


class Environment(_Section):
    registry: str = ""
    target: Literal["docker", "swarm", "kubernetes"] = "docker"
    replicas: int = Field(default=1, ge=1)
    strategy: Literal["recreate", "rolling", "canary"] = "rolling"
    resources: Resources = Field(default_factory=Resources)
    gate: Gate = Field(default_factory=Gate)
    port: int | None = Field(default=None, ge=1, le=65535)
    log_dir: str | None = None
    gpu_driver: str | None = Field(default=None, description="NVIDIA driver on the target hosts")
    gpu: bool | None = None
    namespace: str | None = None
    context: str | None = None
    # Deploy knobs (issue 7); defaults keep existing files valid.
    repository: str | None = Field(default=None, description="image name in the registry (default: name)")
    host: str | None = Field(default=None, description="address clients use (default: the engine's host)")
    publish: Literal["ingress", "edge"] = Field(
        default="ingress", description="swarm: routing mesh, or an HAProxy edge proxy on the manager"
    )
    update_delay: float = Field(default=2.0, ge=0, description="seconds between task updates")
    rollout_timeout: float = Field(default=300.0, gt=0)
    canary_weight: int = Field(default=10, ge=1, le=99, description="kubernetes: canary share, percent")
    node_selector: dict[str, str] = Field(default_factory=dict)


class Example(_Section):
    input: dict[str, Any]
    output: Any
    tolerance: float = Field(default=1e-6, ge=0)
    name: str | None = None


class FieldSpec(_Section):
    type: Literal["number", "integer", "string", "boolean", "category"]
    required: bool = True
    min: float | None = None
    max: float | None = None
    values: list[Any] | None = None


class Invariant(_Section):
    kind: Literal["monotonic", "invariance", "bounds"]
    feature: str | None = None
    direction: Literal["increasing", "decreasing"] | None = None
    grid: list[float] | None = None
    min: float | None = None
    max: float | None = None
    name: str | None = None
    values: list[Any] | None = Field(default=None, description="invariance: the values to try")
    tolerance: float = Field(default=0.0, ge=0, description="slack before a change counts")
    output: str | None = Field(default=None, description="the key to read when predictions are mappings")


class Latency(_Section):
    single_p50_ms: float | None = Field(default=None, gt=0)
    single_p99_ms: float | None = Field(default=None, gt=0)
    batch_p50_ms: float | None = Field(default=None, gt=0)
    batch_p99_ms: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=100, ge=1)
    repeats: int = Field(default=30, ge=1, description="timed calls per measurement")
    warmup: int = Field(default=3, ge=0)


class Differential(_Section):
    sample: str | None = None
    agreement: float = Field(default=0.99, ge=0, le=1)
    tolerance: float = Field(default=1e-6, ge=0)
    rows: int = Field(default=200, ge=1, description="records replayed through both models")


class Contract(_Section):
    examples: list[Example] = Field(default_factory=list)
    schema_: dict[str, FieldSpec] = Field(default_factory=dict, alias="schema")
    invariants: list[Invariant] = Field(default_factory=list)
    extremes: bool = True
    latency: Latency = Field(default_factory=Latency)
    differential: Differential = Field(default_factory=Differential)
    sample: int = Field(default=50, ge=1, description="training records the invariants vary")


class Logging(_Section):
    enabled: bool = True
    path: str = "logs/predictions"
    sample_rate: float = Field(default=1.0, ge=0, le=1)
    max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    flush_interval: float = Field(default=1.0, gt=0)


class Policy(_Section):
    file: str | None = None
    min_age_days: int = Field(default=14, ge=0)
    max_age_months: int = Field(default=24, ge=1)
    max_majors_behind: int = Field(default=1, ge=0)
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    on_unknown: Literal["fail", "warn"] = "warn"
    fail_on: Literal["info", "warning", "error"] = "error"
    index_url: str | None = None
    platforms: list[str] = Field(default_factory=lambda: ["linux_x86_64"])
    advisory_url: str | None = Field(
        default=None, description="PyPI-style JSON API, '{name}' and '{version}' filled in"
    )
    severity: dict[str, Literal["info", "warning", "error", "off"]] = Field(default_factory=dict)
    ignore_unused: list[str] = Field(default_factory=list)
    allow_prereleases: list[str] = Field(default_factory=list)

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, value: list[str]) -> list[str]:
        from mlship.platforms import ARCH

        known = set(ARCH)
        bad = [p for p in value if p not in known]
        if bad or not value:
            raise ValueError(f"platforms must be a non-empty list of {sorted(known)}, got {value}")
        return value


class Image(_Section):
    base: str | None = Field(default=None, description="base image (default python:X.Y-slim)")
    system_packages: list[str] = Field(default_factory=list, description="apt packages (need network)")
    exclude: list[str] = Field(
        default_factory=list, description="glob patterns left out of the image's src/ and artifacts/"
    )


class Serving(_Section):
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    threads: int = Field(default=1, ge=1, description="native (OpenMP/BLAS) threads per worker")
    batching: bool = Field(default=True, description="score requests that queue together in one call")
    max_batch_rows: int = Field(default=512, ge=1)
    strict_schema: bool = Field(default=False, description="also reject out-of-range values and categories")
    body_timeout: float = Field(
        default=30.0, gt=0, description="seconds a request body may take to arrive (then 408)"
    )
    graceful_timeout: float = Field(
        default=30.0, gt=0, description="seconds in-flight requests get at SIGTERM"
    )
    access_log: bool = False


# Metrics where higher is better; the others (errors) are better lower. `bias` is judged by its size.
HIGHER_IS_BETTER = frozenset({"auc", "accuracy", "precision", "recall", "f1"})
PERFORMANCE_METRICS = frozenset({*HIGHER_IS_BETTER, "brier", "mae", "rmse", "bias"})


class Performance(_Section):
    """`mlship monitor --labels`: how predictions are joined to outcomes and when a drop fails."""

    task: Literal["classification", "regression"] | None = Field(
        default=None, description="default: classification when the target has two values"
    )
    key: str | None = Field(
        default=None, description="a request field carrying the client's id (default: request_id:index)"
    )
    score: str | None = Field(
        default=None, description="the output key holding P(positive) (default: the prediction itself)"
    )
    positive: Any = Field(default=1, description="the positive class of the target")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="score >= threshold counts as positive")
    labels: str | None = Field(default=None, description="labels file or directory (CI's default --labels)")
    holdout: str | None = Field(
        default=None, description="labelled rows the model did not train on (default: data.train)"
    )
    window: str = Field(default="1d", description="the width of a time window: 1h, 6h, 1d, 7d")
    min_labels: int = Field(default=100, ge=1, description="fewer labelled records: reported, not judged")
    max_drop: dict[str, float] = Field(
        default_factory=lambda: {"auc": 0.05, "f1": 0.05, "mae": 0.2, "rmse": 0.2},
        description="how much worse than at training a metric may get (see docs/monitor.md)",
    )

    @field_validator("max_drop")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - PERFORMANCE_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {sorted(PERFORMANCE_METRICS)}")
        if any(not isinstance(v, (int, float)) or v < 0 for v in value.values()):
            raise ValueError("each max_drop must be a number >= 0")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        from mlship.monitor.logs import duration_seconds

        if duration_seconds(value) is None:
            raise ValueError(f"window {value!r} is not a duration such as 1h, 6h, 1d or 7d")
        return value


class Monitor(_Section):
    psi_threshold: float = Field(default=0.2, gt=0)
    ks_pvalue: float = Field(default=0.01, gt=0, lt=1)
    chi2_pvalue: float = Field(default=0.01, gt=0, lt=1)
    missing_rate_delta: float = Field(default=0.1, gt=0, le=1)
    min_samples: int = Field(default=100, ge=1)
    features: list[str] | None = Field(
        default=None, description="request fields to watch (default: inferred)"
    )
    exclude: list[str] = Field(default_factory=list, description="training columns that are not inputs")
    predictions: bool = Field(default=True, description="prediction drift counts towards the verdict")
    performance: Performance = Field(default_factory=Performance)


class NotebookSource(_Section):
    """Where a project converted by `mlship init --from` keeps its notebook, and parity tolerances."""

    path: str = Field(description="the copy of the source notebook inside the project")
    rtol: float = Field(default=1e-6, ge=0)
    atol: float = Field(default=1e-9, ge=0)
    timeout: float = Field(default=600.0, gt=0, description="seconds a notebook cell may run in verify")


class Config(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = "0.1.0"
    description: str = ""
    python: str = Field(default="3.11", pattern=r"^3\.\d+$")
    source: str = "src"
    entrypoints: Entrypoints
    artifacts: str = "artifacts"
    data: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    gpu: Literal[False, "optional", "required"] = False
    resources: Resources = Field(default_factory=Resources)
    environments: dict[str, Environment] = Field(default_factory=dict)
    contract: Contract = Field(default_factory=Contract)
    logging: Logging = Field(default_factory=Logging)
    policy: Policy = Field(default_factory=Policy)
    image: Image = Field(default_factory=Image)
    serving: Serving = Field(default_factory=Serving)
    monitor: Monitor = Field(default_factory=Monitor)
    notebook: NotebookSource | None = None

    def environment(self, name: str) -> Environment:
        """The named environment; `local` exists by default (the local engine, no registry)."""
        if name in self.environments:
            return self.environments[name]
        if name == "local":
            return Environment(target="docker")
        known = ", ".join(sorted({"local", *self.environments})) or "local"
        raise ConfigError(
            f"unknown environment {name!r}",
            hint=f"environments in {CONFIG_FILE}: {known}",
        )

    def to_data(self) -> dict[str, Any]:
        """The resolved config as plain data (JSON-safe), with the YAML key names."""
        return self.model_dump(mode="json", by_alias=True)


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest key that `loc` reaches (a missing key: its parent's line)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(key)]
            if not match:
                break
            key_node, node = match[0]
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _describe(error: Any) -> tuple[tuple[Any, ...], str]:
    # pydantic puts union/literal branch names into loc; they are not keys of the file.
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return loc, "is not a known key"
    if kind == "missing":
        return loc, "is required but missing"
    return loc, msg[0].lower() + msg[1:]


def parse_config(text: str, source: str = CONFIG_FILE) -> Config:
    """Parse and validate mlship.yaml text; every problem names the key path and line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{where}: not valid YAML ({problem})", hint="check indentation and quoting"
        ) from None
    if data is None:
        raise ConfigError(f"{source} is empty", hint="run `mlship init` to write one")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc, what = _describe(error)
            path = ".".join(str(p) for p in loc) or "(top level)"
            line = _node_line(root, loc)
            where = f"{source}:{line}" if line else source
            lines.append(f"{path} {what} ({where})")
        first, rest = lines[0], lines[1:]
        raise ConfigError(
            first if not rest else f"{len(lines)} problems in {source}: " + "; ".join(lines),
            hint="see `mlship config --help` and the README's mlship.yaml reference",
        ) from None


def load_config(project_dir: Path) -> Config:
    path = Path(project_dir) / CONFIG_FILE
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a file")
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"{path} is a broken link (to {os.readlink(path)})")
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {project_dir}",
            hint="run `mlship init` to create a project, or pass the project directory",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", hint="save it as UTF-8 YAML") from None
    return parse_config(text, source=str(path.name))
