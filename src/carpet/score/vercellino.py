"""Vercellino 2020 time-of-treatment risk factors: TMTV > 80 mL and >= 2 extranodal sites.

References
----------
Vercellino L, Di Blasi R, Kanoun S, et al. Predictive factors of early progression after
CAR T-cell therapy in relapsed/refractory diffuse large B-cell lymphoma. Blood Adv
2020;4(22):5607-5615. doi:10.1182/bloodadvances.2020003001
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.config import ScoreConfig
from carpet.score._base import ScoreInfo, as_float_array, broadcast, group_labels, points_frame

__all__ = ["INFO", "VERCELLINO_GROUPS", "compute_vercellino"]

_DEFAULTS = ScoreConfig()

INFO = ScoreInfo(
    name="vercellino",
    title="Vercellino 2020 (TMTV + extranodal sites)",
    reference="Vercellino L et al. Blood Adv 2020;4(22):5607-5615",
    verified=False,
    unverified_rules=(
        "the combined 0/1/2 score is [U] (possibly defined only in the 2021 review, Front Oncol "
        "2021;11:664688)",
        "extranodal threshold: the 2020 abstract says >= 2 [C], the 2021 review '> 2'; default >= 2",
        "CRP (also a TT predictor) is not part of this score: its cut-off is [U]",
    ),
)

#: Number of risk factors -> group ([U]).
VERCELLINO_GROUPS = ((0, 0, "0 factors"), (1, 1, "1 factor"), (2, 2, "2 factors"))


def compute_vercellino(
    tmtv_ml,
    extranodal_sites,
    *,
    tmtv_threshold_ml: float = _DEFAULTS.vercellino_tmtv_ml,
    min_extranodal_sites: int = _DEFAULTS.vercellino_min_extranodal_sites,
) -> pd.DataFrame:
    """Number of Vercellino risk factors (0-2): TMTV > threshold, extranodal sites >= minimum.

    Parameters
    ----------
    tmtv_ml : float or array-like
        Total metabolic tumour volume, mL.
    extranodal_sites : int or array-like
        Number of extranodal sites.
    tmtv_threshold_ml : float
        TMTV cut-off, mL (default 80 mL, [C]).
    min_extranodal_sites : int
        Extranodal sites needed for the factor (default 2, i.e. ">= 2"; use 3 for the
        review's "> 2").

    Returns
    -------
    pandas.DataFrame
        ``vercellino_points`` (0-2) and ``vercellino_group``.

    Notes
    -----
    ``points = [TMTV > tmtv_threshold_ml] + [EN >= min_extranodal_sites]``.

    References
    ----------
    Vercellino L et al. Blood Adv 2020;4(22):5607. Vercellino L et al. Front Oncol
    2021;11:664688.

    Examples
    --------
    >>> compute_vercellino([80.0, 80.1], [1, 2])["vercellino_points"].tolist()
    [0.0, 2.0]
    """
    tmtv, en = broadcast(
        as_float_array(tmtv_ml, "tmtv_ml"), as_float_array(extranodal_sites, "extranodal_sites")
    )
    with np.errstate(invalid="ignore"):
        points = (tmtv > tmtv_threshold_ml).astype(float) + (en >= min_extranodal_sites).astype(
            float
        )
    points[np.isnan(tmtv) | np.isnan(en)] = np.nan
    return points_frame("vercellino", points, group_labels(points, VERCELLINO_GROUPS))
