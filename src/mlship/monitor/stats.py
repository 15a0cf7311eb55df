"""Drift statistics with numpy only: PSI, the two-sample KS test and a two-sample chi-square test."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Empty bins would make PSI infinite; a floor on each share keeps one empty bin from dominating.
PSI_FLOOR = 1e-4


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """Population stability index between two count (or share) vectors over the same bins."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), PSI_FLOOR)
    a = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Counts in the bins (-inf, e0], (e0, e1], ..., (ek, inf) for finite values."""
    idx = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    return np.bincount(idx, minlength=len(edges) + 1)


def ks_2samp(reference: np.ndarray, live: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value."""
    ref = np.sort(np.asarray(reference, dtype=float))
    cur = np.sort(np.asarray(live, dtype=float))
    n, m = len(ref), len(cur)
    if n == 0 or m == 0:
        return 0.0, 1.0
    points = np.concatenate([ref, cur])
    cdf_ref = np.searchsorted(ref, points, side="right") / n
    cdf_cur = np.searchsorted(cur, points, side="right") / m
    d = float(np.max(np.abs(cdf_ref - cdf_cur)))
    return d, kolmogorov_pvalue(d, n * m / (n + m))


def kolmogorov_pvalue(d: float, effective_n: float) -> float:
    """P(D > d) from the Kolmogorov distribution, with Stephens' small-sample correction."""
    root = math.sqrt(effective_n)
    lam = (root + 0.12 + 0.11 / root) * d
    if lam < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return float(min(max(total, 0.0), 1.0))


def chi2_2samp(reference: Sequence[float], live: Sequence[float]) -> tuple[float, float, int]:
    """Chi-square test of homogeneity for two count vectors over the same categories.

    Two-sample rather than goodness-of-fit: the reference is itself a sample, and its size bounds
    how sure the test can be (1 million live rows against 400 training rows is not 1 million of evidence).
    """
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(live, dtype=float)
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    if len(ref) < 2 or ref.sum() == 0 or cur.sum() == 0:
        return 0.0, 1.0, 0
    table = np.vstack([ref, cur])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = len(ref) - 1
    return stat, chi2_sf(stat, dof), dof


def chi2_sf(x: float, dof: int) -> float:
    """Survival function of the chi-square distribution: Q(dof/2, x/2)."""
    if x <= 0:
        return 1.0
    return gamma_q(dof / 2.0, x / 2.0)


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x)."""
    if x < a + 1.0:
        return max(0.0, 1.0 - _gamma_p_series(a, x))
    return min(1.0, _gamma_q_fraction(a, x))


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    denom = a
    for _ in range(1000):
        denom += 1.0
        term *= x / denom
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    # Modified Lentz evaluation of the continued fraction for Q(a, x).
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h
