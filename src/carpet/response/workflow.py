"""``carpet response`` end to end: read, check, analyse, register, compare, write.

This is the orchestration layer of the response stage (like :mod:`carpet.pipeline`
for one scan): it is the only module of :mod:`carpet.response` that reads files
(through :mod:`carpet.ingest`) and writes outputs; the others are pure.

Outputs (issue #9 §5), written atomically into ``out_dir``:

* ``baseline/``, ``followup/`` (and ``followup_3/``, ... for more studies): complete
  ``carpet analyze`` outputs, plus ``reference_vois.nii.gz`` (liver = 1, MBP = 2);
* ``response.json``: baseline vs first follow-up at the top level (contract keys),
  every comparison (with the first and with the previous study) under ``comparisons``;
* ``lesion_matches.csv`` (baseline vs first follow-up) and
  ``lesion_matches_<k>_vs_<j>.csv`` for the other comparisons;
* ``response_mip.png``: baseline and follow-up MIPs side by side, lesions numbered alike;
* with more than two studies: ``timeline.csv`` and ``kinetics.png``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carpet._version import __version__
from carpet.config import AnalysisConfig, ResponseConfig, to_dict
from carpet.errors import InputError
from carpet.response.compare import (
    AnalysedTimepoint,
    PairComparison,
    compare_pair,
    timepoint_summary,
)
from carpet.response.registration import Registration, register_studies
from carpet.response.timepoints import (
    StudyIdentity,
    assign_roles,
    check_chronology,
    check_same_patient,
    check_same_tracer,
    normalize_tracer,
    parse_date,
)

logger = logging.getLogger(__name__)

__all__ = ["ResponseResult", "read_identity", "run_response", "write_response"]


@dataclasses.dataclass(frozen=True, eq=False)
class ResponseResult:
    """Everything ``carpet response`` computes.

    Attributes
    ----------
    timepoints : list of AnalysedTimepoint
    analyses : list of AnalysisResult
        ``carpet analyze`` result of each study.
    registrations : list of Registration
        Study k → baseline (identity for the baseline).
    comparisons : list of (int, int, PairComparison)
        (baseline index, follow-up index, comparison).
    response : dict
        ``response.json`` content.
    """

    timepoints: list
    analyses: list
    registrations: list
    comparisons: list
    response: dict


def read_identity(pet: Any, label: str) -> StudyIdentity:
    """Patient/tracer/date facts of a loaded PET study (PatientID is compared, never output)."""
    pid = dob = sex = None
    files = list(getattr(getattr(pet, "series", None), "files", []) or [])
    if files:
        import pydicom

        try:
            ds = pydicom.dcmread(
                files[0],
                stop_before_pixels=True,
                specific_tags=["PatientID", "PatientBirthDate", "PatientSex"],
            )
            pid = str(ds.get("PatientID", "") or "").strip() or None
            dob = parse_date(
                str(ds.get("PatientBirthDate", "") or "").strip() or None, option="PatientBirthDate"
            )
            sex = str(ds.get("PatientSex", "") or "").strip().upper() or None
        except (OSError, ValueError, pydicom.errors.InvalidDicomError):  # identity is best effort
            logger.debug("no identity read from %s", files[0])
    acq = getattr(pet, "acquisition", None)
    tracer = normalize_tracer(
        getattr(acq, "radiopharmaceutical", None),
        getattr(acq, "radionuclide_code_meaning", None) or getattr(acq, "radionuclide_code", None),
    )
    if sex is None:
        sex = getattr(getattr(pet, "patient", None), "sex", None)
    return StudyIdentity(
        label=label,
        patient_id=pid,
        birth_date=dob,
        sex=sex,
        tracer=tracer,
        study_date=getattr(pet, "study_date", None),
    )


def _folder_names(n: int) -> list[str]:
    return ["baseline", "followup"] + [f"followup_{k}" for k in range(3, n + 1)]


def run_response(
    sources: Sequence[str | os.PathLike[str]],
    *,
    analysis_config: AnalysisConfig | None = None,
    config: ResponseConfig | None = None,
    liver_center_mm: Sequence[float] | None = None,
    mbp_center_mm: Sequence[float] | None = None,
    infusion_date: date | str | None = None,
    roles: Sequence[str] | None = None,
    allow_different_patients: bool = False,
    progress: Any = None,
) -> ResponseResult:
    """Analyse two or more studies of one patient and compare them.

    Parameters
    ----------
    sources : sequence of path
        DICOM folders, baseline first (as for ``carpet analyze``).
    analysis_config : AnalysisConfig, optional
        Segmentation settings used for every timepoint.
    config : ResponseConfig, optional
        Registration, matching and category thresholds.
    liver_center_mm, mbp_center_mm : sequence of 3 float, optional
        Reference VOI centres in the **baseline's** LPS mm; mapped to each follow-up
        through its registration.
    infusion_date : date or "YYYY-MM-DD", optional
        CAR T infusion date (days from infusion, roles, LYRIC window).
    roles : sequence of str, optional
        Timepoint roles (TD, TT, M1, M3, other), one per study.
    allow_different_patients : bool
        Do not refuse studies whose patient identity differs.
    progress : callable, optional
        Called with a short text at each step.

    Returns
    -------
    ResponseResult

    Raises
    ------
    InputError
        ``TOO_FEW_STUDIES``, ``NOT_FOUND``, ``DIFFERENT_PATIENTS``,
        ``FOLLOWUP_BEFORE_BASELINE``, ``DIFFERENT_TRACERS``, and any reading or
        analysis error.
    """
    from carpet.ingest.pet import read_ct_for, read_pet
    from carpet.pipeline import analyze

    say = progress or (lambda _msg: None)
    cfg = config or ResponseConfig()
    acfg = analysis_config or AnalysisConfig()
    infusion = parse_date(infusion_date)
    paths = [Path(s) for s in sources]
    if len(paths) < 2:
        raise InputError(
            f"carpet response needs a baseline and at least one follow-up study; got {len(paths)}",
            code="TOO_FEW_STUDIES",
        )
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder", code="NOT_FOUND")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    pets = []
    for p in paths:
        say(f"reading {p}")
        pets.append(read_pet(p))
    timings["read_s"] = time.perf_counter() - t0
    ids = [read_identity(pet, str(p)) for pet, p in zip(pets, paths, strict=False)]
    notes = check_same_patient(ids, allow_different_patients=allow_different_patients)
    check_chronology(ids)
    check_same_tracer(ids)
    tps = assign_roles(
        [i.study_date for i in ids],
        infusion_date=infusion,
        roles=roles,
        labels=[str(p) for p in paths],
    )
    t = time.perf_counter()
    cts = [read_ct_for(pet) for pet in pets]
    timings["read_ct_s"] = time.perf_counter() - t

    analyses: list[Any] = []
    regs: list[Registration] = []
    analysed: list[AnalysedTimepoint] = []
    timings["analyze_s"] = 0.0
    timings["registration_s"] = 0.0
    for k, (pet, ct, tp) in enumerate(zip(pets, cts, tps, strict=False)):
        if k == 0:
            reg = Registration(method="identity", matrix=np.eye(4), residual_mm=0.0)
        else:
            say(f"registering {paths[k]} onto the baseline")
            t = time.perf_counter()
            reg = register_studies(
                pets[0].suv, pet.suv, baseline_ct=cts[0], followup_ct=ct, config=cfg
            )
            timings["registration_s"] += time.perf_counter() - t
        regs.append(reg)
        lc = (
            None if liver_center_mm is None else tuple(reg.baseline_to_followup(liver_center_mm)[0])
        )
        mc = None if mbp_center_mm is None else tuple(reg.baseline_to_followup(mbp_center_mm)[0])
        say(f"analysing {paths[k]} ({tp.role})")
        t = time.perf_counter()
        res = analyze(pet, config=acfg, ct=ct, liver_center_mm=lc, mbp_center_mm=mc)
        timings["analyze_s"] += time.perf_counter() - t
        analyses.append(res)
        analysed.append(
            AnalysedTimepoint(
                timepoint=tp,
                suv=res.suv,
                labels=res.labels,
                lesions=res.lesions,
                patient=res.patient,
                liver=res.context.get("liver"),
                mbp=res.context.get("mbp"),
                ct=ct,
            )
        )
    t = time.perf_counter()
    comparisons: list[tuple[int, int, PairComparison]] = []
    for k in range(1, len(analysed)):
        comparisons.append((0, k, compare_pair(analysed[0], analysed[k], regs[k], config=cfg)))
        if k >= 2:
            # previous → current: compose through the baseline (no second registration)
            m = np.linalg.inv(regs[k - 1].matrix) @ regs[k].matrix
            rel = Registration(method=regs[k].method, matrix=m, residual_mm=None)
            comparisons.append(
                (k - 1, k, compare_pair(analysed[k - 1], analysed[k], rel, config=cfg))
            )
    timings["compare_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    names = _folder_names(len(paths))
    first = comparisons[0][2].summary
    # outputs name studies by their output folder, never by their input path (which may
    # carry patient names)
    warn = []
    for note in notes:
        for p, name in sorted(zip(paths, names, strict=True), key=lambda x: -len(str(x[0]))):
            note = note.replace(str(p), name)
        warn.append(note)
    for name, a in zip(names, analyses, strict=False):
        warn.extend(f"{name}: {w}" for w in a.warnings)
    response = {
        **{k: v for k, v in first.items() if k not in ("categories",)},
        "categories": first["categories"],
        "timepoints": [{**tp.to_dict(), "folder": n} for tp, n in zip(tps, names, strict=False)],
        "infusion_date": infusion.isoformat() if infusion else None,
        "comparisons": [
            {
                "baseline_index": i,
                "followup_index": j,
                "reference": "first" if i == 0 else "previous",
                "lesion_matches_csv": _matches_name(i, j),
                **c.summary,
            }
            for i, j, c in comparisons
        ],
        "parameters": {
            "response": to_dict(cfg),
            "analysis": {
                "method": acfg.method,
                "min_volume_ml": acfg.min_volume_ml,
                "connectivity": acfg.connectivity,
            },
            "liver_voi_center_mm": None
            if liver_center_mm is None
            else [float(v) for v in liver_center_mm],
            "mbp_voi_center_mm": None
            if mbp_center_mm is None
            else [float(v) for v in mbp_center_mm],
            "allow_different_patients": bool(allow_different_patients),
        },
        "warnings": warn,
        "versions": {
            "carpet": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    return ResponseResult(
        timepoints=analysed,
        analyses=analyses,
        registrations=regs,
        comparisons=comparisons,
        response=response,
    )


def _matches_name(i: int, j: int) -> str:
    return "lesion_matches.csv" if (i, j) == (0, 1) else f"lesion_matches_{j + 1}_vs_{i + 1}.csv"


def timeline_table(result: ResponseResult) -> pd.DataFrame:
    """One row per timepoint: role, dates, TMTV, TLG, SUVmax/peak, references, Δ vs first/previous."""
    rows = []
    by_pair = {(i, j): c for i, j, c in result.comparisons}
    for k, tp in enumerate(result.timepoints):
        s = timepoint_summary(tp)
        row = {
            "index": k,
            **{
                c: s[c]
                for c in (
                    "role",
                    "study_date",
                    "day_from_infusion",
                    "tmtv_ml",
                    "tlg",
                    "suv_max",
                    "suv_peak",
                    "lesion_count",
                    "liver_suv_mean",
                    "mbp_suv_mean",
                )
            },
        }
        for ref, key in (("first", (0, k)), ("previous", (k - 1, k))):
            c = by_pair.get(key)
            d = c.summary["delta"] if c else {}
            row[f"tmtv_pct_vs_{ref}"] = d.get("tmtv_pct")
            row[f"suv_max_pct_vs_{ref}"] = d.get("suv_max_pct")
            row[f"tmtv_growth_per_day_vs_{ref}"] = d.get("tmtv_growth_per_day")
            row[f"deauville_proxy_vs_{ref}"] = c.summary["deauville_proxy"] if c else None
            row[f"lugano_proxy_vs_{ref}"] = c.summary["lugano_proxy"] if c else None
        rows.append(row)
    return pd.DataFrame(rows)


def write_response(result: ResponseResult, out_dir: str | os.PathLike[str]) -> Path:
    """Write every output of ``carpet response`` atomically into ``out_dir``."""
    from carpet._io import atomic_output_dir, atomic_write_json, atomic_write_text
    from carpet.ingest.nifti import write_nifti
    from carpet.measure.reference import reference_label_map
    from carpet.pipeline import _clean, write_analysis
    from carpet.response.figures import write_kinetics_plot, write_response_mip

    out = Path(out_dir)
    names = _folder_names(len(result.analyses))
    with atomic_output_dir(out) as tmp:
        for name, res, tp in zip(names, result.analyses, result.timepoints, strict=False):
            write_analysis(res, tmp / name)
            regions = [r for r in (tp.liver, tp.mbp) if r is not None]
            write_nifti(reference_label_map(tp.suv, regions), tmp / name / "reference_vois.nii.gz")
        for i, j, c in result.comparisons:
            atomic_write_text(
                tmp / _matches_name(i, j), c.matching.table.to_csv(index=False, float_format="%.6g")
            )
        atomic_write_json(tmp / "response.json", _clean(result.response))
        b, f = result.timepoints[0], result.timepoints[1]
        write_response_mip(b, f, result.comparisons[0][2].matching, tmp / "response_mip.png")
        if len(result.timepoints) > 2:
            tl = timeline_table(result)
            atomic_write_text(tmp / "timeline.csv", tl.to_csv(index=False, float_format="%.6g"))
            write_kinetics_plot(tl, tmp / "kinetics.png")
    return out
