"""`mlship replay`: re-score logged inputs with another model version and compare with what was served."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlship.compare import close
from mlship.errors import CheckFailed, InputError
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

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    @property
    def passed(self) -> bool:
        if self.min_agreement is None:
            return True
        return self.agreement is not None and self.agreement >= self.min_agreement

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["agreement"] = self.agreement
        data["passed"] = self.passed
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
) -> ReplayResult:
    files = find_log_files([Path(p) for p in logs])
    moment = parse_since(since) if since else None
    pairs, versions = _logged_pairs(files, moment, limit)
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
    return result


def check(result: ReplayResult) -> None:
    """Exit 1 (a gate found problems) when agreement is below --min-agreement."""
    if not result.passed:
        shown = "no comparable records" if result.agreement is None else f"{result.agreement:.2%}"
        raise CheckFailed(
            f"agreement {shown} is below --min-agreement {result.min_agreement:.2%}",
            hint="look at `worst` in --json for the records that moved most",
        )


def _logged_pairs(files: list[Path], since: Any, limit: int | None) -> tuple[list[tuple[dict, Any]], Counter]:
    pairs: list[tuple[dict, Any]] = []
    versions: Counter = Counter()
    for entry in iter_requests(files, since=since):
        scored = scored_records(entry)
        if scored is None:
            continue
        versions[str(entry.model_version)] += 1
        pairs.extend(scored)
        if limit is not None and len(pairs) >= limit:
            return pairs[:limit], versions
    return pairs, versions


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
