"""NCCN-IPI (National Comprehensive Cancer Network IPI).

References
----------
Zhou Z, Sehn LH, Rademaker AW, et al. An enhanced International Prognostic Index (NCCN-IPI)
for patients with diffuse large B-cell lymphoma treated in the rituximab era. Blood
2014;123(6):837-842. doi:10.1182/blood-2013-09-524108
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.score._base import ScoreInfo, as_float_array, broadcast, group_labels, points_frame

__all__ = ["INFO", "NCCN_IPI_GROUPS", "NCCN_IPI_SITES", "compute_nccn_ipi", "count_nccn_sites"]

INFO = ScoreInfo(
    name="nccn_ipi",
    title="NCCN-IPI",
    reference="Zhou Z et al. Blood 2014;123(6):837-842",
    verified=False,
    unverified_rules=(
        "list of extranodal sites that score (bone marrow, CNS, liver/GI tract, lung) is [U] "
        "in methods.md §4.4 ('look into original publications'); the Zhou 2014 abstract (read via a "
        "search of stored pages, 2026-12-01) confirms 'disease involvement at specific extranodal sites', "
        "the 8-point maximum and the 0-1/2-3/4-5/6-8 groups, but not the site list",
    ),
)

#: Points -> risk group ([C], methods.md §4.4).
NCCN_IPI_GROUPS = (
    (0, 1, "low"),
    (2, 3, "low-intermediate"),
    (4, 5, "high-intermediate"),
    (6, 8, "high"),
)

#: Extranodal site names that score one NCCN-IPI point ([U]); matched case-insensitively.
NCCN_IPI_SITES = frozenset({"bone_marrow", "marrow", "cns", "liver", "gi", "gi_tract", "lung"})


def count_nccn_sites(site_lists) -> np.ndarray:
    """Number of NCCN-IPI extranodal sites in each ``;``-separated site list (NaN if missing).

    Notes
    -----
    Site names are lower-cased, spaces become ``_``, duplicates count once; a site scores if
    it is in :data:`NCCN_IPI_SITES` (bone marrow, CNS, liver/GI tract, lung; [U]).

    References
    ----------
    Zhou Z et al. Blood 2014;123(6):837-842.

    Examples
    --------
    >>> count_nccn_sites(["liver; bone", "skin", None]).tolist()
    [1.0, 0.0, nan]
    """
    out = []
    for item in np.atleast_1d(np.asarray(site_lists, dtype=object)):
        if item is None or (isinstance(item, float) and np.isnan(item)):
            out.append(np.nan)
            continue
        names = {s.strip().lower().replace(" ", "_") for s in str(item).split(";") if s.strip()}
        out.append(float(len(names & NCCN_IPI_SITES)))
    return np.asarray(out, dtype=float)


def compute_nccn_ipi(
    age_years, ldh_u_per_l, ldh_uln_u_per_l, ecog, ann_arbor_stage, nccn_sites
) -> pd.DataFrame:
    """NCCN-IPI points (0-8) and risk group.

    Parameters
    ----------
    age_years : float or array-like
        Age in years.
    ldh_u_per_l, ldh_uln_u_per_l : float or array-like
        Serum LDH and upper limit of normal, U/L (the score uses the ratio LDH/ULN).
    ecog : int or array-like
        ECOG performance status.
    ann_arbor_stage : int or array-like
        Ann Arbor stage 1-4.
    nccn_sites : int or array-like
        Number of involved NCCN-IPI extranodal sites (see :func:`count_nccn_sites`).

    Returns
    -------
    pandas.DataFrame
        ``nccn_ipi_points`` and ``nccn_ipi_group``.

    Notes
    -----
    Age: <= 40 y: 0; > 40 to <= 60: 1; > 60 to <= 75: 2; > 75: 3.
    LDH/ULN: <= 1: 0; > 1 to <= 3: 1; > 3: 2. Stage III-IV: 1. >= 1 NCCN extranodal site: 1.
    ECOG >= 2: 1. Groups 0-1 low, 2-3 low-intermediate, 4-5 high-intermediate, 6-8 high.
    Bands and groups are [C] (methods.md §4.4); the site list is [U].

    References
    ----------
    Zhou Z et al. Blood 2014;123(6):837-842. doi:10.1182/blood-2013-09-524108

    Examples
    --------
    >>> compute_nccn_ipi(76, 751, 250, 2, 4, 1).iloc[0].to_dict()
    {'nccn_ipi_points': 8.0, 'nccn_ipi_group': 'high'}
    >>> compute_nccn_ipi(40, 250, 250, 1, 2, 0).iloc[0].to_dict()
    {'nccn_ipi_points': 0.0, 'nccn_ipi_group': 'low'}
    """
    age, ldh, uln, ps, stage, sites = broadcast(
        as_float_array(age_years, "age_years"),
        as_float_array(ldh_u_per_l, "ldh_u_per_l"),
        as_float_array(ldh_uln_u_per_l, "ldh_uln_u_per_l"),
        as_float_array(ecog, "ecog"),
        as_float_array(ann_arbor_stage, "ann_arbor_stage"),
        as_float_array(nccn_sites, "nccn_sites"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = ldh / uln
        age_pts = np.select([age > 75, age > 60, age > 40], [3.0, 2.0, 1.0], 0.0)
        ldh_pts = np.select([ratio > 3, ratio > 1], [2.0, 1.0], 0.0)
        points = age_pts + ldh_pts + (stage >= 3) + (sites >= 1) + (ps >= 2)
    points = points.astype(float)
    points[np.isnan(age) | np.isnan(ratio) | np.isnan(ps) | np.isnan(stage) | np.isnan(sites)] = (
        np.nan
    )
    return points_frame("nccn_ipi", points, group_labels(points, NCCN_IPI_GROUPS))
