"""Kaplan–Meier, log-rank (k groups and trend) and Cox models, with lifelines as the engine.

Thin, unit-aware wrappers: inputs are durations (months in carpet's cohort analysis) and
event indicators; outputs are result objects with a tidy ``summary`` DataFrame. Only the
log-rank test for trend is our own code (lifelines has none).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from carpet.errors import InputError, StatisticalWarning
from carpet.survival.concordance import check_survival_inputs

__all__ = [
    "CoxResult",
    "KaplanMeierResult",
    "LogrankResult",
    "fit_cox",
    "kaplan_meier",
    "logrank",
    "logrank_trend",
]


@dataclasses.dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan–Meier curves by group.

    Attributes
    ----------
    curves : dict
        Group -> DataFrame with ``time``, ``survival``, ``ci_low``, ``ci_high`` (step function).
    summary : pandas.DataFrame
        One row per group: ``group``, ``n``, ``events``, ``median``, ``median_ci_low``,
        ``median_ci_high`` and ``survival_at_<t>`` columns for the requested landmark times.
    at_risk : pandas.DataFrame
        Number at risk per group (rows) at each time of ``at_risk_times`` (columns).
    """

    curves: dict[str, pd.DataFrame]
    summary: pd.DataFrame
    at_risk: pd.DataFrame


def kaplan_meier(
    time,
    event,
    groups=None,
    *,
    at_risk_times=(0.0, 3.0, 6.0, 9.0, 12.0, 18.0, 24.0),
    survival_times=(6.0, 12.0),
    confidence_level: float = 0.95,
) -> KaplanMeierResult:
    """Kaplan–Meier estimates (lifelines ``KaplanMeierFitter``) per group.

    Parameters
    ----------
    time : array-like of shape (n,)
        Durations (e.g. months since infusion).
    event : array-like of shape (n,)
        1 = event, 0 = censored.
    groups : array-like of shape (n,), optional
        Group labels; one curve ("all") if omitted. Groups are ordered by sorted label.
    at_risk_times, survival_times : sequence of float
        Times of the at-risk table and of the landmark survival probabilities.
    confidence_level : float

    Returns
    -------
    KaplanMeierResult

    Notes
    -----
    ``S(t) = Π_{t_i <= t} (1 - d_i / n_i)``; Greenwood variance with lifelines' exponential
    (log(-log)) confidence interval; the median's CI is lifelines'
    ``median_survival_times(confidence_interval_)``.

    References
    ----------
    Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat
    Assoc 1958;53(282):457-481.

    Examples
    --------
    >>> km = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])
    >>> float(km.summary["median"].iloc[0])
    2.0
    """
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    t, e = check_survival_inputs(time, event)
    g = (
        np.array(["all"] * len(t), dtype=object)
        if groups is None
        else np.asarray(groups, dtype=object)
    )
    if len(g) != len(t):
        raise InputError(
            f"groups has {len(g)} values but there are {len(t)} durations", code="SURVIVAL_INPUT"
        )
    curves, rows, risk_rows = {}, [], {}
    for label in sorted(pd.unique(g), key=str):
        m = g == label
        kmf = KaplanMeierFitter(alpha=1 - confidence_level).fit(t[m], e[m], label=str(label))
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        curves[str(label)] = pd.DataFrame(
            {
                "time": sf.index.to_numpy(),
                "survival": sf.to_numpy(),
                "ci_low": ci.iloc[:, 0].to_numpy(),
                "ci_high": ci.iloc[:, 1].to_numpy(),
            }
        )
        med_ci = median_survival_times(kmf.confidence_interval_)
        row = {
            "group": str(label),
            "n": int(m.sum()),
            "events": int(e[m].sum()),
            "median": float(kmf.median_survival_time_),
            "median_ci_low": float(med_ci.iloc[0, 0]),
            "median_ci_high": float(med_ci.iloc[0, 1]),
        }
        for st in survival_times:
            row[f"survival_at_{st:g}"] = float(kmf.survival_function_at_times(st).iloc[0])
        rows.append(row)
        risk_rows[str(label)] = [int((t[m] >= at).sum()) for at in at_risk_times]
    at_risk = pd.DataFrame.from_dict(
        risk_rows, orient="index", columns=[float(a) for a in at_risk_times]
    )
    return KaplanMeierResult(curves, pd.DataFrame(rows), at_risk)


@dataclasses.dataclass(frozen=True)
class LogrankResult:
    """Result of a log-rank test.

    Attributes
    ----------
    statistic : float
        Chi-square statistic.
    df : int
        Degrees of freedom.
    p_value : float
    test : str
        ``"logrank"`` or ``"logrank_trend"``.
    groups : tuple of str
    scores : tuple of float or None
        Group scores of the trend test.
    """

    statistic: float
    df: int
    p_value: float
    test: str
    groups: tuple[str, ...]
    scores: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-able dictionary."""
        return dataclasses.asdict(self)


def logrank(time, event, groups) -> LogrankResult:
    """Log-rank test across k groups (lifelines ``multivariate_logrank_test``).

    Parameters
    ----------
    time, event : array-like of shape (n,)
    groups : array-like of shape (n,)
        Group labels (at least two distinct).

    Returns
    -------
    LogrankResult

    Notes
    -----
    ``χ² = (O - E)ᵀ V⁻ (O - E)`` on k - 1 degrees of freedom, with hypergeometric variance.

    References
    ----------
    Mantel N. Evaluation of survival data and two new rank order statistics arising in its
    consideration. Cancer Chemother Rep 1966;50(3):163-170.

    Examples
    --------
    >>> res = logrank([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1], ["a", "a", "a", "b", "b", "b"])
    >>> res.df
    1
    """
    from lifelines.statistics import multivariate_logrank_test

    t, e = check_survival_inputs(time, event)
    g = np.asarray(groups, dtype=object)
    labels = tuple(str(x) for x in sorted(pd.unique(g), key=str))
    if len(labels) < 2:
        raise InputError(
            f"log-rank test needs at least 2 groups; got {list(labels)}", code="SURVIVAL_INPUT"
        )
    res = multivariate_logrank_test(t, g.astype(str), e)
    return LogrankResult(
        float(res.test_statistic),
        int(res.degrees_of_freedom),
        float(res.p_value),
        "logrank",
        labels,
    )


def logrank_trend(time, event, groups, scores=None) -> LogrankResult:
    """Log-rank test for trend across ordered groups (our code; not in lifelines).

    Parameters
    ----------
    time, event : array-like of shape (n,)
    groups : array-like of shape (n,)
        Ordered group values. If numeric and ``scores`` is omitted, the values themselves
        are the scores (e.g. IPI points 0-5); otherwise groups are ordered by sorted label and
        scored 0, 1, 2, ...
    scores : mapping or sequence, optional
        Score per group (mapping label -> score, or a sequence in sorted-label order).

    Returns
    -------
    LogrankResult
        ``df = 1``.

    Notes
    -----
    With ``U = O - E`` (observed minus expected events per group, summed over distinct
    event times) and ``V`` its hypergeometric covariance,
    ``χ²_trend = (sᵀU)² / (sᵀ V s)`` on 1 df. For two groups it equals the log-rank test.

    References
    ----------
    Collett D. Modelling Survival Data in Medical Research, 3rd ed. CRC Press 2015, §2.6.
    Peto R, Pike MC. Conservatism of the approximation Σ(O-E)²/E in the logrank test.
    Biometrics 1973;29:153-167.

    Examples
    --------
    >>> res = logrank_trend([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1], [2, 2, 1, 1, 0, 0])
    >>> res.df, res.p_value < 0.05
    (1, True)
    """
    t, e = check_survival_inputs(time, event)
    g = np.asarray(groups, dtype=object)
    labels = sorted(pd.unique(g), key=lambda x: (isinstance(x, str), x))
    if len(labels) < 2:
        raise InputError(f"trend test needs at least 2 groups; got {labels}", code="SURVIVAL_INPUT")
    if scores is None:
        try:
            s = np.array([float(x) for x in labels])
        except (TypeError, ValueError):
            s = np.arange(len(labels), dtype=float)
    elif isinstance(scores, dict):
        s = np.array([float(scores[x]) for x in labels])
    else:
        s = np.asarray(scores, dtype=float)
        if len(s) != len(labels):
            raise InputError(f"{len(s)} scores for {len(labels)} groups", code="SURVIVAL_INPUT")
    idx = np.array([labels.index(x) for x in g])
    k = len(labels)
    u = np.zeros(k)
    v = np.zeros((k, k))
    for tt in np.unique(t[e]):
        at_risk = t >= tt
        n_j = np.bincount(idx[at_risk], minlength=k).astype(float)
        d_j = np.bincount(idx[(t == tt) & e], minlength=k).astype(float)
        n, d = n_j.sum(), d_j.sum()
        u += d_j - d * n_j / n
        if n > 1:
            p = n_j / n
            v += d * (n - d) / (n - 1) * (np.diag(p) - np.outer(p, p))
    num = float(s @ u) ** 2
    den = float(s @ v @ s)
    stat = num / den if den > 0 else float("nan")
    p = float(stats.chi2.sf(stat, 1)) if den > 0 else float("nan")
    return LogrankResult(
        stat, 1, p, "logrank_trend", tuple(str(x) for x in labels), tuple(float(x) for x in s)
    )


@dataclasses.dataclass(frozen=True)
class CoxResult:
    """A fitted Cox proportional-hazards model.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per covariate: ``covariate``, ``coef``, ``hr``, ``hr_ci_low``, ``hr_ci_high``,
        ``p_value``, ``ph_test_p`` (Schoenfeld-residual test, rank time transform) and
        ``unit`` (what a one-unit change means).
    n, n_events : int
    concordance : float
        Harrell's C of the linear predictor (lifelines).
    log_likelihood, aic : float
        Partial log-likelihood and AIC (lifelines ``AIC_partial_``).
    ph_violated : tuple of str
        Covariates with PH test p < 0.05.
    """

    summary: pd.DataFrame
    n: int
    n_events: int
    concordance: float
    log_likelihood: float
    aic: float
    ph_violated: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-able dictionary."""
        return {
            "summary": self.summary.to_dict(orient="records"),
            "n": self.n,
            "n_events": self.n_events,
            "concordance": self.concordance,
            "log_likelihood": self.log_likelihood,
            "aic": self.aic,
            "ph_violated": list(self.ph_violated),
        }


def fit_cox(
    data: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates,
    *,
    units: dict[str, str] | None = None,
    confidence_level: float = 0.95,
    check_ph: bool = True,
) -> CoxResult:
    """Cox proportional-hazards model (lifelines ``CoxPHFitter``, Efron ties).

    Parameters
    ----------
    data : pandas.DataFrame
        Complete cases (no missing values in the used columns).
    duration_col, event_col : str
    covariates : sequence of str
        Numeric covariates (one: univariable; several: multivariable).
    units : dict, optional
        Covariate -> description of one unit (e.g. ``"doubling of TMTV (log2(mL + 1))"``).
    confidence_level : float
    check_ph : bool
        Run lifelines' ``proportional_hazard_test`` (rank transform).

    Returns
    -------
    CoxResult

    Raises
    ------
    InputError
        ``SURVIVAL_INPUT`` when columns are missing or contain missing values.

    Notes
    -----
    ``h(t | x) = h0(t) exp(βᵀx)``; ``HR = exp(β)`` with Wald CI ``exp(β ± z σ)``. A
    :class:`~carpet.errors.StatisticalWarning` is issued for fewer than 10 events per
    covariate and for PH violations.

    References
    ----------
    Cox DR. Regression models and life-tables. J R Stat Soc B 1972;34(2):187-220.
    Grambsch PM, Therneau TM. Proportional hazards tests and diagnostics based on weighted
    residuals. Biometrika 1994;81(3):515-526.

    Examples
    --------
    >>> from lifelines.datasets import load_rossi
    >>> res = fit_cox(load_rossi(), "week", "arrest", ["age"], check_ph=False)
    >>> round(float(res.summary["hr"].iloc[0]), 4)
    0.9297
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    covariates = list(covariates)
    cols = [duration_col, event_col, *covariates]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise InputError(f"Cox model: column(s) {missing} not in the table", code="SURVIVAL_INPUT")
    df = data[cols].astype(float)
    if df.isna().any().any():
        bad = df.columns[df.isna().any()].tolist()
        raise InputError(
            f"Cox model: missing values in {bad}; use complete cases", code="SURVIVAL_INPUT"
        )
    check_survival_inputs(df[duration_col], df[event_col])
    n_events = int(df[event_col].sum())
    if n_events < 10 * len(covariates):
        warnings.warn(
            f"Cox model with {len(covariates)} covariate(s) and only {n_events} events "
            "(< 10 events per covariate): estimates may be unstable",
            StatisticalWarning,
            stacklevel=2,
        )
    cph = CoxPHFitter(alpha=1 - confidence_level)
    cph.fit(df, duration_col=duration_col, event_col=event_col)
    s = cph.summary
    lo_col = [c for c in s.columns if c.startswith("exp(coef) lower")][0]
    hi_col = [c for c in s.columns if c.startswith("exp(coef) upper")][0]
    ph_p = dict.fromkeys(covariates, float("nan"))
    if check_ph:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = proportional_hazard_test(cph, df, time_transform="rank")
        for cov in covariates:
            ph_p[cov] = float(ph.summary.loc[cov, "p"])
    units = units or {}
    summary = pd.DataFrame(
        {
            "covariate": covariates,
            "coef": [float(s.loc[c, "coef"]) for c in covariates],
            "hr": [float(s.loc[c, "exp(coef)"]) for c in covariates],
            "hr_ci_low": [float(s.loc[c, lo_col]) for c in covariates],
            "hr_ci_high": [float(s.loc[c, hi_col]) for c in covariates],
            "p_value": [float(s.loc[c, "p"]) for c in covariates],
            "ph_test_p": [ph_p[c] for c in covariates],
            "unit": [units.get(c, f"1 unit of {c}") for c in covariates],
        }
    )
    violated = tuple(c for c in covariates if ph_p[c] < 0.05)
    if violated:
        warnings.warn(
            f"proportional-hazards assumption questionable for {list(violated)} (Schoenfeld test p < 0.05)",
            StatisticalWarning,
            stacklevel=2,
        )
    return CoxResult(
        summary,
        len(df),
        n_events,
        float(cph.concordance_index_),
        float(cph.log_likelihood_),
        float(cph.AIC_partial_),
        violated,
    )
