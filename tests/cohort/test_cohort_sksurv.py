"""Optional cross-check against scikit-survival (GPL-3.0; extra ``carpet[gpl]``, never a core dependency).

Skipped when scikit-survival is not installed; the hand-computed tests in
``test_cohort_discrimination.py`` always run.
"""

from __future__ import annotations

import numpy as np
import pytest

sksurv_metrics = pytest.importorskip("sksurv.metrics")
sksurv_util = pytest.importorskip("sksurv.util")

from carpet.survival import cumulative_dynamic_auc, harrell_c, uno_c  # noqa: E402


def _data(rng, n):
    x = rng.normal(size=n).round(1)  # risk ties
    t = (
        rng.exponential(np.exp(-x) * 10).round(0) + 1
    )  # heavy time ties, events and censorings mixed
    e = rng.random(n) < 0.6
    return t, e, x


def test_harrell_uno_and_td_auc_equal_scikit_survival(rng):
    for _ in range(25):
        t, e, x = _data(rng, int(rng.integers(30, 200)))
        y = sksurv_util.Surv.from_arrays(e, t)
        assert harrell_c(t, e, x) == pytest.approx(
            sksurv_metrics.concordance_index_censored(e, t, x)[0], abs=1e-12
        )
        assert uno_c(t, e, x) == pytest.approx(
            sksurv_metrics.concordance_index_ipcw(y, y, x)[0], abs=1e-12
        )
        tau = float(np.quantile(t, 0.8))
        assert uno_c(t, e, x, tau=tau) == pytest.approx(
            sksurv_metrics.concordance_index_ipcw(y, y, x, tau=tau)[0], abs=1e-12
        )
        times = np.quantile(t[e], [0.3, 0.6])
        ref, _ = sksurv_metrics.cumulative_dynamic_auc(y, y, x, times)
        ours = cumulative_dynamic_auc(t, e, x, times, n_bootstrap=0).auc
        np.testing.assert_allclose(ours, ref, atol=1e-12)
