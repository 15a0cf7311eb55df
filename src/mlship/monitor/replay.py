"""`mlship replay`: re-score logged inputs with another model version and compare with what was served."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlship.compare import close
from mlship.errors import CheckFailed, InputError, UsageError
from mlship.monitor.logs import find_log_files, iter_requests, parse_since, scored_records
from mlship.monitor.scorers import ScoreError, Scorer, open_scorer

BATCH = 256
WORST = 5  # records with the largest differences, shown with their inputs


@dataclass
class ReplayResult:
    model: str
    model_version: str
    logged_versions: dict[str, int]
    sources: list[str]
    records: int  # successful logged records considered
    compared: int
    agreed: int
    rejected: int  # records the new model refused (ScoreError)
    no_output: int  # records logged without an output (nothing to compare with)
    tolerance: float
    min_agreement: float | None
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)  # non-numeric old -> new, most frequent
    worst: list[dict[str, Any]] = field(default_factory=list)
    # With --labels: candidate vs live metrics on the labelled records, differences with a 95% interval.
    performance: dict[str, Any] | None = None
    not_worse: list[str] = field(default_factory=list)

    @property
    def worse(self) -> list[str]:
        metrics = (self.performance or {}).get("metrics", {})
        return [name for name in self.not_worse if (metrics.get(name) or {}).get("verdict") == "worse"]

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    @property
    def passed(self) -> bool:
        if self.worse:
            return False
        if self.min_agreement is None:
            return True
        return self.agreement is not None and self.agreement >= self.min_agreement

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["agreement"] = self.agreement
        data["passed"] = self.passed
        data["worse"] = self.worse
        return data


def replay(
    *,
    logs: list[Path],
    model: str,
    since: str | None = None,
    limit: int | None = None,
    tolerance: float = 1e-6,
    min_agreement: float | None = None,
    progress: Any = None,
    labels: list[Path] | None = None,
    not_worse: list[str] | None = None,
) -> ReplayResult:
    files = find_log_files([Path(p) for p in logs])
    moment = parse_since(since) if since else None
    pairs, versions, keys = _logged_pairs(files, moment, limit, _key_field(model))
    if not pairs:
        raise InputError("the logs hold no successful requests to replay", hint="check --since and the paths")
    with open_scorer(model) as scorer:
        new_outputs = _score_all(scorer, [r for r, _ in pairs], progress)
        version = scorer.version
    result = ReplayResult(
        model=model,
        model_version=version,
        logged_versions=dict(versions.most_common()),
        sources=[str(f) for f in files],
        records=len(pairs),
        compared=0,
        agreed=0,
        rejected=sum(1 for o in new_outputs if o is _REJECTED),
        no_output=sum(1 for _, o in pairs if o is None),
        tolerance=tolerance,
        min_agreement=min_agreement,
    )
    _compare(result, pairs, new_outputs)
    result.not_worse = list(not_worse or [])
    configured = _settings(model)[0].labels
    if labels is None and configured and (Path(model) / configured).exists():
        labels = [Path(model) / configured]  # monitor.performance.labels of the candidate project
    if labels:
        result.performance = _on_labels(model, labels, pairs, keys, new_outputs)
    elif result.not_worse:
        raise UsageError("--not-worse needs --labels (the outcomes to measure both models on)")
    return result


def _settings(model: str) -> Any:
    """monitor.performance of the candidate project (defaults for an image)."""
    from mlship.config import Performance

    path = Path(model)
    if path.is_dir() and (path / "mlship.yaml").is_file():
        from mlship.project import Project

        config = Project.load(path).config
        return config.monitor.performance, config.params.get("target")
    return Performance(), None


def _key_field(model: str) -> str | None:
    return _settings(model)[0].key


def _on_labels(
    model: str,
    labels: list[Path],
    pairs: list[tuple[dict, Any]],
    keys: list[str | None],
    new_outputs: list[Any],
) -> dict[str, Any]:
    from mlship.monitor.labelled import read_labels
    from mlship.monitor.performance import output_values, positive_mask
    from mlship.monitor.replay_metrics import compare_models

    perf, target = _settings(model)
    table = read_labels(
        [Path(p) for p in labels],
        key_column=perf.key or "key",
        outcome_columns=[c for c in (target, "outcome", "label") if isinstance(c, str)],
    )
    outcome = dict(zip(table.key.tolist(), table.outcome.tolist(), strict=True))
    rows = [
        i for i, k in enumerate(keys) if k is not None and k in outcome and new_outputs[i] is not _REJECTED
    ]
    live = output_values([pairs[i][1] for i in rows], perf.score)
    candidate = output_values([new_outputs[i] for i in rows], perf.score)
    usable = ~np.isnan(live) & ~np.isnan(candidate)
    raw = np.array([outcome[keys[i]] for i in rows], dtype=object)[usable]
    task = perf.task or ("classification" if len(set(map(str, raw))) == 2 else "regression")
    y = positive_mask(raw, perf.positive) if task == "classification" else raw.astype(float)
    return {
        "task": task,
        "labelled": int(usable.sum()),
        "labels": table.rows,
        "unmatched_labels": int(len(table.key) - len(rows)),
        "metrics": compare_models(task, y, live[usable], candidate[usable], threshold=perf.threshold),
    }


def check(result: ReplayResult) -> None:
    """Exit 1 (a gate found problems) when agreement is below --min-agreement, or the candidate is
    measurably worse (the whole 95% interval on the worse side) on a --not-worse metric."""
    if result.worse:
        shown = "; ".join(
            f"{name} {d['difference']:+.4g} [{d['ci_low']:+.4g}, {d['ci_high']:+.4g}]"
            for name, d in (result.performance or {})["metrics"].items()
            if name in result.worse
        )
        raise CheckFailed(
            f"the candidate is worse than the live model: {shown}",
            hint="candidate - live, with a 95% bootstrap interval on the labelled logged records",
        )
    if not result.passed:
        shown = "no comparable records" if result.agreement is None else f"{result.agreement:.2%}"
        raise CheckFailed(
            f"agreement {shown} is below --min-agreement {result.min_agreement:.2%}",
            hint="look at `worst` in --json for the records that moved most",
        )


def _logged_pairs(
    files: list[Path], since: Any, limit: int | None, key_field: str | None = None
) -> tuple[list[tuple[dict, Any]], Counter, list[str | None]]:
    """(record, logged output) pairs, the requests per model version, and each record's join key."""
    pairs: list[tuple[dict, Any]] = []
    keys: list[str | None] = []
    versions: Counter = Counter()
    for entry in iter_requests(files, since=since):
        scored = scored_records(entry)
        if scored is None:
            continue
        versions[str(entry.model_version)] += 1
        pairs.extend(scored)
        if key_field is None:
            rid = entry.request_id
            keys.extend(f"{rid}:{i}" for i, r in enumerate(entry.inputs) if isinstance(r, dict))
        else:
            keys.extend(None if r.get(key_field) is None else str(r[key_field]) for r, _ in scored)
        if limit is not None and len(pairs) >= limit:
            return pairs[:limit], versions, keys[:limit]
    return pairs, versions, keys


class _Rejected:
    __repr__ = lambda self: "rejected"  # noqa: E731


_REJECTED = _Rejected()


def _score_all(scorer: Scorer, records: list[dict], progress: Any) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        try:
            out.extend(scorer.score(batch))
        except ScoreError:
            # One bad record must not hide the batch: score it record by record.
            for record in batch:
                try:
                    out.extend(scorer.score([record]))
                except ScoreError:
                    out.append(_REJECTED)
        if progress:
            progress(f"{len(out)}/{len(records)} records")
    return out


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(value: Any, name: str = "prediction") -> dict[str, Any]:
    """Scalars and dicts of scalars as named values; lists element by element."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{name}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{name}[{i}]").items()}
    return {name: value}


def _compare(result: ReplayResult, pairs: list[tuple[dict, Any]], new_outputs: list[Any]) -> None:
    diffs: dict[str, list[float]] = {}
    changes: Counter = Counter()
    scored: list[tuple[float, int]] = []
    for index, ((_, old), new) in enumerate(zip(pairs, new_outputs, strict=True)):
        if old is None or new is _REJECTED:
            continue
        result.compared += 1
        old_flat, new_flat = _flatten(old), _flatten(new)
        same, largest = old_flat.keys() == new_flat.keys(), 0.0
        for key in old_flat.keys() | new_flat.keys():
            a, b = old_flat.get(key), new_flat.get(key)
            if _numeric(a) and _numeric(b):
                delta = float(b) - float(a)  # type: ignore[arg-type]
                diffs.setdefault(key, []).append(delta)
                largest = max(largest, abs(delta))
                same = same and close(a, b, result.tolerance)
            elif a != b:
                same = False
                changes[(key, str(a), str(b))] += 1
        result.agreed += same
        if largest > 0:
            scored.append((largest, index))
    result.differences = {key: _distribution(np.asarray(v)) for key, v in diffs.items()}
    result.changes = [
        {"output": k, "logged": a, "replayed": b, "count": n} for (k, a, b), n in changes.most_common(10)
    ]
    for largest, index in sorted(scored, reverse=True)[:WORST]:
        record, old = pairs[index]
        result.worst.append(
            {"input": record, "logged": old, "replayed": new_outputs[index], "abs_diff": largest}
        )


def _distribution(delta: np.ndarray) -> dict[str, Any]:
    """How far the new outputs moved (new - logged): location, spread, tails and a coarse histogram."""
    magnitude = np.abs(delta)
    quantiles = (1, 5, 25, 50, 75, 95, 99)
    values = np.percentile(delta, quantiles)
    counts, edges = np.histogram(delta, bins=10) if delta.std() > 0 else (np.array([len(delta)]), delta[:1])
    return {
        "count": int(len(delta)),
        "mean": float(delta.mean()),
        "mean_abs": float(magnitude.mean()),
        "max_abs": float(magnitude.max()),
        "percentiles": {str(q): float(v) for q, v in zip(quantiles, values, strict=True)},
        "histogram": {"edges": [float(e) for e in edges], "counts": counts.astype(int).tolist()},
    }
