"""Proposed response categories: quantitative Deauville, qPET, Lugano 2014, LYRIC.

These are **decision support**: every output says ``"proposed"`` and carries a
``reader_confirmed`` field for the category the reader finally assigns. Every
threshold is a :class:`~carpet.config.ResponseConfig` parameter with its source.

Quantitative Deauville proxy (methods.md §6.1) of the hottest uptake ``u`` at the
sites of initial disease (residual uptake) and in follow-up lesions, against the
reference regions' statistic ``ref`` (``deauville_reference_statistic``, SUVmax by
default):

====  ===================================================================
DS    rule
====  ===================================================================
5     new lesions, or ``u > deauville_marked_multiplier × liver`` (default 2;
      "markedly above liver" is often taken as 2-3 × liver [U], methods.md §6.1)
4     ``liver < u ≤ multiplier × liver``
3     ``MBP < u ≤ liver``
2     ``background < u ≤ MBP``
1     ``u ≤ deauville_background_fraction_of_mbp × MBP`` (carpet's convention)
====  ===================================================================

qPET = hottest follow-up lesion SUVpeak / liver SUVmean (Hasenclever 2014), with its
Deauville equivalents (``qpet_ds4_cutoff``, ``qpet_ds5_cutoff``).

Lugano 2014 metabolic proxy (Cheson 2014): PMD if new lesions; CMR if DS 1-3;
otherwise, from the change of the hottest uptake against the baseline SUVmax,
PMR (≤ −``lugano_decrease_pct``), PMD (≥ +``lugano_increase_pct``) or NMR.

LYRIC (Cheson 2016) indeterminate-response candidates for a proposed PMD within
``lyric_window_days`` of infusion: IR1 (TMTV up ≥ ``lyric_ir1_volume_increase_pct``
without new lesions; volume proxy of SPD), IR2 (new lesions with a smaller TMTV
increase, or a lesion growing ≥ that threshold), IR3 (uptake up in ≥ 1 lesion
without an increase in its size or in the number of lesions).

References
----------
Meignan M, Gallamini A, Haioun C. Report on the First International Workshop on
Interim-PET Scan in Lymphoma. Leuk Lymphoma 2009;50:1257-1260 (Deauville).
Hasenclever D et al. qPET - a quantitative extension of the Deauville scale.
Eur J Nucl Med Mol Imaging 2014;41:1301-1308.
Cheson BD et al. J Clin Oncol 2014;32:3059-3068 (Lugano).
Cheson BD et al. Blood 2016;128:2489-2496 (LYRIC).
Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S (PERCIST 30 % change).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from carpet.config import ResponseConfig

__all__ = [
    "deauville_proxy",
    "lugano_proxy",
    "lyric_candidates",
    "propose_categories",
    "qpet_score",
]

_DEFAULTS = ResponseConfig()


def deauville_proxy(
    uptake_suv: float | None,
    *,
    liver_ref: float,
    mbp_ref: float,
    new_lesions: bool = False,
    marked_multiplier: float = _DEFAULTS.deauville_marked_multiplier,
    background_fraction_of_mbp: float = _DEFAULTS.deauville_background_fraction_of_mbp,
) -> int:
    """Quantitative Deauville score proxy (1-5).

    Parameters
    ----------
    uptake_suv : float or None
        Hottest uptake at the sites of disease (g/mL); None = nothing measurable (DS 1).
    liver_ref, mbp_ref : float
        Liver and MBP reference values (same statistic), g/mL.
    new_lesions : bool
        New lesions at follow-up (DS 5).
    marked_multiplier : float
        "Markedly above liver" = above this × liver.
    background_fraction_of_mbp : float
        At or below this × MBP counts as no uptake above background (DS 1).

    Notes
    -----
    See the module docstring table.

    References
    ----------
    Meignan M et al. Leuk Lymphoma 2009;50:1257. methods.md §6.1.

    Examples
    --------
    >>> [deauville_proxy(u, liver_ref=2.0, mbp_ref=1.5) for u in (0.7, 1.5, 1.6, 2.0, 4.0, 4.01)]
    [1, 2, 3, 3, 4, 5]
    """
    if new_lesions:
        return 5
    if uptake_suv is None or not math.isfinite(uptake_suv):
        return 1
    u = float(uptake_suv)
    if u > marked_multiplier * liver_ref:
        return 5
    if u > liver_ref:
        return 4
    if u > mbp_ref:
        return 3
    if u > background_fraction_of_mbp * mbp_ref:
        return 2
    return 1


def qpet_score(
    lesion_suv_peak: float | None,
    liver_suv_mean: float | None,
    *,
    ds4_cutoff: float = _DEFAULTS.qpet_ds4_cutoff,
    ds5_cutoff: float = _DEFAULTS.qpet_ds5_cutoff,
) -> tuple[float | None, str | None]:
    """qPET value and its Deauville band (``"1-3"``, ``"4"`` or ``"5"``).

    Parameters
    ----------
    lesion_suv_peak : float or None
        SUVpeak of the hottest lesion, g/mL.
    liver_suv_mean : float or None
        Liver reference SUVmean, g/mL.
    ds4_cutoff, ds5_cutoff : float
        qPET values of the Deauville 3/4 and 4/5 boundaries.

    Notes
    -----
    ``qPET = SUVpeak(hottest lesion) / SUVmean(liver)``; band 4 above ``ds4_cutoff``,
    5 at or above ``ds5_cutoff``.

    References
    ----------
    Hasenclever D et al. Eur J Nucl Med Mol Imaging 2014;41:1301-1308 (cut-offs [U]).

    Examples
    --------
    >>> qpet_score(3.0, 2.0)
    (1.5, '4')
    >>> qpet_score(None, 2.0)
    (None, None)
    """
    if lesion_suv_peak is None or not liver_suv_mean or not math.isfinite(lesion_suv_peak):
        return None, None
    q = float(lesion_suv_peak) / float(liver_suv_mean)
    band = "5" if q >= ds5_cutoff else "4" if q > ds4_cutoff else "1-3"
    return q, band


def lugano_proxy(
    deauville: int,
    *,
    new_lesions: bool,
    uptake_change_pct: float | None,
    decrease_pct: float = _DEFAULTS.lugano_decrease_pct,
    increase_pct: float = _DEFAULTS.lugano_increase_pct,
) -> str:
    """Lugano 2014 metabolic response proxy: ``CMR``, ``PMR``, ``NMR`` or ``PMD``.

    Parameters
    ----------
    deauville : int
        Deauville proxy at follow-up.
    new_lesions : bool
        New FDG-avid lesions at follow-up.
    uptake_change_pct : float or None
        Change of the hottest uptake from the baseline SUVmax, %.
    decrease_pct, increase_pct : float
        "Reduced" and "increased" uptake limits (PERCIST 30 %).

    Notes
    -----
    PMD if new lesions; CMR if DS ≤ 3; else PMR if change ≤ −decrease, PMD if change
    ≥ +increase, NMR otherwise (DS 4-5 with no significant change).

    References
    ----------
    Cheson BD et al. J Clin Oncol 2014;32:3059. Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S.

    Examples
    --------
    >>> [lugano_proxy(3, new_lesions=False, uptake_change_pct=-80.0),
    ...  lugano_proxy(4, new_lesions=False, uptake_change_pct=-50.0),
    ...  lugano_proxy(4, new_lesions=False, uptake_change_pct=0.0),
    ...  lugano_proxy(5, new_lesions=False, uptake_change_pct=40.0),
    ...  lugano_proxy(2, new_lesions=True, uptake_change_pct=-90.0)]
    ['CMR', 'PMR', 'NMR', 'PMD', 'PMD']
    """
    if new_lesions:
        return "PMD"
    if deauville <= 3:
        return "CMR"
    if uptake_change_pct is None:
        return "NMR"
    if uptake_change_pct <= -decrease_pct:
        return "PMR"
    if uptake_change_pct >= increase_pct:
        return "PMD"
    return "NMR"


def lyric_candidates(
    lugano: str,
    *,
    day_from_infusion: int | None,
    new_lesion_count: int,
    tmtv_pct: float | None,
    lesion_changes: Sequence[Mapping[str, Any]] = (),
    window_days: float = _DEFAULTS.lyric_window_days,
    ir1_volume_increase_pct: float = _DEFAULTS.lyric_ir1_volume_increase_pct,
    ir3_volume_tolerance_pct: float = _DEFAULTS.lyric_ir3_volume_tolerance_pct,
    uptake_increase_pct: float = _DEFAULTS.lugano_increase_pct,
) -> list[str]:
    """LYRIC indeterminate-response candidates (``IR1``, ``IR2``, ``IR3``) for a proposed PMD.

    Parameters
    ----------
    lugano : str
        Lugano proxy; only ``PMD`` can be indeterminate.
    day_from_infusion : int or None
        Days since infusion; candidates only within ``window_days`` (None: not assessed).
    new_lesion_count : int
    tmtv_pct : float or None
        TMTV change from baseline, %.
    lesion_changes : sequence of mapping
        Matched lesions with ``delta_volume_pct`` and ``delta_suv_max_pct``.

    Notes
    -----
    IR1: ``tmtv_pct ≥ ir1`` and no new lesion. IR2: new lesion(s) with ``tmtv_pct < ir1``,
    or a matched lesion with ``delta_volume_pct ≥ ir1``. IR3: a matched lesion with
    ``delta_suv_max_pct ≥ uptake_increase`` and ``delta_volume_pct < ir3 tolerance``,
    and no new lesion and ``tmtv_pct < ir3 tolerance``. Metabolic volume stands in for SPD.

    References
    ----------
    Cheson BD et al. Blood 2016;128:2489 (sub-definitions [U], methods.md §6.3).

    Examples
    --------
    >>> lyric_candidates("PMD", day_from_infusion=30, new_lesion_count=0, tmtv_pct=80.0)
    ['IR1']
    >>> lyric_candidates("PMD", day_from_infusion=120, new_lesion_count=0, tmtv_pct=80.0)
    []
    """
    if lugano != "PMD" or day_from_infusion is None or not (0 <= day_from_infusion <= window_days):
        return []
    out: list[str] = []
    growth = tmtv_pct if tmtv_pct is not None else 0.0
    if new_lesion_count == 0 and growth >= ir1_volume_increase_pct:
        out.append("IR1")
    lesion_grew = any(
        (
            c.get("delta_volume_pct") is not None
            and _f(c.get("delta_volume_pct")) >= ir1_volume_increase_pct
        )
        for c in lesion_changes
    )
    if (new_lesion_count > 0 and growth < ir1_volume_increase_pct) or (
        lesion_grew and "IR1" not in out
    ):
        out.append("IR2")
    hotter_same_size = any(
        _f(c.get("delta_suv_max_pct")) >= uptake_increase_pct
        and _f(c.get("delta_volume_pct")) < ir3_volume_tolerance_pct
        for c in lesion_changes
    )
    if hotter_same_size and new_lesion_count == 0 and growth < ir3_volume_tolerance_pct:
        out.append("IR3")
    return out


def _f(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def propose_categories(
    *,
    uptake_suv: float | None,
    uptake_source: str,
    lesion_suv_peak: float | None,
    baseline_suv_max: float | None,
    liver: Mapping[str, float] | None,
    mbp: Mapping[str, float] | None,
    new_lesion_count: int,
    tmtv_pct: float | None,
    day_from_infusion: int | None,
    lesion_changes: Sequence[Mapping[str, Any]] = (),
    config: ResponseConfig = _DEFAULTS,
) -> dict[str, Any]:
    """All proposals for one follow-up, with their inputs, thresholds and sources.

    Parameters
    ----------
    uptake_suv : float or None
        Hottest residual or new-lesion SUVmax at follow-up (g/mL).
    uptake_source : str
        Where it was measured (for the report).
    lesion_suv_peak : float or None
        Hottest follow-up lesion SUVpeak (for qPET).
    baseline_suv_max : float or None
        Baseline patient SUVmax (for the Lugano uptake change).
    liver, mbp : mapping or None
        Reference statistics with ``suv_mean`` and ``suv_max`` (follow-up).
    new_lesion_count : int
    tmtv_pct : float or None
    day_from_infusion : int or None
    lesion_changes : sequence of mapping
    config : ResponseConfig

    Returns
    -------
    dict
        ``deauville_proxy`` (int or None when a reference is missing), ``qpet``,
        ``qpet_band``, ``lesion_to_liver``, ``lesion_to_mbp``, ``lugano_proxy``,
        ``lyric_candidates``, ``uptake_change_pct``, ``status`` = ``"proposed"``,
        ``reader_confirmed`` (all None), ``thresholds`` with sources, ``notes``.
    """
    stat = config.deauville_reference_statistic
    notes: list[str] = []
    liver_ref = None if liver is None else liver.get(stat)
    mbp_ref = None if mbp is None else mbp.get(stat)
    new = new_lesion_count > 0
    if liver_ref is None or mbp_ref is None:
        ds = 5 if new else None
        notes.append(
            "Deauville proxy needs both liver and MBP reference regions"
            + (" (DS5 from new lesions)" if new else "")
        )
    else:
        ds = deauville_proxy(
            uptake_suv,
            liver_ref=float(liver_ref),
            mbp_ref=float(mbp_ref),
            new_lesions=new,
            marked_multiplier=config.deauville_marked_multiplier,
            background_fraction_of_mbp=config.deauville_background_fraction_of_mbp,
        )
    liver_mean = None if liver is None else liver.get("suv_mean")
    q, band = qpet_score(
        lesion_suv_peak,
        liver_mean,
        ds4_cutoff=config.qpet_ds4_cutoff,
        ds5_cutoff=config.qpet_ds5_cutoff,
    )
    if q is None:
        notes.append("qPET not computed: no follow-up lesion SUVpeak or no liver reference")
    change = None
    if uptake_suv is not None and baseline_suv_max:
        change = (float(uptake_suv) - float(baseline_suv_max)) / float(baseline_suv_max) * 100.0
    lug = None
    if ds is not None:
        lug = lugano_proxy(
            ds,
            new_lesions=new,
            uptake_change_pct=change,
            decrease_pct=config.lugano_decrease_pct,
            increase_pct=config.lugano_increase_pct,
        )
    lyric = (
        lyric_candidates(
            lug or "",
            day_from_infusion=day_from_infusion,
            new_lesion_count=new_lesion_count,
            tmtv_pct=tmtv_pct,
            lesion_changes=lesion_changes,
            window_days=config.lyric_window_days,
            ir1_volume_increase_pct=config.lyric_ir1_volume_increase_pct,
            ir3_volume_tolerance_pct=config.lyric_ir3_volume_tolerance_pct,
            uptake_increase_pct=config.lugano_increase_pct,
        )
        if lug == "PMD"
        else []
    )
    if lug == "PMD" and day_from_infusion is None:
        notes.append("LYRIC candidates not assessed: no --infusion-date")
    ratio = lambda a, b: None if a is None or not b else float(a) / float(b)  # noqa: E731
    return {
        "status": "proposed",
        "deauville_proxy": ds,
        "uptake_suv": uptake_suv,
        "uptake_source": uptake_source,
        "reference_statistic": stat,
        "liver_reference": liver_ref,
        "mbp_reference": mbp_ref,
        "qpet": q,
        "qpet_band": band,
        "lesion_to_liver": ratio(uptake_suv, liver_ref),
        "lesion_to_mbp": ratio(uptake_suv, mbp_ref),
        "uptake_change_pct": change,
        "lugano_proxy": lug,
        "lyric_candidates": lyric,
        "reader_confirmed": {"deauville": None, "lugano": None, "lyric": None},
        "thresholds": {
            "deauville_marked_multiplier": {
                "value": config.deauville_marked_multiplier,
                "source": "methods.md §6.1: 'markedly higher' often SUVmax > 2-3 x liver [U]",
            },
            "deauville_background_fraction_of_mbp": {
                "value": config.deauville_background_fraction_of_mbp,
                "source": "carpet convention for DS1 'no uptake above background'",
            },
            "qpet_ds4_cutoff": {
                "value": config.qpet_ds4_cutoff,
                "source": "Hasenclever EJNMMI 2014 [U]",
            },
            "qpet_ds5_cutoff": {
                "value": config.qpet_ds5_cutoff,
                "source": "Hasenclever EJNMMI 2014 [U]",
            },
            "lugano_decrease_pct": {
                "value": config.lugano_decrease_pct,
                "source": "PERCIST 30 % (Wahl 2009)",
            },
            "lugano_increase_pct": {
                "value": config.lugano_increase_pct,
                "source": "PERCIST 30 % (Wahl 2009)",
            },
            "lyric_window_days": {
                "value": config.lyric_window_days,
                "source": "LYRIC: 12 weeks (Cheson 2016)",
            },
            "lyric_ir1_volume_increase_pct": {
                "value": config.lyric_ir1_volume_increase_pct,
                "source": "LYRIC IR1 >= 50 % SPD increase (Cheson 2016) [U]; metabolic volume as proxy",
            },
            "lyric_ir3_volume_tolerance_pct": {
                "value": config.lyric_ir3_volume_tolerance_pct,
                "source": "carpet: 'no increase in size' = volume change below this",
            },
        },
        "notes": notes,
    }
