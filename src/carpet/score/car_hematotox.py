"""CAR-HEMATOTOX: risk of haematological toxicity after CD19 CAR T-cell therapy.

References
----------
Rejeski K, Perez A, Sesques P, et al. CAR-HEMATOTOX: a model for CAR T-cell-related
hematologic toxicity in relapsed/refractory large B-cell lymphoma. Blood
2021;138(24):2499-2513. doi:10.1182/blood.2020010543
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.score._base import ScoreInfo, as_float_array, broadcast, group_labels, points_frame

__all__ = ["CAR_HEMATOTOX_GROUPS", "INFO", "compute_car_hematotox"]

INFO = ScoreInfo(
    name="car_hematotox",
    title="CAR-HEMATOTOX",
    reference="Rejeski K et al. Blood 2021;138(24):2499-2513",
    verified=False,
    unverified_rules=(
        "point thresholds (platelets 175/75 x10^9/L, ANC 1.2 x10^9/L, Hb 9.0 g/dL, CRP 3.0 mg/dL, "
        "ferritin 650/2000 ng/mL) are [U] (methods.md §4.5): recalled, NOT checked against "
        "Rejeski 2021 Table 1; a search of stored public pages (2026-12-01) found the markers, "
        "the weighting of platelets and ferritin and the 0-1 low / >=2 high split [C], but not "
        "the point table",
        "handling of values exactly at a threshold is [U]",
    ),
)

#: Points -> group ([C]: low 0-1, high >= 2).
CAR_HEMATOTOX_GROUPS = ((0, 1, "low"), (2, 7, "high"))


def compute_car_hematotox(
    platelets_10e9_l, anc_10e9_l, hb_g_dl, crp_mg_dl, ferritin_ng_ml
) -> pd.DataFrame:
    """CAR-HEMATOTOX points (0-7) and group (low 0-1, high >= 2), before lymphodepletion.

    Parameters
    ----------
    platelets_10e9_l : float or array-like
        Platelet count, 10^9/L.
    anc_10e9_l : float or array-like
        Absolute neutrophil count, 10^9/L.
    hb_g_dl : float or array-like
        Haemoglobin, g/dL.
    crp_mg_dl : float or array-like
        C-reactive protein, mg/dL.
    ferritin_ng_ml : float or array-like
        Ferritin, ng/mL.

    Returns
    -------
    pandas.DataFrame
        ``car_hematotox_points``, ``car_hematotox_group`` and ``car_hematotox_verified``
        (always False: the point thresholds are unverified).

    Notes
    -----
    Points (all thresholds [U]): platelets > 175: 0, 75-175: 1, < 75: 2; ANC >= 1.2: 0,
    < 1.2: 1; Hb >= 9.0: 0, < 9.0: 1; CRP <= 3.0: 0, > 3.0: 1; ferritin < 650: 0,
    650-2000: 1, > 2000: 2. Range 0-7 (consistent with the [C] statement that platelets and
    ferritin carry extra weight). Boundary handling at exactly 1.2, 9.0 and 3.0 is our
    choice ([U]). Do not copy the 0-10 variants found in public code (methods.md §4.5).

    References
    ----------
    Rejeski K et al. Blood 2021;138(24):2499-2513. doi:10.1182/blood.2020010543

    Examples
    --------
    >>> compute_car_hematotox(74, 1.1, 8.9, 3.1, 2001).iloc[0, :2].to_dict()
    {'car_hematotox_points': 7.0, 'car_hematotox_group': 'high'}
    >>> compute_car_hematotox(176, 1.2, 9.0, 3.0, 649).iloc[0, :2].to_dict()
    {'car_hematotox_points': 0.0, 'car_hematotox_group': 'low'}
    """
    plt, anc, hb, crp, fer = broadcast(
        as_float_array(platelets_10e9_l, "platelets_10e9_l"),
        as_float_array(anc_10e9_l, "anc_10e9_l"),
        as_float_array(hb_g_dl, "hb_g_dl"),
        as_float_array(crp_mg_dl, "crp_mg_dl"),
        as_float_array(ferritin_ng_ml, "ferritin_ng_ml"),
    )
    with np.errstate(invalid="ignore"):
        plt_pts = np.select([plt < 75, plt <= 175], [2.0, 1.0], 0.0)
        fer_pts = np.select([fer > 2000, fer >= 650], [2.0, 1.0], 0.0)
        points = plt_pts + fer_pts + (anc < 1.2) + (hb < 9.0) + (crp > 3.0)
    points = points.astype(float)
    points[np.isnan(plt) | np.isnan(anc) | np.isnan(hb) | np.isnan(crp) | np.isnan(fer)] = np.nan
    return points_frame(
        "car_hematotox",
        points,
        group_labels(points, CAR_HEMATOTOX_GROUPS),
        car_hematotox_verified=[False] * len(points),
    )
