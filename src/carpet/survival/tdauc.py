"""Time-dependent discrimination: cumulative/dynamic AUC with IPCW, landmark ROC with Youden.

Risk convention: higher = worse prognosis (see :mod:`carpet.survival.concordance`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from carpet.errors import InputError
from carpet.survival.concordance import (
    _bootstrap_weights,
    censoring_survival,
    check_survival_inputs,
)

__all__ = ["LandmarkRocResult", "TimeDependentAucResult", "cumulative_dynamic_auc", "landmark_roc"]


@dataclasses.dataclass(frozen=True)
class TimeDependentAucResult:
    """Cumulative/dynamic AUC at each time with percentile bootstrap intervals.

    Attributes
    ----------
    times : tuple of float
        Evaluation times (unit of the durations).
    auc, ci_low, ci_high : tuple of float
    n_cases, n_controls : tuple of int
        Patients with an event by ``t`` and patients still event-free after ``t``.
    """

    times: tuple[float, ...]
    auc: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    n_cases: tuple[int, ...]
    n_controls: tuple[int, ...]
    n_bootstrap: int
    confidence_level: float

    def to_dict(self) -> dict[str, object]:
        """JSON-able dictionary."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _weighted_mann_whitney(r, rs, order, case, ctrl, weights, case_weights) -> np.ndarray:
    """Weighted P(r_case > r_control) + ½ P(tie) for each weight row; returns (B,)."""
    wc = weights * ctrl[None, :]
    cs = np.concatenate([np.zeros((weights.shape[0], 1)), np.cumsum(wc[:, order], axis=1)], axis=1)
    ci = np.flatnonzero(case)
    lo = np.searchsorted(rs, r[ci], side="left")
    hi = np.searchsorted(rs, r[ci], side="right")
    below = cs[:, lo]
    equal = cs[:, hi] - cs[:, lo]
    wcase = weights[:, ci] * case_weights[:, ci]
    num = np.sum(wcase * (below + 0.5 * equal), axis=1)
    den = np.sum(wcase, axis=1) * np.sum(wc, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _td_auc_weighted(t, e, r, weights, times) -> np.ndarray:
    """AUC(t) for each weight row (B, n) and time; returns (B, len(times))."""
    g = censoring_survival(t, e, weights, t)  # G(T_i)
    with np.errstate(divide="ignore"):
        ipcw = np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0), 0.0)
    order = np.argsort(r, kind="stable")
    rs = r[order]
    out = np.full((weights.shape[0], len(times)), np.nan)
    for k, tt in enumerate(times):
        case = e & (t <= tt)
        ctrl = t > tt
        if case.any() and ctrl.any():
            out[:, k] = _weighted_mann_whitney(r, rs, order, case, ctrl, weights, ipcw)
    return out


def cumulative_dynamic_auc(
    time,
    event,
    risk,
    times,
    *,
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> TimeDependentAucResult:
    """Cumulative/dynamic time-dependent AUC with inverse-probability-of-censoring weights.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Durations, event indicators (1 = event), risk score (higher = worse).
    times : sequence of float
        Evaluation times, same unit as ``time`` (e.g. 6 and 12 months).
    n_bootstrap : int
        Percentile bootstrap replicates (0: no interval); Ĝ is re-estimated per replicate.
    confidence_level : float
    seed : int

    Returns
    -------
    TimeDependentAucResult

    Notes
    -----
    Cases at ``t``: ``T_i <= t`` and ``E_i = 1``, weighted by ``1 / Ĝ(T_i)``; controls:
    ``T_j > t`` (weight 1). ``AUC(t) = Σ_i Σ_j w_i ([r_i > r_j] + ½[r_i = r_j]) /
    (Σ_i w_i · #controls)``, Ĝ = Kaplan–Meier of the censoring distribution on the same
    data, evaluated at ``T_i`` (scikit-survival's ``cumulative_dynamic_auc`` convention).

    References
    ----------
    Uno H, Cai T, Tian L, Wei LJ. Evaluating prediction rules for t-year survivors with
    censored regression models. J Am Stat Assoc 2007;102(478):527-537. Heagerty PJ, Zheng Y.
    Survival model predictive accuracy and ROC curves. Biometrics 2005;61(1):92-105.

    Examples
    --------
    >>> res = cumulative_dynamic_auc([1, 2, 3, 4], [1, 1, 1, 1], [4, 3, 2, 1], [2.5], n_bootstrap=0)
    >>> res.auc
    (1.0,)
    """
    t, e, r = check_survival_inputs(time, event, ("risk", risk))
    times = tuple(float(x) for x in np.atleast_1d(times))
    if not times:
        raise InputError("times must contain at least one evaluation time", code="SURVIVAL_INPUT")
    n = len(t)
    est = _td_auc_weighted(t, e, r, np.ones((1, n)), times)[0]
    lo = np.full(len(times), np.nan)
    hi = np.full(len(times), np.nan)
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        reps = []
        step = max(1, min(n_bootstrap, 2_000_000 // max(n, 1)))
        for start in range(0, n_bootstrap, step):
            w = _bootstrap_weights(n, min(step, n_bootstrap - start), rng)
            reps.append(_td_auc_weighted(t, e, r, w, times))
        boot = np.concatenate(reps)
        alpha = 1 - confidence_level
        for k in range(len(times)):
            col = boot[:, k][~np.isnan(boot[:, k])]
            if col.size:
                lo[k], hi[k] = np.quantile(col, [alpha / 2, 1 - alpha / 2])
    n_cases = tuple(int((e & (t <= tt)).sum()) for tt in times)
    n_controls = tuple(int((t > tt).sum()) for tt in times)
    return TimeDependentAucResult(
        times,
        tuple(float(x) for x in est),
        tuple(float(x) for x in lo),
        tuple(float(x) for x in hi),
        n_cases,
        n_controls,
        n_bootstrap,
        confidence_level,
    )


@dataclasses.dataclass(frozen=True)
class LandmarkRocResult:
    """ROC of a binary landmark outcome (event by ``landmark``) and the Youden cut-off.

    Attributes
    ----------
    landmark : float
    auc, ci_low, ci_high : float
    youden_cutoff : float
        Risk value ``c`` maximising ``J = sensitivity + specificity - 1`` for the rule
        ``risk >= c`` = positive.
    youden_j, sensitivity, specificity : float
    n_positive, n_negative, n_excluded : int
        Events by the landmark, event-free beyond it, censored before it (excluded).
    fpr, tpr : tuple of float
        The ROC curve.
    """

    landmark: float
    auc: float
    ci_low: float
    ci_high: float
    youden_cutoff: float
    youden_j: float
    sensitivity: float
    specificity: float
    n_positive: int
    n_negative: int
    n_excluded: int
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    n_bootstrap: int
    confidence_level: float

    def to_dict(self) -> dict[str, object]:
        """JSON-able dictionary."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def landmark_roc(
    time,
    event,
    risk,
    landmark: float,
    *,
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> LandmarkRocResult:
    """ROC/AUC for "event by ``landmark``" with the Youden-optimal cut-off.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
    landmark : float
        Landmark time, unit of ``time`` (e.g. 12 months).
    n_bootstrap : int
        Percentile bootstrap replicates of the AUC (resampling the included patients).
    confidence_level : float
    seed : int

    Returns
    -------
    LandmarkRocResult

    Raises
    ------
    InputError
        ``NO_LANDMARK_CONTRAST`` when there are no positives or no negatives.

    Notes
    -----
    Positive: ``E = 1`` and ``T <= landmark``; negative: ``T > landmark``; patients censored
    at or before the landmark are excluded (their outcome is unknown) and counted. AUC by
    :func:`sklearn.metrics.roc_auc_score`; ``J = sens + spec - 1`` (Youden 1950). The Youden
    cut-off is optimised on the same data and is therefore optimistic.

    References
    ----------
    Youden WJ. Index for rating diagnostic tests. Cancer 1950;3(1):32-35.

    Examples
    --------
    >>> res = landmark_roc([1, 2, 13, 14], [1, 1, 0, 1], [9, 8, 2, 1], 12, n_bootstrap=0)
    >>> res.auc, res.youden_cutoff
    (1.0, 8.0)
    """
    t, e, r = check_survival_inputs(time, event, ("risk", risk))
    pos = e & (t <= landmark)
    neg = t > landmark
    keep = pos | neg
    y, s = pos[keep].astype(int), r[keep]
    if y.sum() == 0 or y.sum() == y.size:
        raise InputError(
            f"landmark ROC at {landmark:g}: {int(y.sum())} patients with an event by the landmark and "
            f"{int(y.size - y.sum())} event-free beyond it; need at least one of each",
            code="NO_LANDMARK_CONTRAST",
        )
    auc = float(roc_auc_score(y, s))
    fpr, tpr, thr = roc_curve(y, s)
    j = tpr - fpr
    k = int(np.argmax(j))
    lo = hi = float("nan")
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        order = np.argsort(s, kind="stable")
        case, ctrl = y == 1, y == 0
        parts = []
        step = max(1, min(n_bootstrap, 2_000_000 // y.size))
        for start in range(0, n_bootstrap, step):
            w = _bootstrap_weights(y.size, min(step, n_bootstrap - start), rng)
            parts.append(_weighted_mann_whitney(s, s[order], order, case, ctrl, w, np.ones_like(w)))
        vals = np.concatenate(parts)
        vals = vals[~np.isnan(vals)]
        alpha = 1 - confidence_level
        lo, hi = (float(x) for x in np.quantile(vals, [alpha / 2, 1 - alpha / 2]))
    return LandmarkRocResult(
        float(landmark),
        auc,
        lo,
        hi,
        float(thr[k]),
        float(j[k]),
        float(tpr[k]),
        float(1 - fpr[k]),
        int(y.sum()),
        int(y.size - y.sum()),
        int((~keep).sum()),
        tuple(float(x) for x in fpr),
        tuple(float(x) for x in tpr),
        n_bootstrap,
        confidence_level,
    )
