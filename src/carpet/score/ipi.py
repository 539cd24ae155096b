"""International Prognostic Index (IPI).

References
----------
The International Non-Hodgkin's Lymphoma Prognostic Factors Project. A predictive model
for aggressive non-Hodgkin's lymphoma. N Engl J Med 1993;329(14):987-994.
doi:10.1056/NEJM199309303291402
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.score._base import ScoreInfo, as_float_array, broadcast, group_labels, points_frame

__all__ = ["INFO", "IPI_GROUPS", "compute_ipi"]

INFO = ScoreInfo(
    name="ipi",
    title="International Prognostic Index",
    reference="Shipp MA et al. (IPI project), N Engl J Med 1993;329:987-994",
    verified=True,
    unverified_rules=(),
)

#: Points -> risk group (methods.md §4.1, [C]).
IPI_GROUPS = (
    (0, 1, "low"),
    (2, 2, "low-intermediate"),
    (3, 3, "high-intermediate"),
    (4, 5, "high"),
)


def compute_ipi(
    age_years, ldh_u_per_l, ldh_uln_u_per_l, ecog, ann_arbor_stage, extranodal_sites
) -> pd.DataFrame:
    """IPI points (0-5) and risk group for each patient.

    Parameters
    ----------
    age_years : float or array-like
        Age in years.
    ldh_u_per_l, ldh_uln_u_per_l : float or array-like
        Serum LDH and its upper limit of normal, both in U/L.
    ecog : int or array-like
        ECOG performance status (0-4).
    ann_arbor_stage : int or array-like
        Ann Arbor stage as 1-4.
    extranodal_sites : int or array-like
        Number of extranodal sites.

    Returns
    -------
    pandas.DataFrame
        ``ipi_points`` (float, NaN when any input is missing) and ``ipi_group``.

    Notes
    -----
    One point each for age > 60 y, LDH > ULN, ECOG >= 2, stage III-IV and more than one
    extranodal site. Groups: 0-1 low, 2 low-intermediate, 3 high-intermediate, 4-5 high.
    Verified: all five factors and the grouping are [C] in methods.md §4.1 (BMJ Best
    Practice criteria page and the PMC10575851 table, which quote the 1993 paper).

    References
    ----------
    Shipp MA et al. N Engl J Med 1993;329(14):987-994. doi:10.1056/NEJM199309303291402

    Examples
    --------
    >>> compute_ipi(61, 300, 250, 2, 3, 2)[["ipi_points", "ipi_group"]].values.tolist()
    [[5.0, 'high']]
    >>> compute_ipi(60, 250, 250, 1, 2, 1)["ipi_points"].tolist()
    [0.0]
    """
    age, ldh, uln, ps, stage, en = broadcast(
        as_float_array(age_years, "age_years"),
        as_float_array(ldh_u_per_l, "ldh_u_per_l"),
        as_float_array(ldh_uln_u_per_l, "ldh_uln_u_per_l"),
        as_float_array(ecog, "ecog"),
        as_float_array(ann_arbor_stage, "ann_arbor_stage"),
        as_float_array(extranodal_sites, "extranodal_sites"),
    )
    with np.errstate(invalid="ignore"):
        points = (
            (age > 60).astype(float)
            + (ldh > uln).astype(float)
            + (ps >= 2).astype(float)
            + (stage >= 3).astype(float)
            + (en > 1).astype(float)
        )
    missing = (
        np.isnan(age)
        | np.isnan(ldh)
        | np.isnan(uln)
        | np.isnan(ps)
        | np.isnan(stage)
        | np.isnan(en)
    )
    points[missing] = np.nan
    return points_frame("ipi", points, group_labels(points, IPI_GROUPS))
