"""International Metabolic Prognostic Index (IMPI), linear predictor only.

References
----------
Mikhaeel NG, Heymans MW, Eertink JJ, et al. Proposed new dynamic prognostic index for
diffuse large B-cell lymphoma: International Metabolic Prognostic Index. J Clin Oncol
2022;40(21):2352-2360. doi:10.1200/JCO.21.02063
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.config import ScoreConfig
from carpet.score._base import ScoreInfo, as_float_array, broadcast

__all__ = ["IMPI_COEFFICIENTS", "INFO", "compute_impi", "rank_impi_in_cohort"]

_DEFAULTS = ScoreConfig()

#: Coefficients [S] (quoted in the Kameda validation abstract, methods.md §3.1).
IMPI_COEFFICIENTS = {
    "mtv_lower": 0.003077330,
    "mtv_upper": -0.002761985,
    "age": 0.008092449,
    "stage2": -0.114645415,
    "stage3": 0.281141117,
    "stage4": 0.322247142,
}

INFO = ScoreInfo(
    name="impi",
    title="International Metabolic Prognostic Index (linear predictor)",
    reference="Mikhaeel NG et al. J Clin Oncol 2022;40(21):2352-2360",
    verified=False,
    unverified_rules=(
        "coefficients are [S]: quoted in a later abstract, not read in the JCO paper",
        "spline parameterisation MTV_lower = MTV, MTV_upper = max(MTV - 307.9, 0) is [U]",
        "baseline survival, PFS-vs-OS model and 10/30/60 % group cut-offs are [U]: only the "
        "linear predictor is given; derived in first-line R-CHOP, not CAR T",
    ),
)


def compute_impi(
    mtv_ml, age_years, ann_arbor_stage, *, knot_ml: float = _DEFAULTS.impi_knot_ml
) -> pd.DataFrame:
    """IMPI linear predictor (higher = higher risk).

    Parameters
    ----------
    mtv_ml : float or array-like
        Total metabolic tumour volume, mL (= cm^3).
    age_years : float or array-like
        Age in years.
    ann_arbor_stage : int or array-like
        Ann Arbor stage 1-4 (stage I is the reference).
    knot_ml : float
        Spline knot, mL (default 307.9 mL, the median MTV of the derivation set).

    Returns
    -------
    pandas.DataFrame
        ``impi_lp``.

    Notes
    -----
    ``LP = 0.003077330 MTV_lower - 0.002761985 MTV_upper + 0.008092449 Age
    - 0.114645415 [stage 2] + 0.281141117 [stage 3] + 0.322247142 [stage 4]`` with
    ``MTV_lower = MTV`` and ``MTV_upper = max(MTV - knot, 0)`` (R ``rms::lsp``
    parameterisation, [U]). Slope 0.00308 per mL below the knot, 0.00032 above.

    References
    ----------
    Mikhaeel NG et al. J Clin Oncol 2022;40(21):2352-2360. doi:10.1200/JCO.21.02063

    Examples
    --------
    >>> round(float(compute_impi(100.0, 60, 1)["impi_lp"][0]), 6)
    0.79328
    """
    mtv, age, stage = broadcast(
        as_float_array(mtv_ml, "mtv_ml"),
        as_float_array(age_years, "age_years"),
        as_float_array(ann_arbor_stage, "ann_arbor_stage"),
    )
    c = IMPI_COEFFICIENTS
    with np.errstate(invalid="ignore"):
        upper = np.maximum(mtv - knot_ml, 0.0)
        lp = (
            c["mtv_lower"] * mtv
            + c["mtv_upper"] * upper
            + c["age"] * age
            + c["stage2"] * (stage == 2)
            + c["stage3"] * (stage == 3)
            + c["stage4"] * (stage == 4)
        )
    lp[np.isnan(mtv) | np.isnan(age) | np.isnan(stage)] = np.nan
    return pd.DataFrame({"impi_lp": lp})


def rank_impi_in_cohort(impi_lp) -> list[str | None]:
    """Group patients by their IMPI rank within this cohort: highest 10 %, next 30 %, lowest 60 %.

    Parameters
    ----------
    impi_lp : array-like of shape (n,)
        IMPI linear predictors (NaN = missing).

    Returns
    -------
    list of str or None
        Group per patient (``None`` where the LP is missing).

    Notes
    -----
    The published IMPI risk groups are the 10 % highest, 30 % intermediate and 60 % lowest
    risk [C], but their LP cut-offs are [U]; until verified, carpet ranks patients *within the
    analysed cohort* (methods.md §3.1): a patient is in the top group if fewer than 10 % of
    the cohort have a higher LP (ties share the group). This is not the published
    calibration and is labelled so in reports.

    References
    ----------
    Mikhaeel NG et al. J Clin Oncol 2022;40(21):2352-2360.

    Examples
    --------
    >>> rank_impi_in_cohort(list(range(10)))[-1], rank_impi_in_cohort(list(range(10)))[0]
    ('highest 10 %', 'lowest 60 %')
    """
    lp = np.asarray(impi_lp, dtype=float)
    ok = ~np.isnan(lp)
    out: list[str | None] = [None] * lp.size
    vals = lp[ok]
    if vals.size == 0:
        return out
    for k in np.flatnonzero(ok):
        frac_higher = np.mean(vals > lp[k])
        if frac_higher < 0.10:
            out[k] = "highest 10 %"
        elif frac_higher < 0.40:
            out[k] = "intermediate 30 %"
        else:
            out[k] = "lowest 60 %"
    return out
