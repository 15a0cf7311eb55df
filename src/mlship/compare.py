"""The one tolerance rule and the one percentile, for everything that compares or times predictions:
the contract's examples and differential check, the deploy gate, notebook parity and log replay."""

from __future__ import annotations

import math
from typing import Any


def close(expected: Any, actual: Any, tolerance: float = 0.0, *, rtol: float = 0.0) -> bool:
    """Numbers within `tolerance` (absolute) or `rtol` (relative), NaN equal only to NaN; lists and
    mappings element by element; booleans and anything else exactly (True is not 1)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        return math.isclose(expected, actual, rel_tol=rtol, abs_tol=tolerance)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            close(expected[k], actual[k], tolerance, rtol=rtol) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            close(e, a, tolerance, rtol=rtol) for e, a in zip(expected, actual, strict=True)
        )
    return bool(expected == actual)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
