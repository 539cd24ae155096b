"""Compare analysed timepoints: the content of ``response.json`` and ``lesion_matches.csv``.

Pure: takes analysed timepoints (SUV, lesion labels and table, patient metrics,
reference regions) and a registration, returns in-memory results. Reading the
studies, analysing them and writing files is done by :mod:`carpet.response.workflow`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carpet.config import ResponseConfig
from carpet.core.volume import Volume
from carpet.response.categories import propose_categories
from carpet.response.kinetics import compute_kinetics
from carpet.response.matching import LesionMatching, match_lesions
from carpet.response.registration import Registration
from carpet.response.timepoints import Timepoint

__all__ = ["AnalysedTimepoint", "PairComparison", "compare_pair", "timepoint_summary"]

_DEFAULTS = ResponseConfig()


@dataclass(frozen=True, eq=False)
class AnalysedTimepoint:
    """One timepoint after ``carpet analyze``.

    Attributes
    ----------
    timepoint : Timepoint
    suv : Volume
        SUV (g/mL).
    labels : Volume
        Lesion ids (``lesions.csv`` ``lesion_id``).
    lesions : pandas.DataFrame
        The lesion table.
    patient : dict
        ``patient.json`` metrics (``tmtv_ml``, ``tlg``, ``suv_max``, ``suv_peak``,
        ``lesion_count``, ``liver_suv_mean``, ``mbp_suv_mean``...).
    liver, mbp : ReferenceRegion or None
        Reference regions of this timepoint.
    ct : Volume or None
    """

    timepoint: Timepoint
    suv: Volume
    labels: Volume
    lesions: pd.DataFrame
    patient: Mapping[str, Any]
    liver: Any = None
    mbp: Any = None
    ct: Volume | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class PairComparison:
    """Baseline vs one follow-up."""

    summary: dict
    matching: LesionMatching
    registration: Registration


def _f(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def timepoint_summary(tp: AnalysedTimepoint) -> dict[str, Any]:
    """The per-timepoint block of ``response.json``."""
    p = tp.patient
    return {
        "role": tp.timepoint.role,
        "study_date": tp.timepoint.study_date.isoformat() if tp.timepoint.study_date else None,
        "day_from_infusion": tp.timepoint.day_from_infusion,
        "tmtv_ml": _f(p.get("tmtv_ml")),
        "tlg": _f(p.get("tlg")),
        "suv_max": _f(p.get("suv_max")),
        "suv_peak": _f(p.get("suv_peak")),
        "lesion_count": int(p.get("lesion_count") or 0),
        "liver_suv_mean": None if tp.liver is None else float(tp.liver.suv_mean),
        "mbp_suv_mean": None if tp.mbp is None else float(tp.mbp.suv_mean),
        "liver_voi_center_mm": None
        if tp.liver is None
        else [round(float(c), 3) for c in tp.liver.center_mm],
        "mbp_voi_center_mm": None
        if tp.mbp is None
        else [round(float(c), 3) for c in tp.mbp.center_mm],
        "liver_voi_method": None if tp.liver is None else tp.liver.method,
        "mbp_voi_method": None if tp.mbp is None else tp.mbp.method,
    }


def _ref_stats(r: Any) -> dict[str, float] | None:
    return None if r is None else {"suv_mean": float(r.suv_mean), "suv_max": float(r.suv_max)}


def compare_pair(
    baseline: AnalysedTimepoint,
    followup: AnalysedTimepoint,
    registration: Registration,
    *,
    config: ResponseConfig = _DEFAULTS,
) -> PairComparison:
    """Match lesions, compute kinetics and propose categories for one follow-up.

    Parameters
    ----------
    baseline, followup : AnalysedTimepoint
    registration : Registration
        Follow-up → baseline transform.
    config : ResponseConfig

    Returns
    -------
    PairComparison
        ``summary`` holds the ``response.json`` keys: ``baseline``, ``followup``,
        ``interval_days``, ``delta``, ``deauville_proxy``, ``qpet``, ``lugano_proxy``,
        ``new_lesion_count``, ``registration``, ``matching``, ``categories``.

    Notes
    -----
    Deauville uptake = max(follow-up SUVmax in each mapped baseline lesion region,
    SUVmax of each follow-up lesion); qPET uses the hottest follow-up lesion SUVpeak.
    """
    m = match_lesions(
        baseline.lesions,
        followup.lesions,
        baseline_labels=baseline.labels,
        followup_labels=followup.labels,
        followup_suv=followup.suv,
        registration=registration,
        distance_gate_mm=config.match_distance_mm,
        overlap_min_fraction=config.overlap_min_fraction,
    )
    b_sum, f_sum = timepoint_summary(baseline), timepoint_summary(followup)
    bd, fd = baseline.timepoint.study_date, followup.timepoint.study_date
    interval = (fd - bd).days if (bd is not None and fd is not None) else None
    delta = compute_kinetics(b_sum, f_sum, interval_days=interval)
    candidates: list[tuple[float, str]] = []
    for bid, v in m.residual.items():
        if v is not None and math.isfinite(v):
            candidates.append((float(v), f"residual at baseline lesion {bid}"))
    ft = followup.lesions
    if len(ft):
        i = int(np.nanargmax(ft["suv_max"].to_numpy(float)))
        candidates.append(
            (float(ft["suv_max"].iloc[i]), f"follow-up lesion {int(ft['lesion_id'].iloc[i])}")
        )
    uptake, source = max(candidates) if candidates else (None, "no lesion site")
    peak = float(np.nanmax(ft["suv_peak"].to_numpy(float))) if len(ft) else None
    new_count = m.count("new")
    changes = m.table.loc[m.table["status"] == "matched", ["delta_volume_pct", "delta_suv_max_pct"]]
    cat = propose_categories(
        uptake_suv=uptake,
        uptake_source=source,
        lesion_suv_peak=peak,
        baseline_suv_max=b_sum["suv_max"],
        liver=_ref_stats(followup.liver),
        mbp=_ref_stats(followup.mbp),
        new_lesion_count=new_count,
        tmtv_pct=delta["tmtv_pct"],
        day_from_infusion=followup.timepoint.day_from_infusion,
        lesion_changes=changes.to_dict("records"),
        config=config,
    )
    summary = {
        "baseline": b_sum,
        "followup": f_sum,
        "interval_days": interval,
        "delta": delta,
        "suv_max_reduction_le_cutoff": (
            None
            if delta["suv_max_reduction_pct"] is None
            else bool(delta["suv_max_reduction_pct"] <= config.dsuvmax_reduction_cutoff_pct)
        ),
        "deauville_proxy": cat["deauville_proxy"],
        "qpet": cat["qpet"],
        "lugano_proxy": cat["lugano_proxy"],
        "lyric_candidates": cat["lyric_candidates"],
        "new_lesion_count": new_count,
        "registration": registration.to_dict(),
        "matching": {
            "distance_gate_mm": m.distance_gate_mm,
            **{s: m.count(s) for s in ("matched", "new", "disappeared", "split", "merged")},
        },
        "categories": cat,
    }
    return PairComparison(summary=summary, matching=m, registration=registration)
