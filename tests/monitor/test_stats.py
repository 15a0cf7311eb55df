"""The numpy-only statistics agree with scipy's (scipy comes with scikit-learn in the dev extras)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mlship.monitor import stats


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.3, 1.0])
def test_ks_matches_scipy(shift):
    rng = np.random.default_rng(int(shift * 10))
    a, b = rng.normal(size=400), rng.normal(shift, 1, size=3000)
    d, p = stats.ks_2samp(a, b)
    expected = scipy_stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue, rel=0.1, abs=1e-6)


@pytest.mark.parametrize(("x", "dof"), [(0.5, 1), (3.0, 1), (10.0, 5), (50.0, 30), (200.0, 150), (1e-3, 40)])
def test_chi2_sf_matches_scipy(x, dof):
    assert stats.chi2_sf(x, dof) == pytest.approx(scipy_stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300)


def test_chi2_two_sample_is_the_contingency_test():
    ref, live = [100, 50, 30, 0], [1000, 600, 200, 40]
    stat, p, dof = stats.chi2_2samp(ref, live)
    expected = scipy_stats.chi2_contingency(np.array([ref, live]), correction=False)
    assert (stat, p, dof) == (pytest.approx(expected[0]), pytest.approx(expected[1]), expected[2])


def test_psi_is_zero_for_equal_shares_and_grows_with_shift():
    assert stats.psi([10, 20, 30], [100, 200, 300]) == pytest.approx(0.0)
    small = stats.psi([25, 25, 25, 25], [30, 25, 25, 20])
    large = stats.psi([25, 25, 25, 25], [70, 10, 10, 10])
    assert 0 < small < 0.05 < 0.5 < large


def test_bins_are_closed_on_the_right():
    counts = stats.bin_counts(np.array([-5.0, 0.0, 0.5, 1.0, 7.0]), [0.0, 1.0])
    assert counts.tolist() == [2, 2, 1]
