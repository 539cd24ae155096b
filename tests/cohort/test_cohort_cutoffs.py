"""Maximally selected log-rank statistics: scan, adjusted p-values, cross-validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from carpet.errors import InputError, StatisticalWarning
from carpet.survival import cross_validated_cutoff, lausen_schumacher_p, maxstat_cutoff
from carpet.survival.cutoffs import logrank_scores


def test_logrank_scores_hand_computed():
    # 3 events at 1, 2, 3: cumulative hazards 1/3, 1/3 + 1/2, + 1
    np.testing.assert_allclose(
        logrank_scores([1, 2, 3], [1, 1, 1]), [1 - 1 / 3, 1 - 5 / 6, 1 - 11 / 6]
    )
    assert abs(logrank_scores([1, 2, 3, 4], [1, 0, 1, 1]).sum()) < 1e-12  # scores sum to zero


def test_statistic_matches_direct_standardisation(rng):
    n = 60
    x = rng.lognormal(4, 1, n)
    t = rng.exponential(20, n)
    e = rng.random(n) < 0.7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        res = maxstat_cutoff(t, e, x, n_permutations=0)
    a = logrank_scores(t, e)
    high = x > res.cutoff
    m = high.sum()
    s2 = np.var(a, ddof=1)
    z = (a[high].sum() - m * a.mean()) / np.sqrt(m * (n - m) / n * s2)
    assert abs(abs(z) - res.statistic) < 1e-10
    assert res.n_high == m and res.n_low == n - m
    assert min(res.n_low, res.n_high) >= 6  # minprop 0.1
    assert res.p_naive == pytest.approx(2 * stats.norm.sf(res.statistic))


def test_optimism_warning_and_adjusted_p_larger_than_naive(rng):
    n = 100
    x = rng.normal(size=n)  # no effect at all
    t = rng.exponential(10, n)
    e = rng.random(n) < 0.8
    with pytest.warns(StatisticalWarning, match="optimised on these data"):
        res = maxstat_cutoff(t, e, x, n_permutations=500, seed=1)
    assert res.p_permutation > res.p_naive
    assert res.p_lausen_schumacher > res.p_naive
    assert "independent cohort" in res.warning


def test_permutation_p_is_calibrated_under_the_null():
    """Under no effect, P(p_perm <= 0.1) should be about 0.1 (40 null data sets)."""
    rng = np.random.default_rng(11)
    ps, naive = [], []
    for _ in range(40):
        n = 60
        x = rng.normal(size=n)
        t = rng.exponential(10, n)
        e = rng.random(n) < 0.8
        res = maxstat_cutoff(t, e, x, n_permutations=200, seed=int(rng.integers(1e6)), warn=False)
        ps.append(res.p_permutation)
        naive.append(res.p_naive)
    frac = np.mean(np.array(ps) <= 0.1)
    assert frac <= 0.3
    assert np.mean(np.array(naive) <= 0.1) > frac  # the naive p rejects far more often: optimism


def test_detects_a_real_cutoff():
    rng = np.random.default_rng(2)
    n = 200
    x = rng.lognormal(4, 1, n)
    t = rng.exponential(np.where(x > 80, 5, 20))
    e = np.ones(n, bool)
    res = maxstat_cutoff(t, e, x, n_permutations=300, seed=0, warn=False)
    assert 40 < res.cutoff < 160
    assert res.p_permutation < 0.01 and res.p_lausen_schumacher < 0.01


def test_lausen_schumacher_formula():
    b = 2.5
    phi = stats.norm.pdf(b)
    expected = phi * (b - 1 / b) * np.log(0.9 * 0.9 / (0.1 * 0.1)) + 4 * phi / b
    assert lausen_schumacher_p(b) == pytest.approx(expected)
    assert lausen_schumacher_p(0.0) == 1.0
    assert (
        0.0 <= lausen_schumacher_p(0.5) <= 1.0
    )  # approximation is for large b; always a probability


def test_cross_validated_cutoff_is_reproducible():
    rng = np.random.default_rng(4)
    n = 120
    x = rng.lognormal(4, 1, n)
    t = rng.exponential(np.where(x > 80, 5, 20))
    e = np.ones(n, bool)
    a = cross_validated_cutoff(t, e, x, n_folds=4, seed=3)
    b = cross_validated_cutoff(t, e, x, n_folds=4, seed=3)
    assert a["fold_cutoffs"] == b["fold_cutoffs"] and len(a["fold_cutoffs"]) == 4
    assert a["p_value"] < 0.05


def test_cutoff_errors():
    with pytest.raises(
        InputError, match="no candidate cut-off leaves at least 10% of the 5 patients"
    ):
        maxstat_cutoff([1, 2, 3, 4, 5], [1] * 5, [1, 1, 1, 1, 1], warn=False)
    with pytest.raises(InputError, match=r"minprop must be in \(0, 0.5\); got 0.6"):
        maxstat_cutoff([1, 2], [1, 1], [1, 2], minprop=0.6)
