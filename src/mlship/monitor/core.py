"""`mlship monitor`: read the prediction logs, compare them with the reference, verdict and report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlship.compare import percentile
from mlship.errors import InputError, UsageError
from mlship.monitor.drift import FeatureDrift, compare, compare_predictions
from mlship.monitor.logs import find_log_files, parse_since
from mlship.monitor.profile import load_reference
from mlship.monitor.reader import LiveData, read_logs


@dataclass
class MonitorResult:
    verdict: str  # "ok", "drift" or "insufficient" (fewer records than monitor.min_samples)
    project: str
    sources: list[str]
    since: str | None
    window: dict[str, str | None]
    traffic: dict[str, Any]
    thresholds: dict[str, Any]
    features: list[FeatureDrift]
    predictions: list[FeatureDrift]
    reference: dict[str, Any]
    report: str | None = None
    notes: list[str] = field(default_factory=list)
    performance: Any = None  # PerformanceResult when labels were given or the estimate applies

    @property
    def drifted(self) -> list[str]:
        return [r.name for r in [*self.features, *self.predictions] if r.verdict == "drift"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "drifted": self.drifted,
            "project": self.project,
            "sources": self.sources,
            "since": self.since,
            "window": self.window,
            "traffic": self.traffic,
            "thresholds": self.thresholds,
            "features": [r.to_dict() for r in self.features],
            "predictions": [r.to_dict() for r in self.predictions],
            "reference": self.reference,
            "report": self.report,
            "notes": self.notes,
            "performance": self.performance.to_dict() if self.performance is not None else None,
        }


def log_sources(project: Any, *, env: str | None, logs: list[Path] | None) -> list[Path]:
    """Where the logs are: --log paths, an environment's log directory (the one `deploy` mounts:
    environments.ENV.log_dir, else logs/environments/ENV), or what `mlship serve` writes here."""
    if env and logs:
        raise UsageError("give either --env or --log, not both")
    if logs:
        return [Path(p) for p in logs]
    if env:
        directory = project.log_dir(env)  # an unknown environment is a ConfigError (exit 2)
        if not directory.is_dir():
            raise InputError(
                f"no prediction log of {env} at {directory}",
                hint=f"`mlship deploy {env}` from this project writes it there; for a remote engine, set "
                f"environments.{env}.log_dir or copy the logs and pass --log PATH",
            )
        return [directory]
    # `mlship serve` on this machine writes under logging.path.
    return [project.root / project.config.logging.path]


def monitor(
    project: Any,
    *,
    env: str | None = None,
    logs: list[Path] | None = None,
    since: str | None = None,
    report: Path | None = None,
    labels: list[Path] | None = None,
) -> MonitorResult:
    if report is not None:
        from mlship.monitor.report import check_report_target

        check_report_target(Path(report))  # before the logs are read, not after
    reference = load_reference(project.artifact_dir)
    thresholds = project.config.monitor
    files = find_log_files(log_sources(project, env=env, logs=logs))
    moment: datetime | None = parse_since(since) if since else None
    kinds = {name: ref["kind"] for name, ref in reference["features"].items()}
    outputs = {name: ref["kind"] for name, ref in reference.get("predictions", {}).items()}
    live = read_logs(files, fields=kinds, predictions=outputs, since=moment)
    if live.requests == 0 and live.bad_lines:
        # Not one line was a log entry: the wrong file (a CSV, a text file), not an idle service.
        named = ", ".join(str(f) for f in files) if len(files) <= 3 else f"the {len(files)} log files"
        raise InputError(
            f"no line of {named} is a prediction log entry ({live.bad_lines} line(s) are not JSON)",
            hint="pass the service's log files (predictions-*.jsonl) or their directory",
        )
    features = compare(reference, live, thresholds)
    predictions = compare_predictions(reference, live, thresholds)
    result = MonitorResult(
        verdict=_overall(live, features, predictions, thresholds),
        project=project.config.name,
        sources=live.files,
        since=moment.isoformat(timespec="seconds") if moment else None,
        window={"first": live.first_ts, "last": live.last_ts},
        traffic=_traffic(live),
        thresholds=thresholds.model_dump(
            include={
                "psi_threshold",
                "ks_pvalue",
                "chi2_pvalue",
                "missing_rate_delta",
                "min_samples",
                "predictions",
            }
        ),
        features=features,
        predictions=predictions,
        reference={
            "rows": reference["rows"],
            "data": (reference.get("data") or {}).get("path"),
            "data_sha256": (reference.get("data") or {}).get("sha256"),
        },
        notes=_notes(live, reference, project),
    )
    configured = project.config.monitor.performance.labels
    if labels is None and configured and (project.root / configured).exists():
        labels = [project.root / configured]  # monitor.performance.labels: where outcomes land
    from mlship.monitor.performance import evaluate

    result.performance = evaluate(project, files, labels=labels, since=moment)
    if (
        result.performance is not None
        and result.performance.verdict == "degraded"
        and result.verdict != "drift"
    ):
        result.verdict = "degraded"
    if report is not None:
        from mlship.monitor.report import write_report

        result.report = str(write_report(result, Path(report)))
    return result


def _overall(
    live: LiveData, features: list[FeatureDrift], predictions: list[FeatureDrift], thresholds
) -> str:
    counted = features + (predictions if thresholds.predictions else [])
    if any(r.verdict == "drift" for r in counted):
        return "drift"
    if live.records < thresholds.min_samples:
        return "insufficient"
    return "ok"


def _traffic(live: LiveData) -> dict[str, Any]:
    latency = [float(ms) for ms in live.latency_ms]
    return {
        "requests": live.requests,
        "failed": live.failed,
        "error_rate": live.failed / live.requests if live.requests else 0.0,
        "records": live.records,
        "bad_lines": live.bad_lines,
        "statuses": {str(k): v for k, v in sorted(live.statuses.items(), key=lambda kv: str(kv[0]))},
        "model_versions": {str(k): v for k, v in live.model_versions.most_common()},
        "latency_ms": {
            "p50": percentile(latency, 50) if latency else None,
            "p99": percentile(latency, 99) if latency else None,
        },
    }


def _notes(live: LiveData, reference: dict[str, Any], project: Any) -> list[str]:
    notes = []
    if live.bad_lines:
        notes.append(f"{live.bad_lines} log lines were not JSON and were skipped")
    if len(live.model_versions) > 1:
        notes.append(f"the log holds {len(live.model_versions)} model versions; all are compared together")
    sha = project.artifact_sha256 or ""
    current = f"{project.config.version}+{sha[:12]}" if sha else project.config.version
    others = [str(v) for v in live.model_versions if v != current]
    if live.model_versions and others:
        notes.append(
            f"the reference belongs to model {current}; the log was written by {', '.join(others[:3])}"
            " (prediction drift may be a model change, not a data change)"
        )
    rate = project.config.logging.sample_rate
    if rate < 1:
        notes.append(
            f"logging.sample_rate is {rate:g}: the log keeps every failure, so error_rate overstates"
        )
    if reference.get("prediction_error"):
        notes.append(f"no prediction reference: {reference['prediction_error']}")
    return notes
