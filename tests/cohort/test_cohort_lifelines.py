"""KM, log-rank, Cox and Harrell's C equal lifelines to 1e-8 on lifelines' bundled datasets."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_rossi, load_waltons
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import concordance_index, median_survival_times

from carpet.survival import fit_cox, harrell_c, kaplan_meier, logrank, logrank_trend

TOL = 1e-8


@pytest.fixture(scope="module")
def rossi():
    return load_rossi()


@pytest.fixture(scope="module")
def waltons():
    return load_waltons()


def test_km_equals_lifelines_waltons(waltons):
    km = kaplan_meier(
        waltons["T"],
        waltons["E"],
        waltons["group"],
        at_risk_times=(0, 20, 40),
        survival_times=(30,),
    )
    for g in ("control", "miR-137"):
        m = waltons["group"] == g
        kmf = KaplanMeierFitter().fit(waltons["T"][m], waltons["E"][m])
        curve = km.curves[g]
        np.testing.assert_allclose(curve["survival"], kmf.survival_function_.iloc[:, 0], atol=TOL)
        np.testing.assert_allclose(curve["ci_low"], kmf.confidence_interval_.iloc[:, 0], atol=TOL)
        row = km.summary.set_index("group").loc[g]
        assert abs(row["median"] - kmf.median_survival_time_) < TOL
        med = median_survival_times(kmf.confidence_interval_)
        assert abs(row["median_ci_low"] - med.iloc[0, 0]) < TOL
        assert abs(row["survival_at_30"] - kmf.survival_function_at_times(30).iloc[0]) < TOL
        assert km.at_risk.loc[g, 20.0] == int((waltons["T"][m] >= 20).sum())


def test_logrank_equals_lifelines(waltons, rossi):
    g = waltons["group"]
    ours = logrank(waltons["T"], waltons["E"], g)
    a, b = g == "control", g != "control"
    ref = logrank_test(waltons["T"][a], waltons["T"][b], waltons["E"][a], waltons["E"][b])
    assert abs(ours.statistic - ref.test_statistic) < TOL * max(1, ref.test_statistic)
    assert abs(ours.p_value - ref.p_value) < TOL
    # three groups on rossi (prio categories)
    groups = np.select([rossi.prio == 0, rossi.prio <= 2], ["0", "1-2"], "3+")
    ours3 = logrank(rossi.week, rossi.arrest, groups)
    ref3 = multivariate_logrank_test(rossi.week, groups, rossi.arrest)
    assert ours3.df == 2
    assert abs(ours3.statistic - ref3.test_statistic) < TOL
    assert abs(ours3.p_value - ref3.p_value) < TOL


def test_trend_test_equals_logrank_for_two_groups(waltons):
    tr = logrank_trend(waltons["T"], waltons["E"], waltons["group"])
    lr = logrank(waltons["T"], waltons["E"], waltons["group"])
    assert abs(tr.statistic - lr.statistic) < 1e-8 * lr.statistic


def test_trend_test_hand_computed():
    """Two event times, three ordered groups, scores 0/1/2.

    t=1: at risk (1,1,1), one death in group 2: O-E = (-1/3, -1/3, 2/3),
         V = 1*(3-1)/(3-1) * (diag(p) - p p^T), p = 1/3 each.
    t=2: at risk (1,1,0), one death in group 1: O-E = (-1/2, 1/2, 0), V = diag(p) - pp^T, p=(1/2,1/2,0).
    U = (-5/6, 1/6, 2/3); s = (0,1,2): sU = 1/6 + 4/3 = 3/2.
    s V1 s = sum p s^2 - (sum p s)^2 = 5/3 - 1 = 2/3; s V2 s = 1/2 - 1/4 = 1/4. chi2 = (9/4)/(11/12) = 27/11.
    """
    res = logrank_trend([3, 2, 1], [0, 1, 1], [0, 1, 2])
    assert abs(res.statistic - 27 / 11) < 1e-12
    # invariant to an affine change of the scores
    res2 = logrank_trend([3, 2, 1], [0, 1, 1], [0, 1, 2], scores={0: 10, 1: 13, 2: 16})
    assert abs(res2.statistic - res.statistic) < 1e-12


def test_cox_equals_lifelines_rossi(rossi):
    covs = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    ours = fit_cox(rossi, "week", "arrest", covs, check_ph=False)
    ref = CoxPHFitter().fit(rossi, "week", "arrest")
    s = ref.summary
    for _, r in ours.summary.iterrows():
        c = r["covariate"]
        assert abs(r["coef"] - s.loc[c, "coef"]) < TOL
        assert abs(r["hr"] - s.loc[c, "exp(coef)"]) < TOL
        assert abs(r["hr_ci_low"] - s.loc[c, "exp(coef) lower 95%"]) < TOL
        assert abs(r["p_value"] - s.loc[c, "p"]) < TOL
    assert abs(ours.log_likelihood - ref.log_likelihood_) < TOL
    assert abs(ours.concordance - ref.concordance_index_) < TOL


def test_cox_reports_ph_check(rossi):
    import warnings

    from carpet.errors import StatisticalWarning

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = fit_cox(rossi, "week", "arrest", ["age", "prio"])
    # lifelines' own Rossi example flags age (PH violation)
    assert res.summary.set_index("covariate").loc["age", "ph_test_p"] < 0.05
    assert "age" in res.ph_violated
    assert any(
        issubclass(x.category, StatisticalWarning) and "proportional-hazards" in str(x.message)
        for x in w
    )


def test_harrell_c_equals_lifelines(rossi, waltons):
    ref = CoxPHFitter().fit(rossi, "week", "arrest")
    risk = ref.predict_partial_hazard(rossi).to_numpy()
    ours = harrell_c(rossi.week, rossi.arrest, risk)
    assert abs(ours - concordance_index(rossi.week, -risk, rossi.arrest)) < TOL
    assert abs(ours - ref.concordance_index_) < TOL
    # heavily tied predictor and tied times
    for col in ("prio", "age", "fin"):
        assert (
            abs(
                harrell_c(rossi.week, rossi.arrest, rossi[col])
                - concordance_index(rossi.week, -rossi[col], rossi.arrest)
            )
            < TOL
        )
    grp = (waltons["group"] != "control").astype(float)
    assert (
        abs(
            harrell_c(waltons["T"], waltons["E"], grp)
            - concordance_index(waltons["T"], -grp, waltons["E"])
        )
        < TOL
    )


def test_harrell_c_equals_lifelines_random_ties(rng):
    for _ in range(100):
        n = int(rng.integers(2, 60))
        t = rng.integers(1, 8, n).astype(float)
        e = rng.integers(0, 2, n)
        r = rng.integers(0, 5, n).astype(float)
        try:
            ref = concordance_index(t, -r, e)
        except ZeroDivisionError:
            continue
        assert abs(harrell_c(t, e, r) - ref) < 1e-12
