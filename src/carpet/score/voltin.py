"""Voltin 2023 optimal cut-offs: MTV > 11 mL and SUVmax > 16.7.

References
----------
Voltin C-A, Gödel P, Beckmann L, et al. Outcome prediction in patients with large B-cell
lymphoma undergoing chimeric antigen receptor T-cell therapy. HemaSphere 2023;7(1):e817.
doi:10.1097/HS9.0000000000000817
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.config import ScoreConfig
from carpet.score._base import ScoreInfo, as_float_array, broadcast, points_frame

__all__ = ["INFO", "compute_voltin"]

_DEFAULTS = ScoreConfig()

INFO = ScoreInfo(
    name="voltin",
    title="Voltin 2023 MTV / SUVmax cut-offs",
    reference="Voltin C-A et al. HemaSphere 2023;7(1):e817",
    verified=False,
    unverified_rules=(
        "equality handling at 11 mL / 16.7 is [U] (implemented as '>')",
        "the 4 MTV-based scores and the MTV cut-off of Voltin JNM 2026 are [U] and not implemented",
    ),
)


def compute_voltin(
    mtv_ml,
    suv_max,
    *,
    mtv_threshold_ml: float = _DEFAULTS.voltin_mtv_ml,
    suv_max_threshold: float = _DEFAULTS.voltin_suv_max,
) -> pd.DataFrame:
    """Voltin high-MTV and high-SUVmax flags and their sum (0-2).

    Parameters
    ----------
    mtv_ml : float or array-like
        Metabolic tumour volume, mL.
    suv_max : float or array-like
        SUVmax, SUVbw (g/mL).
    mtv_threshold_ml, suv_max_threshold : float
        Cut-offs (defaults 11 mL and 16.7, [C] HemaSphere 2023 optimal thresholds).

    Returns
    -------
    pandas.DataFrame
        ``voltin_points`` (0-2), ``voltin_mtv_high`` and ``voltin_suv_max_high``.

    Notes
    -----
    ``points = [MTV > mtv_threshold_ml] + [SUVmax > suv_max_threshold]``; the sum is a
    convenience of carpet, not a published score.

    References
    ----------
    Voltin C-A et al. HemaSphere 2023;7(1):e817.

    Examples
    --------
    >>> compute_voltin([11.0, 11.1], [16.7, 16.8])["voltin_points"].tolist()
    [0.0, 2.0]
    """
    mtv, suv = broadcast(as_float_array(mtv_ml, "mtv_ml"), as_float_array(suv_max, "suv_max"))
    with np.errstate(invalid="ignore"):
        mtv_high = (mtv > mtv_threshold_ml).astype(float)
        suv_high = (suv > suv_max_threshold).astype(float)
    mtv_high[np.isnan(mtv)] = np.nan
    suv_high[np.isnan(suv)] = np.nan
    return points_frame(
        "voltin", mtv_high + suv_high, None, voltin_mtv_high=mtv_high, voltin_suv_max_high=suv_high
    )
