"""Differential: replay a sample through the deployed model and the candidate; report agreement.

The sample is contract.differential.sample -- a data file, or the prediction log (a JSONL file or
the directory of `predictions-*.jsonl`, newest requests last) -- or else the training data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlship.compare import close
from mlship.contract.records import answer_problem, frame_records, input_columns, show, show_record
from mlship.contract.report import CheckResult, skipped
from mlship.errors import InputError
from mlship.monitor.logs import LOG_GLOB, find_log_files, iter_requests, scored_records

CHUNK = 500
SHOWN = 5


def check_differential(project: Any, deployed: Any, candidate: Any) -> CheckResult:
    if deployed is None:
        return skipped("differential", "differential", "needs --against ENV|URL (the deployed model)")
    config = project.config.contract.differential
    records, source = replay_sample(
        project, config.sample, config.rows, getattr(deployed, "environment", None)
    )
    if not records:
        return CheckResult("differential", "differential", "error", f"no records to replay in {source}")
    agree, disagreements = 0, []
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        for record, theirs, ours in zip(
            chunk, _answers(deployed, chunk), _answers(candidate, chunk), strict=True
        ):
            if _same(theirs, ours, config.tolerance):
                agree += 1
            else:
                disagreements.append(
                    f"record {show_record(record)}: deployed {_shown(theirs)}, candidate {_shown(ours)}"
                )
    agreement = agree / len(records)
    metrics = {
        "records": len(records),
        "agreement": round(agreement, 4),
        "threshold": config.agreement,
        "tolerance": config.tolerance,
        "sample": source,
    }
    headline = (
        f"agreement {agreement:.1%} over {len(records)} records from {source}"
        f" (threshold {config.agreement:.1%}, tolerance {show(config.tolerance)})"
    )
    if agreement < config.agreement:
        failures = [f"{headline}: below the threshold", *disagreements[:SHOWN]]
        return CheckResult("differential", "differential", "failed", failures[0], failures, metrics)
    return CheckResult("differential", "differential", "passed", headline, [], metrics)


class _Rejected:
    def __init__(self, message: str):
        self.message = message


def _answers(target: Any, records: list[dict[str, Any]]) -> list[Any]:
    """One answer per record; a batch that fails is retried record by record so one bad record
    costs one disagreement, not the chunk."""
    outcome = target.call(records)
    if not answer_problem(outcome, len(records)):
        return list(outcome.predictions)
    out = []
    for record in records:
        single = target.call([record])
        problem = answer_problem(single, 1)
        out.append(_Rejected(problem) if problem else single.predictions[0])
    return out


def _same(theirs: Any, ours: Any, tolerance: float) -> bool:
    if isinstance(theirs, _Rejected) or isinstance(ours, _Rejected):
        return isinstance(theirs, _Rejected) and isinstance(ours, _Rejected)
    return close(theirs, ours, tolerance)


def _shown(answer: Any) -> str:
    return f"no answer ({answer.message})" if isinstance(answer, _Rejected) else show(answer)


def replay_sample(
    project: Any, sample: str | None, rows: int, environment: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """contract.differential.sample; else the environment's own prediction log (when it has traffic);
    else the training data."""
    from mlship.datafiles import read_table

    if sample is None and environment is not None:
        logs = project.log_dir(environment)
        if logs.is_dir() and any(logs.rglob(LOG_GLOB)):
            records = log_records(logs, rows)
            if records:
                return records, str(
                    logs.relative_to(project.root) if logs.is_relative_to(project.root) else logs
                )
    if sample is None:
        if "train" not in project.config.data:
            raise InputError("no sample to replay", hint="set contract.differential.sample or data.train")
        sample = project.config.data["train"]
    path = project.root / sample
    if path.is_dir() or (path.suffix == ".jsonl" and _is_log(path)):
        return log_records(path, rows), sample
    frame = read_table(path)
    frame = frame[input_columns(project, frame)]
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=0).sort_index()
    return frame_records(frame), sample


def _is_log(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            first = json.loads(handle.readline() or "{}")
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and "inputs" in first and "endpoint" in first


def log_records(path: Path, rows: int) -> list[dict[str, Any]]:
    """The inputs of the newest successful requests of the traffic in a prediction log (file or
    directory), read the one way every log reader does (mlship.monitor.logs)."""
    files = find_log_files([path])
    records: list[dict[str, Any]] = []
    for file in reversed(files):
        for entry in reversed(list(iter_requests([file]))):
            scored = scored_records(entry)
            if scored:
                records.extend(r for r, _ in reversed(scored))
            if len(records) >= rows:
                return list(reversed(records[:rows]))
    return list(reversed(records))
