"""Dean 2020: high vs low metabolic tumour volume before axi-cel (split at 147.5 mL).

References
----------
Dean EA, Mhaskar RS, Lu H, et al. High metabolic tumor volume is associated with decreased
efficacy of axicabtagene ciloleucel in large B-cell lymphoma. Blood Adv 2020;4(14):3268-3276.
doi:10.1182/bloodadvances.2020001900
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.config import ScoreConfig
from carpet.score._base import ScoreInfo, as_float_array, points_frame

__all__ = ["INFO", "compute_dean"]

_DEFAULTS = ScoreConfig()

INFO = ScoreInfo(
    name="dean",
    title="Dean 2020 MTV split",
    reference="Dean EA et al. Blood Adv 2020;4(14):3268-3276",
    verified=False,
    unverified_rules=(
        "handling of MTV exactly 147.5 mL is [U]; implemented as MTV > 147.5 = high",
    ),
)


def compute_dean(mtv_ml, *, threshold_ml: float = _DEFAULTS.dean_mtv_ml) -> pd.DataFrame:
    """Dean high-MTV flag (1 = MTV > threshold).

    Parameters
    ----------
    mtv_ml : float or array-like
        (Total) metabolic tumour volume, mL.
    threshold_ml : float
        Cut-off, mL (default 147.5 mL: the training-cohort median, [C]).

    Returns
    -------
    pandas.DataFrame
        ``dean_points`` (0/1) and ``dean_group`` (``low``/``high``).

    Notes
    -----
    ``high = MTV > threshold_ml``. The cut-off came from another segmentation method;
    published MTV cut-offs are not portable between methods (methods.md intro).

    References
    ----------
    Dean EA et al. Blood Adv 2020;4(14):3268-3276.

    Examples
    --------
    >>> compute_dean([147.5, 147.6])["dean_group"].tolist()
    ['low', 'high']
    """
    mtv = as_float_array(mtv_ml, "mtv_ml")
    with np.errstate(invalid="ignore"):
        points = (mtv > threshold_ml).astype(float)
    points[np.isnan(mtv)] = np.nan
    groups = [None if np.isnan(p) else ("high" if p else "low") for p in points]
    return points_frame("dean", points, groups)
