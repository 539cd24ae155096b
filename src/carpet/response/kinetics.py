"""Tumour-burden kinetics between two timepoints (methods.md §5, §6.5).

All results are plain floats, or None where the quantity is undefined (a zero
baseline, a zero interval, no tumour at one timepoint): never a division error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["compute_kinetics", "kinetics_table"]


def _num(d: Mapping[str, Any], key: str) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return (b - a) / a * 100.0


def compute_kinetics(
    baseline: Mapping[str, Any], followup: Mapping[str, Any], *, interval_days: float | None
) -> dict[str, float | None]:
    """Changes of TMTV, TLG, SUVmax and SUVpeak from ``baseline`` to ``followup``.

    Parameters
    ----------
    baseline, followup : mapping
        Patient-level metrics with ``tmtv_ml`` (mL), ``tlg`` (g), ``suv_max``,
        ``suv_peak`` (g/mL), as in ``patient.json``; missing or null values give null
        results.
    interval_days : float or None
        Days from baseline to follow-up.

    Returns
    -------
    dict
        ``tmtv_ml``, ``tmtv_pct``, ``tlg``, ``tlg_pct``, ``suv_max``, ``suv_max_pct``,
        ``suv_peak``, ``suv_peak_pct``, ``suv_max_reduction_pct``,
        ``tmtv_growth_per_day``, ``tmtv_doubling_time_days``.

    Notes
    -----
    ``ΔTMTV = TMTV_f − TMTV_b``; ``ΔTMTV% = ΔTMTV / TMTV_b × 100`` (null if TMTV_b = 0);
    ``growth = ln(TMTV_f / TMTV_b) / Δdays`` per day (null if either TMTV is 0 or
    Δdays ≤ 0); ``doubling time = ln 2 / growth`` days (null unless growth > 0);
    ``ΔSUVmax% = (SUVmax_f − SUVmax_b) / SUVmax_b × 100`` and the reduction of
    methods.md §6.5 ``= −ΔSUVmax%``. TLG and SUVpeak likewise.

    References
    ----------
    methods.md §5 (bridging kinetics; formulas [U]) and §6.5 (ΔSUVmax; Cohen et al.:
    ΔSUVmax ≤ 66 % at M1 predicts shorter OS).

    Examples
    --------
    >>> k = compute_kinetics({"tmtv_ml": 100.0, "suv_max": 20.0}, {"tmtv_ml": 200.0, "suv_max": 5.0},
    ...                      interval_days=10)
    >>> k["tmtv_pct"], round(k["tmtv_doubling_time_days"], 6), k["suv_max_reduction_pct"]
    (100.0, 10.0, 75.0)
    >>> compute_kinetics({"tmtv_ml": 0.0}, {"tmtv_ml": 5.0}, interval_days=10)["tmtv_pct"] is None
    True
    """
    out: dict[str, float | None] = {}
    for key in ("tmtv_ml", "tlg", "suv_max", "suv_peak"):
        a, b = _num(baseline, key), _num(followup, key)
        out[key] = _diff(a, b)
        out[f"{key.removesuffix('_ml')}_pct"] = _pct(a, b)
    pct = out["suv_max_pct"]
    out["suv_max_reduction_pct"] = None if pct is None else -pct
    a, b = _num(baseline, "tmtv_ml"), _num(followup, "tmtv_ml")
    days = None if interval_days is None else float(interval_days)
    rate = None
    if a and b and a > 0 and b > 0 and days is not None and days > 0:
        rate = math.log(b / a) / days
    out["tmtv_growth_per_day"] = rate
    out["tmtv_doubling_time_days"] = math.log(2.0) / rate if rate is not None and rate > 0 else None
    return out


#: Columns :func:`kinetics_table` adds (``_vs_first`` and ``_vs_previous`` variants).
KINETICS_COLUMNS = (
    "tmtv_ml",
    "tmtv_pct",
    "tlg_pct",
    "suv_max_pct",
    "suv_peak_pct",
    "tmtv_growth_per_day",
)


def kinetics_table(
    table: pd.DataFrame, *, patient_col: str = "patient_id", date_col: str = "study_date"
) -> pd.DataFrame:
    """Add kinetics columns to a per-study table (several studies per patient).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per study with ``patient_col``, ``date_col`` (date or ISO text) and the
        ``patient.json`` metrics ``tmtv_ml``, ``tlg``, ``suv_max``, ``suv_peak``.
    patient_col, date_col : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        A copy, ordered by patient and date, with ``timepoint_index``, ``days_from_first``
        and for each name in :data:`KINETICS_COLUMNS` the columns ``delta_<name>_vs_first``
        and ``delta_<name>_vs_previous`` (null for each patient's first study and wherever
        undefined).

    Notes
    -----
    Each row is compared with its patient's earliest study and with the previous one by
    :func:`compute_kinetics` (``ΔTMTV``, ``ΔTMTV%``, growth rate ``ln(TMTV_f/TMTV_b)/Δdays``...).

    References
    ----------
    methods.md §5 (kinetics during bridging).

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": ["a", "a"], "study_date": ["2024-01-01", "2024-01-11"],
    ...                   "tmtv_ml": [100.0, 200.0], "tlg": [1.0, 1.0], "suv_max": [10.0, 5.0],
    ...                   "suv_peak": [8.0, 4.0]})
    >>> k = kinetics_table(t)
    >>> k["delta_tmtv_pct_vs_first"].tolist(), k["delta_suv_max_pct_vs_previous"].tolist()
    ([None, 100.0], [None, -50.0])
    """
    for col in (patient_col, date_col):
        if col not in table.columns:
            from carpet.errors import TableValidationError

            raise TableValidationError(
                f"kinetics_table: column {col!r} missing; got columns {list(table.columns)}",
                code="MISSING_COLUMN",
            )
    out = table.copy()
    out["_date"] = pd.to_datetime(out[date_col]).dt.date
    out = out.sort_values([patient_col, "_date"], kind="stable").reset_index(drop=True)
    new: dict[str, list] = {"timepoint_index": [], "days_from_first": []}
    for c in KINETICS_COLUMNS:
        new[f"delta_{c}_vs_first"] = []
        new[f"delta_{c}_vs_previous"] = []
    for _, grp in out.groupby(patient_col, sort=False):
        rows = grp.to_dict("records")
        first = rows[0]
        for i, row in enumerate(rows):
            new["timepoint_index"].append(i)
            new["days_from_first"].append((row["_date"] - first["_date"]).days)
            for ref_name, ref in (("first", first), ("previous", rows[i - 1] if i else None)):
                k = (
                    compute_kinetics(ref, row, interval_days=(row["_date"] - ref["_date"]).days)
                    if (ref is not None and i > 0)
                    else {}
                )
                for c in KINETICS_COLUMNS:
                    new[f"delta_{c}_vs_{ref_name}"].append(k.get(c))
    for col, vals in new.items():
        out[col] = pd.Series(vals, index=out.index, dtype=object if "delta" in col else "int64")
    return out.drop(columns=["_date"])
