"""Tumour-burden kinetics between two timepoints (methods.md §5, §6.5).

All results are plain floats, or None where the quantity is undefined (a zero
baseline, a zero interval, no tumour at one timepoint): never a division error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["compute_kinetics"]


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
