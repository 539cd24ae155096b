"""Uno's C, td-AUC, landmark ROC, bootstrap and paired ΔC against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.utils import concordance_index

from carpet.errors import InputError
from carpet.survival import (
    bootstrap_concordance,
    compare_concordance,
    cumulative_dynamic_auc,
    harrell_c,
    landmark_roc,
    uno_c,
)
from carpet.survival.concordance import _PairCounter, censoring_survival

# time, event, risk of the hand-worked example
T = [1.0, 2.0, 3.0, 4.0]
E = [1, 0, 1, 1]
R = [3.0, 4.0, 1.0, 2.0]


def _naive_c(t, e, r, w_event=None):
    """O(n^2) reference loop (Harrell's definition; optional weight of the earlier member)."""
    num = den = 0.0
    n = len(t)
    for i in range(n):
        if not e[i]:
            continue
        wi = 1.0 if w_event is None else w_event[i]
        for j in range(n):
            if t[j] > t[i] or (t[j] == t[i] and not e[j]):
                den += wi
                num += wi * (1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0)
    return num / den


def test_censoring_km_hand_computed():
    # censoring "event" at t=2 among 3 at risk -> G = 2/3 from t=2 on
    g = censoring_survival(
        np.array(T), np.array(E, bool), np.ones((1, 4)), np.array([1.0, 1.9, 2.0, 4.0])
    )
    np.testing.assert_allclose(g[0], [1, 1, 2 / 3, 2 / 3])
    # tie of an event and a censoring at t=2: the event leaves the risk set first, so 2 are at
    # risk of censoring and G(2) = 1 - 1/2 (not 1 - 1/3)
    g = censoring_survival(
        np.array([1.0, 2, 2, 3]), np.array([1, 1, 0, 1], bool), np.ones((1, 4)), np.array([2.0])
    )
    assert g[0, 0] == pytest.approx(0.5)


def test_uno_c_hand_computed():
    """Comparable pairs: (1,2) disc, (1,3) conc, (1,4) conc with weight 1/G(1)^2 = 1;
    (3,4) disc with weight 1/G(3)^2 = 9/4. Uno = 2 / (3 + 9/4) = 8/21; Harrell = 2/4."""
    assert harrell_c(T, E, R) == pytest.approx(0.5, abs=1e-12)
    assert uno_c(T, E, R) == pytest.approx(8 / 21, abs=1e-12)
    # truncation tau=2.5 drops the pair whose earlier member has T=3
    assert uno_c(T, E, R, tau=2.5) == pytest.approx(2 / 3, abs=1e-12)


def test_uno_c_equals_weighted_naive_loop(rng):
    for _ in range(30):
        n = int(rng.integers(5, 40))
        t = rng.integers(1, 10, n).astype(float)
        e = rng.integers(0, 2, n).astype(bool)
        e[0] = True
        r = rng.integers(0, 6, n).astype(float)
        g = censoring_survival(t, e, np.ones((1, n)), t)[0]
        w = np.where(g > 0, 1 / np.where(g > 0, g, 1) ** 2, 0)
        assert uno_c(t, e, r) == pytest.approx(_naive_c(t, e, r, w), abs=1e-12)


def test_bootstrap_weights_equal_resampled_data(rng):
    """A replicate as multiplicity weights gives exactly the C of the resampled data."""
    n = 40
    t = rng.integers(1, 10, n).astype(float)
    e = rng.integers(0, 2, n).astype(bool)
    r = rng.normal(size=n).round(1)
    counter = _PairCounter(t, e, r)
    for _ in range(10):
        idx = rng.integers(0, n, n)
        w = np.bincount(idx, minlength=n)[None, :].astype(float)
        num, den = counter.counts(w)
        assert num[0] / den[0] == pytest.approx(
            concordance_index(t[idx], -r[idx], e[idx]), abs=1e-12
        )


def test_onlogn_equals_naive_on_larger_sample(rng):
    n = 400
    t = rng.exponential(10, n).round(1)
    e = rng.random(n) < 0.6
    r = rng.normal(size=n).round(2)
    assert harrell_c(t, e, r) == pytest.approx(_naive_c(t, e, r), abs=1e-12)


def test_bootstrap_ci_is_seeded_and_covers_estimate(rng):
    n = 150
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-x))
    e = rng.random(n) < 0.8
    a = bootstrap_concordance(t, e, x, n_bootstrap=300, seed=5)
    b = bootstrap_concordance(t, e, x, n_bootstrap=300, seed=5)
    assert a == b
    assert a.ci_low < a.estimate < a.ci_high
    assert a.estimate > 0.6  # a real effect was simulated
    u = bootstrap_concordance(t, e, x, method="uno", n_bootstrap=100, seed=5)
    assert u.ci_low < u.estimate < u.ci_high


def test_harrell_and_uno_in_one_pass_equal_separate_bootstraps(rng):
    from carpet.survival.concordance import bootstrap_harrell_and_uno

    n = 80
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-x)).round(2)
    e = rng.random(n) < 0.7
    h, u = bootstrap_harrell_and_uno(t, e, x, n_bootstrap=60, seed=9)
    assert h == bootstrap_concordance(t, e, x, method="harrell", n_bootstrap=60, seed=9)
    u2 = bootstrap_concordance(t, e, x, method="uno", n_bootstrap=60, seed=9)
    assert u.estimate == pytest.approx(u2.estimate, abs=1e-12)
    assert (u.ci_low, u.ci_high) == pytest.approx((u2.ci_low, u2.ci_high), abs=1e-6)


def test_paired_delta_c():
    rng = np.random.default_rng(3)
    n = 300
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-1.0 * x))
    e = np.ones(n, bool)
    noise = rng.normal(size=n)
    res = compare_concordance(t, e, x, noise, name_a="x", name_b="noise", n_bootstrap=400, seed=1)
    assert res.delta == pytest.approx(harrell_c(t, e, x) - harrell_c(t, e, noise), abs=1e-12)
    assert res.ci_low > 0 and res.p_value < 0.001
    same = compare_concordance(t, e, x, x, n_bootstrap=50)
    assert same.delta == 0 and same.p_value == 1.0
    with pytest.raises(InputError, match="n_bootstrap must be >= 2 for a paired comparison; got 1"):
        compare_concordance(t, e, x, x, n_bootstrap=1)


def test_td_auc_hand_computed():
    """t = 3.5: cases 1 (w = 1/G(1) = 1, r=3) and 3 (w = 1/G(3) = 3/2, r=1); control 4 (r=2).
    AUC = (1*1 + 1.5*0) / (2.5 * 1) = 0.4 (the unweighted AUC would be 0.5)."""
    res = cumulative_dynamic_auc(T, E, R, [2.5, 3.5], n_bootstrap=0)
    assert res.auc == pytest.approx((1.0, 0.4), abs=1e-12)
    assert res.n_cases == (1, 2) and res.n_controls == (2, 1)


def test_td_auc_bootstrap_interval(rng):
    n = 200
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-x) * 10)
    e = rng.random(n) < 0.7
    res = cumulative_dynamic_auc(t, e, x, [5.0, 10.0], n_bootstrap=200, seed=2)
    for a, lo, hi in zip(res.auc, res.ci_low, res.ci_high, strict=True):
        assert lo < a < hi


def test_landmark_roc_youden_hand_computed():
    # positives: events by 12 (risk 9, 8); negatives: T > 12 (risk 2, 1); censored at 5 excluded
    res = landmark_roc([1, 2, 13, 14, 5], [1, 1, 0, 1, 0], [9, 8, 2, 1, 7], 12, n_bootstrap=0)
    assert (res.auc, res.youden_cutoff, res.youden_j) == (1.0, 8.0, 1.0)
    assert (res.n_positive, res.n_negative, res.n_excluded) == (2, 2, 1)
    with pytest.raises(
        InputError, match="landmark ROC at 12: 0 patients with an event by the landmark"
    ):
        landmark_roc([13, 14], [1, 1], [1, 2], 12)


def test_survival_input_errors():
    with pytest.raises(
        InputError, match="durations must be finite and >= 0; got 1 NaN and 0 negative"
    ):
        harrell_c([1, np.nan], [1, 1], [1, 2])
    with pytest.raises(InputError, match=r"event indicators must be 0/1 or boolean; got \[2\]"):
        harrell_c([1, 2], [1, 2], [1, 2])
    with pytest.raises(InputError, match="risk has 1 values but there are 2 durations"):
        harrell_c([1, 2], [1, 1], [1])
    with pytest.raises(InputError, match="risk has 1 missing value"):
        harrell_c([1, 2], [1, 1], [1, np.nan])
