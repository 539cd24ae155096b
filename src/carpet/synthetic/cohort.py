"""Simulated CAR T cohorts with known effects, for demos and for testing the statistics.

No public CAR T PET cohort with outcomes exists, so the demo report runs on a simulated
cohort. Everything from here is SIMULATED: patient ids start with ``SIM-``, the tables
carry ``attrs["simulated"] = True`` and ``carpet cohort`` labels the report header and
results.json accordingly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.errors import ConfigError
from carpet.score.ipi import compute_ipi

__all__ = ["SIMULATED_LABEL", "simulate_cohort"]

#: Text carried by every output made from simulated data.
SIMULATED_LABEL = "SIMULATED DATA - not real patients; effects were set by the simulator"

_EN_SITES = (
    "bone",
    "bone_marrow",
    "liver",
    "lung",
    "gi_tract",
    "soft_tissue",
    "kidney",
    "cns",
    "pleura",
    "skin",
)
_DAYS_PER_MONTH = 30.4375


def simulate_cohort(
    n: int = 111,
    *,
    seed: int = 0,
    hr_per_log2_tmtv: float = 1.3,
    hr_per_ipi_point: float = 1.2,
    median_pfs_months: float = 10.0,
    tmtv_median_ml: float = 100.0,
    tmtv_log_sd: float = 1.3,
    accrual_months: float = 30.0,
    min_followup_months: float = 6.0,
    loss_to_followup_per_year: float = 0.05,
    start_date: str = "2019-01-01",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw a realistic R/R LBCL CAR T cohort with PFS/OS from a stated Cox model.

    Parameters
    ----------
    n : int
        Number of patients.
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same cohort.
    hr_per_log2_tmtv : float
        True hazard ratio of PFS per doubling of ``TMTV + 1`` (mL), adjusted for the IPI.
    hr_per_ipi_point : float
        True hazard ratio of PFS per IPI point.
    median_pfs_months : float
        Median PFS of a patient with TMTV = ``tmtv_median_ml`` and IPI 2.
    tmtv_median_ml, tmtv_log_sd : float
        TMTV is log-normal: ``log TMTV ~ N(log median, sd)``.
    accrual_months, min_followup_months : float
        Infusions uniform over the accrual period; data cut-off ``min_followup_months``
        after the last possible infusion (administrative censoring).
    loss_to_followup_per_year : float
        Exponential rate of random loss to follow-up (independent censoring).
    start_date : str
        First possible infusion date (ISO).

    Returns
    -------
    clinical : pandas.DataFrame
        Columns of docs/clinical-table.md (dates as ISO strings; empty string if none).
    biomarkers : pandas.DataFrame
        ``patient_id``, ``timepoint`` and the ``patient.json`` biomarker keys.

    Notes
    -----
    PFS hazard ``h(t) = h0 exp(β_T log2(TMTV + 1) + β_I IPI)`` with exponential baseline,
    ``β_T = log(hr_per_log2_tmtv)``, ``β_I = log(hr_per_ipi_point)``. LDH ratio, SUV and
    lesion count are correlated with TMTV (log-normal); ECOG, stage and extranodal sites are
    drawn from fixed distributions typical of CAR T cohorts (order of magnitude from Dean
    2020 and Vercellino 2020; not fitted to any data). 90 % of PFS events are progressions
    (death follows after an exponential time, median 8 months), 10 % deaths without
    progression.

    References
    ----------
    Bender R, Augustin T, Blettner M. Generating survival times to simulate Cox proportional
    hazards models. Stat Med 2005;24(11):1713-1723.

    Examples
    --------
    >>> clin, bio = simulate_cohort(20, seed=1)
    >>> len(clin), len(bio), clin["patient_id"].iloc[0], bio.attrs["simulated"]
    (20, 20, 'SIM-001', True)
    """
    if not (isinstance(n, int) and n >= 2):
        raise ConfigError(f"simulate_cohort: n must be an integer >= 2; got {n!r}")
    for name, v in (
        ("hr_per_log2_tmtv", hr_per_log2_tmtv),
        ("hr_per_ipi_point", hr_per_ipi_point),
        ("median_pfs_months", median_pfs_months),
        ("tmtv_median_ml", tmtv_median_ml),
    ):
        if not v > 0:
            raise ConfigError(f"simulate_cohort: {name} must be > 0; got {v!r}")
    rng = np.random.default_rng(seed)
    ids = [f"SIM-{i + 1:03d}" for i in range(n)]
    age = np.clip(np.round(rng.normal(60, 11, n)), 19, 85)
    sex = np.where(rng.random(n) < 0.62, "M", "F")
    male = sex == "M"
    height = np.round(np.where(male, rng.normal(176, 7, n), rng.normal(163, 6, n)), 0)
    weight = np.round(
        np.clip(np.where(male, rng.normal(80, 14, n), rng.normal(68, 13, n)), 40, 160), 1
    )
    z_tmtv = rng.normal(0, 1, n)
    tmtv = np.round(np.maximum(tmtv_median_ml * np.exp(tmtv_log_sd * z_tmtv), 0.5), 1)
    uln = 250.0
    ldh_ratio = np.exp(rng.normal(0.15 + 0.3 * z_tmtv, 0.4))
    ldh = np.round(ldh_ratio * uln, 0)
    ecog = rng.choice([0, 1, 2, 3], n, p=[0.40, 0.45, 0.12, 0.03])
    stage = rng.choice([1, 2, 3, 4], n, p=[0.10, 0.15, 0.25, 0.50])
    en = np.minimum(rng.poisson(np.exp(-0.4 + 0.35 * z_tmtv)), 6)
    site_lists = [";".join(rng.choice(_EN_SITES, k, replace=False)) if k else "" for k in en]
    suv_max = np.round(np.exp(rng.normal(np.log(15) + 0.15 * z_tmtv, 0.35)), 1)
    suv_mean = np.round(suv_max * rng.uniform(0.35, 0.5, n), 2)
    suv_peak = np.round(suv_max * rng.uniform(0.75, 0.9, n), 1)
    tlg = np.round(tmtv * suv_mean, 1)
    lesions = 1 + rng.poisson(np.exp(1.0 + 0.5 * z_tmtv))
    dmax = np.where(
        lesions > 1, np.round(rng.uniform(50, 600, n) * (1 - np.exp(-lesions / 4)), 1), 0.0
    )
    bsa = np.sqrt(height * weight / 3600)  # Mosteller, m²
    sdmax = np.round(dmax / 1000 / bsa, 3)
    dbulk = np.round(dmax * rng.uniform(0.5, 1.0, n), 1)
    crp = np.round(np.minimum(np.exp(rng.normal(np.log(2.0) + 0.3 * z_tmtv, 1.0, n)), 40.0), 2)
    ferritin = np.round(np.exp(rng.normal(np.log(600), 0.9, n)), 0)
    anc = np.round(np.exp(rng.normal(np.log(2.5), 0.6, n)), 2)
    hb = np.round(np.clip(rng.normal(11, 1.6, n), 6, 17), 1)
    platelets = np.round(np.exp(rng.normal(np.log(170), 0.5, n)), 0)
    product = rng.choice(["axi-cel", "tisa-cel", "liso-cel"], n, p=[0.5, 0.35, 0.15])
    bridging = rng.choice(
        ["none", "chemo", "radiotherapy", "polatuzumab"], n, p=[0.3, 0.4, 0.15, 0.15]
    )
    ipi = compute_ipi(age, ldh, uln, ecog, stage, en)["ipi_points"].to_numpy()

    # PFS from the Cox model (Bender 2005), exponential baseline
    b_t, b_i = np.log(hr_per_log2_tmtv), np.log(hr_per_ipi_point)
    lp = b_t * np.log2(tmtv + 1) + b_i * ipi
    lp_ref = b_t * np.log2(tmtv_median_ml + 1) + b_i * 2
    lam0 = np.log(2) / median_pfs_months
    pfs_true = rng.exponential(1.0, n) / (lam0 * np.exp(lp - lp_ref))
    prog_first = rng.random(n) < 0.9
    death_after = rng.exponential(8 / np.log(2), n)
    os_true = np.where(prog_first, pfs_true + death_after, pfs_true)
    # censoring
    entry = rng.uniform(0, accrual_months, n)
    admin = accrual_months + min_followup_months - entry
    loss = (
        rng.exponential(12 / loss_to_followup_per_year, n)
        if loss_to_followup_per_year > 0
        else np.full(n, np.inf)
    )
    cens = np.minimum(admin, loss)

    start = pd.Timestamp(start_date)

    def to_date(months: np.ndarray) -> list[pd.Timestamp]:
        return [start + pd.Timedelta(days=int(round(m * _DAYS_PER_MONTH))) for m in months]

    inf_dates = to_date(entry)
    rows = []
    for i in range(n):
        prog_date = death_date = ""
        if pfs_true[i] <= cens[i] and prog_first[i]:
            prog_date = (
                inf_dates[i] + pd.Timedelta(days=max(1, int(round(pfs_true[i] * _DAYS_PER_MONTH))))
            ).date()
        if os_true[i] <= cens[i]:
            death_date = (
                inf_dates[i] + pd.Timedelta(days=max(1, int(round(os_true[i] * _DAYS_PER_MONTH))))
            ).date()
            if prog_date and death_date <= prog_date:
                death_date = prog_date + pd.Timedelta(days=1)
        last_m = os_true[i] if os_true[i] <= cens[i] else cens[i]
        last = (
            inf_dates[i] + pd.Timedelta(days=max(1, int(round(last_m * _DAYS_PER_MONTH))))
        ).date()
        if prog_date and last < prog_date:
            last = prog_date
        if death_date:
            last = death_date
        rows.append(
            {
                "patient_id": ids[i],
                "timepoint": "TT",
                "age_years": float(age[i]),
                "sex": sex[i],
                "height_cm": float(height[i]),
                "weight_kg": float(weight[i]),
                "ldh_u_per_l": float(ldh[i]),
                "ldh_uln_u_per_l": uln,
                "ecog": int(ecog[i]),
                "ann_arbor_stage": int(stage[i]),
                "extranodal_sites": int(en[i]),
                "extranodal_site_list": site_lists[i],
                "bulky": int(tmtv[i] > 500),
                "crp_mg_dl": float(crp[i]),
                "ferritin_ng_ml": float(ferritin[i]),
                "anc_10e9_l": float(anc[i]),
                "hb_g_dl": float(hb[i]),
                "platelets_10e9_l": float(platelets[i]),
                "product": product[i],
                "bridging": bridging[i],
                "infusion_date": inf_dates[i].date().isoformat(),
                "progression_date": str(prog_date) if prog_date else "",
                "death_date": str(death_date) if death_date else "",
                "last_followup_date": last.isoformat(),
            }
        )
    clinical = pd.DataFrame(rows)
    biomarkers = pd.DataFrame(
        {
            "patient_id": ids,
            "timepoint": "baseline",
            "tmtv_ml": tmtv,
            "tlg": tlg,
            "suv_max": suv_max,
            "suv_peak": suv_peak,
            "suv_mean": suv_mean,
            "lesion_count": lesions.astype(int),
            "dmax_mm": dmax,
            "sdmax_per_m": sdmax,
            "dbulk_mm": dbulk,
        }
    )
    truth = {
        "hr_per_log2_tmtv": hr_per_log2_tmtv,
        "hr_per_ipi_point": hr_per_ipi_point,
        "median_pfs_months": median_pfs_months,
        "seed": seed,
        "n": n,
    }
    for df in (clinical, biomarkers):
        df.attrs["simulated"] = True
        df.attrs["simulation_truth"] = truth
    return clinical, biomarkers
