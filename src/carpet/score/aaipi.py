"""Age-adjusted IPI (aaIPI), also used at relapse as the second-line sAAIPI.

References
----------
The International Non-Hodgkin's Lymphoma Prognostic Factors Project. N Engl J Med
1993;329(14):987-994. doi:10.1056/NEJM199309303291402
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.score._base import ScoreInfo, as_float_array, broadcast, group_labels, points_frame

__all__ = ["AAIPI_GROUPS", "INFO", "compute_aaipi"]

INFO = ScoreInfo(
    name="aaipi",
    title="Age-adjusted International Prognostic Index",
    reference="Shipp MA et al. (IPI project), N Engl J Med 1993;329:987-994",
    verified=False,
    unverified_rules=(
        "risk-group labels 0 low / 1 low-intermediate / 2 high-intermediate / 3 high: methods.md §4.2 "
        "marks them [U]; a search of stored public pages (2026-12-01) found them in a secondary source "
        "(NCCN Guidelines for Patients, PTCL 2016, p. 20) [S], not in the 1993 NEJM paper",
    ),
)

#: Points -> risk group; [U] (methods.md §4.2).
AAIPI_GROUPS = (
    (0, 0, "low"),
    (1, 1, "low-intermediate"),
    (2, 2, "high-intermediate"),
    (3, 3, "high"),
)


def compute_aaipi(age_years, ldh_u_per_l, ldh_uln_u_per_l, ecog, ann_arbor_stage) -> pd.DataFrame:
    """aaIPI points (0-3), risk group and whether the patient is in the defined age range.

    Parameters
    ----------
    age_years : float or array-like
        Age in years (the aaIPI was defined for patients aged <= 60 y).
    ldh_u_per_l, ldh_uln_u_per_l : float or array-like
        Serum LDH and its upper limit of normal, U/L.
    ecog : int or array-like
        ECOG performance status (0-4).
    ann_arbor_stage : int or array-like
        Ann Arbor stage 1-4.

    Returns
    -------
    pandas.DataFrame
        ``aaipi_points``, ``aaipi_group`` and ``aaipi_age_applicable`` (age <= 60 y). The
        points are computed at any age, as the second-line sAAIPI does.

    Notes
    -----
    One point each for stage III-IV, LDH > ULN and ECOG >= 2 ([C], methods.md §4.2).
    The group labels are [U] and are reported as unverified (``INFO.verified`` is False).

    References
    ----------
    Shipp MA et al. N Engl J Med 1993;329(14):987-994.

    Examples
    --------
    >>> compute_aaipi(55, 300, 250, 2, 3).to_dict("records")
    [{'aaipi_points': 3.0, 'aaipi_group': 'high', 'aaipi_age_applicable': True}]
    """
    age, ldh, uln, ps, stage = broadcast(
        as_float_array(age_years, "age_years"),
        as_float_array(ldh_u_per_l, "ldh_u_per_l"),
        as_float_array(ldh_uln_u_per_l, "ldh_uln_u_per_l"),
        as_float_array(ecog, "ecog"),
        as_float_array(ann_arbor_stage, "ann_arbor_stage"),
    )
    with np.errstate(invalid="ignore"):
        points = (stage >= 3).astype(float) + (ldh > uln).astype(float) + (ps >= 2).astype(float)
    points[np.isnan(ldh) | np.isnan(uln) | np.isnan(ps) | np.isnan(stage)] = np.nan
    applicable = [bool(a <= 60) if not np.isnan(a) else None for a in age]
    return points_frame(
        "aaipi", points, group_labels(points, AAIPI_GROUPS), aaipi_age_applicable=applicable
    )
