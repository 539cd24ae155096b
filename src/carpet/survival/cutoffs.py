"""Optimal cut-off by maximally selected log-rank statistics, with an honest p-value.

A cut-off chosen to maximise the separation of two groups is optimistic: its naive
log-rank p-value is far too small. We report the p-value adjusted for the search (a
permutation test of the maximum statistic, and the Lausen–Schumacher approximation) and,
optionally, a cross-validated cut-off whose log-rank test on held-out groups is honest.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from scipy import stats

from carpet.errors import InputError, StatisticalWarning
from carpet.survival.concordance import check_survival_inputs

__all__ = [
    "CutoffResult",
    "cross_validated_cutoff",
    "lausen_schumacher_p",
    "logrank_scores",
    "maxstat_cutoff",
]

OPTIMISM_WARNING = (
    "the cut-off was optimised on these data: its effect size is optimistic and must be "
    "validated in an independent cohort; use the search-adjusted p-value, not the naive one"
)


def logrank_scores(time, event) -> np.ndarray:
    """Log-rank (Savage) scores ``a_i = E_i - Σ_{j: T_j <= T_i} d_j / n_j``.

    Notes
    -----
    ``d_j`` events and ``n_j`` at risk at distinct time ``T_j``. The standardised linear rank
    statistic of a split with these scores is the statistic of R ``maxstat`` with
    ``smethod = "LogRank"``.

    References
    ----------
    Hothorn T, Lausen B. On the exact distribution of maximally selected rank statistics.
    Comput Stat Data Anal 2003;43:121-137.

    Examples
    --------
    >>> logrank_scores([1, 2, 3], [1, 1, 1]).round(4).tolist()
    [0.6667, 0.1667, -0.8333]
    """
    t, e = check_survival_inputs(time, event)
    uniq = np.unique(t)
    n_at = np.array([(t >= u).sum() for u in uniq], dtype=float)
    d = np.array([((t == u) & e).sum() for u in uniq], dtype=float)
    cum = np.cumsum(d / n_at)
    return e.astype(float) - cum[np.searchsorted(uniq, t)]


def lausen_schumacher_p(
    statistic: float, minprop: float = 0.1, maxprop: float | None = None
) -> float:
    """Lausen–Schumacher (Miller–Siegmund) approximation of P(max |S| > b).

    Parameters
    ----------
    statistic : float
        Observed maximum of the absolute standardised statistic, ``b``.
    minprop, maxprop : float
        Fraction of patients below the smallest / largest candidate cut-off.

    Returns
    -------
    float
        Approximate adjusted p-value (clipped to [0, 1]).

    Notes
    -----
    ``p ≈ φ(b)(b - 1/b) ln[ε₂(1 - ε₁) / (ε₁(1 - ε₂))] + 4 φ(b)/b`` with ε₁ = minprop and
    ε₂ = maxprop (methods.md §7.2; recalled as R maxstat's ``pLausen92``, [U]: not checked
    against the maxstat source). Conservative for small ``b``.

    References
    ----------
    Lausen B, Schumacher M. Maximally selected rank statistics. Biometrics
    1992;48(1):73-85. Miller R, Siegmund D. Maximally selected chi square statistics.
    Biometrics 1982;38:1011-1016.

    Examples
    --------
    >>> round(lausen_schumacher_p(3.0), 4)
    0.0578
    """
    maxprop = 1 - minprop if maxprop is None else maxprop
    b = float(statistic)
    if b <= 0:
        return 1.0
    phi = stats.norm.pdf(b)
    p = (
        phi * (b - 1 / b) * np.log(maxprop * (1 - minprop) / ((1 - maxprop) * minprop))
        + 4 * phi / b
    )
    return float(min(max(p, 0.0), 1.0))


@dataclasses.dataclass(frozen=True)
class CutoffResult:
    """A maximally selected cut-off.

    Attributes
    ----------
    cutoff : float
        Patients with ``value > cutoff`` form the high group.
    statistic : float
        Maximum absolute standardised log-rank statistic.
    p_naive : float
        Unadjusted two-sided p of that statistic (optimistic; for reference only).
    p_permutation : float
        Permutation p of the maximum (``(1 + #{max* >= max}) / (1 + B)``); NaN if B = 0.
    p_lausen_schumacher : float
    n_low, n_high : int
    candidates, statistics : tuple of float
        The scanned cut-offs and their standardised statistics (for plotting).
    minprop : float
    n_permutations : int
    warning : str
        The optimism warning, repeated in every output.
    """

    cutoff: float
    statistic: float
    p_naive: float
    p_permutation: float
    p_lausen_schumacher: float
    n_low: int
    n_high: int
    candidates: tuple[float, ...]
    statistics: tuple[float, ...]
    minprop: float
    n_permutations: int
    warning: str = OPTIMISM_WARNING

    def to_dict(self) -> dict[str, object]:
        """JSON-able dictionary."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _scan(values_sorted: np.ndarray, scores_sorted: np.ndarray, cut_idx: np.ndarray) -> np.ndarray:
    """Standardised statistics of the splits after ``cut_idx`` (rows: permutations)."""
    n = values_sorted.size
    a = scores_sorted
    abar = a.mean(axis=-1, keepdims=True)
    s2 = np.sum((a - abar) ** 2, axis=-1, keepdims=True) / (n - 1)
    suffix = np.cumsum(a[..., ::-1], axis=-1)[..., ::-1]  # sum of scores from position k on
    m = n - (cut_idx + 1)  # size of the high group
    s = suffix[..., cut_idx + 1]
    expected = m * abar
    var = m * (n - m) / n * s2
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s - expected) / np.sqrt(var)


def maxstat_cutoff(
    time,
    event,
    values,
    *,
    minprop: float = 0.1,
    n_permutations: int = 2000,
    seed: int = 0,
    warn: bool = True,
) -> CutoffResult:
    """Cut-off of ``values`` that maximises the standardised log-rank statistic.

    Parameters
    ----------
    time, event : array-like of shape (n,)
    values : array-like of shape (n,)
        Continuous biomarker (e.g. TMTV in mL).
    minprop : float
        At least this fraction of patients in each group (default 0.1: cut-offs between the
        10th and 90th percentiles).
    n_permutations : int
        Permutations of the scores for the adjusted p-value (0 to skip).
    seed : int
    warn : bool
        Issue the optimism :class:`~carpet.errors.StatisticalWarning`.

    Returns
    -------
    CutoffResult

    Notes
    -----
    For each candidate ``c`` (distinct values with at least ``minprop`` of patients on each
    side), ``S(c) = (Σ_{x_i > c} a_i - m ā) / sqrt(m (n - m)/n · s²)`` with log-rank scores
    ``a`` (:func:`logrank_scores`), ``m`` the high-group size and ``s²`` the score variance.
    ``M = max_c |S(c)|``. The permutation p permutes ``a`` against ``x`` and recomputes
    ``M`` (exact in distribution given the scores).

    References
    ----------
    Lausen B, Schumacher M. Maximally selected rank statistics. Biometrics 1992;48:73-85.
    Hothorn T, Lausen B. Comput Stat Data Anal 2003;43:121-137.

    Examples
    --------
    >>> t = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    >>> res = maxstat_cutoff(t, [1] * 10, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], n_permutations=0, warn=False)
    >>> res.n_high + res.n_low
    10
    """
    t, e, x = check_survival_inputs(time, event, ("values", values))
    if not 0 < minprop < 0.5:
        raise InputError(f"minprop must be in (0, 0.5); got {minprop}", code="SURVIVAL_INPUT")
    n = t.size
    order = np.argsort(x, kind="stable")
    xs = x[order]
    a = logrank_scores(t, e)[order]
    # candidate positions k: cut between xs[k] and xs[k+1] where values differ
    k = np.flatnonzero(np.diff(xs) > 0)
    low_n = k + 1
    k = k[(low_n >= np.ceil(minprop * n)) & (n - low_n >= np.ceil(minprop * n))]
    if k.size == 0:
        raise InputError(
            f"no candidate cut-off leaves at least {minprop:.0%} of the {n} patients in each group "
            f"({np.unique(x).size} distinct values)",
            code="NO_CUTOFF_CANDIDATES",
        )
    stat = _scan(xs, a, k)
    best = int(np.nanargmax(np.abs(stat)))
    m_obs = float(np.abs(stat[best]))
    p_perm = float("nan")
    if n_permutations > 0:
        rng = np.random.default_rng(seed)
        exceed = 0
        step = max(1, min(n_permutations, 2_000_000 // n))
        for start in range(0, n_permutations, step):
            bsz = min(step, n_permutations - start)
            perm = rng.permuted(np.broadcast_to(a, (bsz, n)), axis=1)
            m_star = np.nanmax(np.abs(_scan(xs, perm, k)), axis=1)
            exceed += int((m_star >= m_obs - 1e-12).sum())
        p_perm = (1 + exceed) / (1 + n_permutations)
    lo_frac = (k[0] + 1) / n
    hi_frac = (k[-1] + 1) / n
    cut = float(xs[k[best]])
    if warn:
        warnings.warn(f"cut-off {cut:g}: {OPTIMISM_WARNING}", StatisticalWarning, stacklevel=2)
    return CutoffResult(
        cutoff=cut,
        statistic=m_obs,
        p_naive=float(2 * stats.norm.sf(m_obs)),
        p_permutation=p_perm,
        p_lausen_schumacher=lausen_schumacher_p(m_obs, lo_frac, hi_frac),
        n_low=int(k[best] + 1),
        n_high=int(n - k[best] - 1),
        candidates=tuple(float(v) for v in xs[k]),
        statistics=tuple(float(v) for v in stat),
        minprop=minprop,
        n_permutations=n_permutations,
    )


def cross_validated_cutoff(
    time,
    event,
    values,
    *,
    n_folds: int = 5,
    minprop: float = 0.1,
    seed: int = 0,
) -> dict[str, object]:
    """K-fold cross-validated cut-off: each fold is classified by a cut-off found without it.

    Parameters
    ----------
    time, event, values : array-like of shape (n,)
    n_folds : int
    minprop : float
    seed : int
        Seed of the fold assignment.

    Returns
    -------
    dict
        ``fold_cutoffs`` (list), ``high`` (bool per patient, cross-validated), and the
        log-rank ``statistic``/``p_value`` of the cross-validated groups, which is not
        optimistic because no patient's group depends on its own outcome.

    Notes
    -----
    Folds are a seeded random partition. The log-rank test is lifelines'.

    References
    ----------
    Faraggi D, Simon R. A simulation study of cross-validation for selecting an optimal
    cutpoint in univariate survival analysis. Stat Med 1996;15(20):2203-2213.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.lognormal(4, 1, 60); t = rng.exponential(20 / np.log(x)); e = np.ones(60)
    >>> res = cross_validated_cutoff(t, e, x, n_folds=3)
    >>> len(res["fold_cutoffs"])
    3
    """
    from lifelines.statistics import logrank_test

    t, e, x = check_survival_inputs(time, event, ("values", values))
    if n_folds < 2 or n_folds > t.size:
        raise InputError(
            f"n_folds must be between 2 and {t.size}; got {n_folds}", code="SURVIVAL_INPUT"
        )
    rng = np.random.default_rng(seed)
    fold = rng.permutation(np.arange(t.size) % n_folds)
    high = np.zeros(t.size, dtype=bool)
    cuts = []
    for f in range(n_folds):
        train = fold != f
        res = maxstat_cutoff(
            t[train], e[train], x[train], minprop=minprop, n_permutations=0, warn=False
        )
        cuts.append(res.cutoff)
        high[~train] = x[~train] > res.cutoff
    if high.all() or not high.any():
        stat, p = float("nan"), float("nan")
    else:
        lr = logrank_test(t[high], t[~high], e[high], e[~high])
        stat, p = float(lr.test_statistic), float(lr.p_value)
    return {"fold_cutoffs": cuts, "high": high, "statistic": stat, "p_value": p, "n_folds": n_folds}
