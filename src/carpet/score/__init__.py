"""Published clinical and PET risk scores, one module per score.

Each module has a vectorised ``compute_*`` function (numpydoc with formula and reference)
and an ``INFO`` record saying which rules were verified. :func:`compute_scores` applies
every score whose inputs are present to a merged clinical + biomarker table.
"""

from __future__ import annotations

import pandas as pd

from carpet.config import ScoreConfig
from carpet.score import aaipi, car_hematotox, dean, impi, ipi, nccn_ipi, vercellino, voltin
from carpet.score._base import ScoreInfo
from carpet.score.aaipi import compute_aaipi
from carpet.score.car_hematotox import compute_car_hematotox
from carpet.score.dean import compute_dean
from carpet.score.impi import compute_impi, rank_impi_in_cohort
from carpet.score.ipi import compute_ipi
from carpet.score.nccn_ipi import compute_nccn_ipi, count_nccn_sites
from carpet.score.vercellino import compute_vercellino
from carpet.score.voltin import compute_voltin

__all__ = [
    "SCORE_INFOS",
    "ScoreInfo",
    "compute_aaipi",
    "compute_car_hematotox",
    "compute_dean",
    "compute_impi",
    "compute_ipi",
    "compute_nccn_ipi",
    "compute_scores",
    "compute_vercellino",
    "compute_voltin",
    "count_nccn_sites",
    "rank_impi_in_cohort",
]

#: Provenance of every score, by column prefix.
SCORE_INFOS: dict[str, ScoreInfo] = {
    m.INFO.name: m.INFO
    for m in (ipi, aaipi, nccn_ipi, car_hematotox, vercellino, dean, impi, voltin)
}


def compute_scores(
    table: pd.DataFrame, config: ScoreConfig | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Add every computable score to a copy of ``table`` (one row per patient).

    Parameters
    ----------
    table : pandas.DataFrame
        Merged clinical + biomarker table with the columns of ``docs/clinical-table.md``
        (``age_years``, ``ldh_u_per_l``, ``ldh_uln_u_per_l``, ``ecog``, ``ann_arbor_stage``,
        ``extranodal_sites``, ``extranodal_site_list``, ``platelets_10e9_l``, ``anc_10e9_l``,
        ``hb_g_dl``, ``crp_mg_dl``, ``ferritin_ng_ml``, ``tmtv_ml``, ``suv_max``).
    config : ScoreConfig, optional
        Thresholds; defaults from :class:`carpet.config.ScoreConfig`.

    Returns
    -------
    scored : pandas.DataFrame
        ``table`` plus the score columns (the input is not modified).
    skipped : dict
        Score name -> reason, for scores whose input columns are absent.

    Notes
    -----
    Formulas are in each score module. A patient with a missing input gets a missing score.

    References
    ----------
    See the score modules (IPI 1993, NCCN-IPI 2014, CAR-HEMATOTOX 2021, Vercellino 2020,
    Dean 2020, IMPI 2022, Voltin 2023).

    Examples
    --------
    >>> t = pd.DataFrame({"tmtv_ml": [10.0, 200.0]})
    >>> scored, skipped = compute_scores(t)
    >>> scored["dean_group"].tolist(), "ipi" in skipped
    (['low', 'high'], True)
    """
    cfg = config or ScoreConfig()
    out = table.copy()
    skipped: dict[str, str] = {}

    def have(*cols: str) -> bool:
        return all(c in out.columns for c in cols)

    def add(name: str, cols: tuple[str, ...], fn) -> None:  # noqa: ANN001
        missing = [c for c in cols if c not in out.columns]
        if missing:
            skipped[name] = f"input column(s) {missing} absent"
            return
        res = fn()
        res.index = out.index
        for col in res.columns:
            out[col] = res[col]

    ipi_cols = (
        "age_years",
        "ldh_u_per_l",
        "ldh_uln_u_per_l",
        "ecog",
        "ann_arbor_stage",
        "extranodal_sites",
    )
    add("ipi", ipi_cols, lambda: compute_ipi(*(out[c] for c in ipi_cols)))
    aa_cols = ipi_cols[:5]
    add("aaipi", aa_cols, lambda: compute_aaipi(*(out[c] for c in aa_cols)))
    if have("extranodal_site_list"):
        nccn_cols = (*aa_cols, "extranodal_site_list")
        add(
            "nccn_ipi",
            nccn_cols,
            lambda: compute_nccn_ipi(
                *(out[c] for c in aa_cols), count_nccn_sites(out["extranodal_site_list"])
            ),
        )
    else:
        skipped["nccn_ipi"] = (
            "input column(s) ['extranodal_site_list'] absent (site names are needed)"
        )
    ht_cols = ("platelets_10e9_l", "anc_10e9_l", "hb_g_dl", "crp_mg_dl", "ferritin_ng_ml")
    add("car_hematotox", ht_cols, lambda: compute_car_hematotox(*(out[c] for c in ht_cols)))
    add(
        "vercellino",
        ("tmtv_ml", "extranodal_sites"),
        lambda: compute_vercellino(
            out["tmtv_ml"],
            out["extranodal_sites"],
            tmtv_threshold_ml=cfg.vercellino_tmtv_ml,
            min_extranodal_sites=cfg.vercellino_min_extranodal_sites,
        ),
    )
    add("dean", ("tmtv_ml",), lambda: compute_dean(out["tmtv_ml"], threshold_ml=cfg.dean_mtv_ml))
    add(
        "impi",
        ("tmtv_ml", "age_years", "ann_arbor_stage"),
        lambda: compute_impi(
            out["tmtv_ml"], out["age_years"], out["ann_arbor_stage"], knot_ml=cfg.impi_knot_ml
        ),
    )
    if "impi_lp" in out.columns:
        out["impi_cohort_group"] = rank_impi_in_cohort(out["impi_lp"])
    add(
        "voltin",
        ("tmtv_ml", "suv_max"),
        lambda: compute_voltin(
            out["tmtv_ml"],
            out["suv_max"],
            mtv_threshold_ml=cfg.voltin_mtv_ml,
            suv_max_threshold=cfg.voltin_suv_max,
        ),
    )
    return out, skipped
