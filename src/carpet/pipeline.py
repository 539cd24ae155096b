"""The orchestrator of one scan: load → segment → remove physiological uptake → edits → measure.

:func:`analyze` returns an :class:`AnalysisResult` in memory; :func:`write_analysis`
writes the ``carpet analyze`` contract (``patient.json``, ``lesions.csv``,
``mask.nii.gz``, ``mip.png``, ``edits.json`` when edits were applied) atomically.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import platform
import time
import warnings as _warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carpet._version import __version__
from carpet.config import AnalysisConfig, to_dict
from carpet.core.volume import Volume
from carpet.errors import CarpetError, InputError, QualityWarning, SuvError
from carpet.suv.normalization import body_surface_areas_m2
from carpet.units import Unit

logger = logging.getLogger(__name__)

__all__ = [
    "SOURCE_NAME",
    "STATE_NAME",
    "AnalysisResult",
    "analyze",
    "apply_reader_edits",
    "read_source_record",
    "resume_analysis",
    "write_analysis",
]


@dataclasses.dataclass(frozen=True, eq=False)
class AnalysisResult:
    """Everything ``carpet analyze`` computes for one scan.

    Attributes
    ----------
    suv : Volume
        SUVbw volume analysed.
    labels : Volume
        int32 lesion ids after edits (0 = none), ``Unit.LABEL``.
    excluded : Volume
        uint8 codes of removed physiological uptake (:data:`carpet.segment.physio.EXCLUDED_CODES`).
    lesions : pandas.DataFrame
        One row per lesion (``lesions.csv`` columns plus in-memory ``hull_points_mm``).
    patient : dict
        ``patient.json`` content.
    auto_labels : Volume
        Lesion ids before reader edits.
    edits_applied : list of dict
        Actions applied and their effect.
    warnings : list of str
        Quality and header warnings.
    provenance : dict
        Versions, configuration, SUV provenance, timings.
    segmentation : carpet.segment.Segmentation
        Full edit state (seeds, removed ids, flags) to apply further edits.
    config : AnalysisConfig
        The configuration used.
    auto_segmentation : carpet.segment.Segmentation
        The automatic state before edits.
    context : dict
        ``params`` (GrowthParams for :func:`carpet.segment.apply_edits`), ``actions``,
        ``liver`` / ``mbp`` (ReferenceRegion or None) and ``boxes`` (lesion id ->
        bounding box, for re-measuring one lesion quickly with
        ``measure_lesions(..., lesion_ids=[i], boxes=...)``).
    """

    suv: Volume
    labels: Volume
    excluded: Volume
    lesions: pd.DataFrame
    patient: dict
    auto_labels: Volume
    edits_applied: list
    warnings: list
    provenance: dict
    segmentation: Any = dataclasses.field(repr=False, default=None)
    config: AnalysisConfig = dataclasses.field(default_factory=AnalysisConfig)
    auto_segmentation: Any = dataclasses.field(repr=False, default=None)
    context: dict = dataclasses.field(default_factory=dict, repr=False)


def _load(source: Any, *, units: str | None, overrides: Any) -> tuple[Volume, dict, Any]:
    """SUV volume, patient facts and the loaded study (or None)."""
    if isinstance(source, Volume):
        suv = source
        patient: dict = {}
        study = None
    elif hasattr(source, "suv") and isinstance(source.suv, Volume):
        study = source
        suv = source.suv
        p = getattr(source, "patient", None)
        if p is None:
            patient = {}
        elif hasattr(p, "to_dict"):
            patient = p.to_dict()
        elif dataclasses.is_dataclass(p):
            patient = dataclasses.asdict(p)
        else:
            patient = dict(p)
    elif isinstance(source, (str, os.PathLike)):
        from carpet.ingest.pet import read_pet

        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder", code="NOT_FOUND")
        study = read_pet(path, units=units, overrides=overrides)
        suv = study.suv
        patient = study.patient.to_dict()
    else:
        raise InputError(
            f"analyze: source must be a path, a PetStudy or an SUV Volume; got {type(source).__name__}",
            code="BAD_SOURCE",
        )
    if not suv.unit.is_suv:
        raise SuvError(
            f"analyze needs an SUV volume; got unit {suv.unit.value} "
            "(load DICOM with read_pet, or declare a NIfTI already in SUV with --units suv)",
            code="NOT_SUV",
        )
    patient = {
        k: patient.get(k) for k in ("weight_kg", "height_m", "sex", "age_years") if k in patient
    }
    bad = ~np.isfinite(suv.array)
    if bad.any():  # NaN/inf voxels (outside the reconstructed field of view in some NIfTI files)
        n_bad = int(bad.sum())
        suv = suv.with_array(np.where(bad, np.float32(0), suv.array).astype(np.float32, copy=False))
        msg = (
            f"{n_bad} SUV voxels are NaN or infinite (outside the reconstructed field of view?); "
            "treated as 0"
        )
        _warnings.warn(msg, QualityWarning, stacklevel=3)
        study = _WithWarnings(study, msg)
    return suv, patient, study


#: Sidecar of ``write_analysis`` recording where the PET was read from (for ``carpet review``).
SOURCE_NAME = "source.json"
#: Automatic edit state written by ``write_analysis`` (seeds, label and exclusion maps,
#: full-precision lesion records), so ``carpet review`` starts without re-segmenting.
STATE_NAME = "analysis_state.npz"
_STATE_FORMAT = 1


def _source_record(source: Any, study: Any, units: str | None) -> dict | None:
    """Where the PET was read from (absolute path as given), its series UID and units.

    Kept in memory (``AnalysisResult.context["source"]``) and written only to the
    ``source.json`` sidecar, never to ``patient.json``. None for in-memory input.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(source))
    else:
        given = getattr(study, "source", None)
        if not isinstance(given, (str, os.PathLike)) or not str(given):
            return None
        path = os.path.abspath(os.fspath(given))
        if units is None and getattr(study, "series", "dicom") is None:
            units = "suv"  # a NIfTI study can only have been read as SUV
    return {
        "pet_path": path,
        "series_instance_uid": getattr(study, "series_instance_uid", None),
        "units": units,
    }


class _WithWarnings:
    """A loaded study (or nothing) plus extra warnings, with the study's other attributes."""

    def __init__(self, study: Any, message: str) -> None:
        self._study = study
        self.warnings = (*tuple(getattr(study, "warnings", ()) or ()), message)

    def __getattr__(self, name: str) -> Any:
        if self._study is None:
            raise AttributeError(name)
        return getattr(self._study, name)


def _reference(
    suv: Volume,
    lesion_mask: Volume,
    organs: Volume | None,
    ct: Volume | None,
    organ_names: dict[int, str] | None,
    warn: list[str],
) -> tuple[Any, Any]:
    """Liver and MBP reference regions (carpet.measure.reference); failures become warnings."""
    try:
        from carpet.measure import reference as ref
    except ImportError:  # pragma: no cover - module absent in a partial install
        warn.append("reference regions not measured: carpet.measure.reference unavailable")
        return None, None
    labels = None
    if organs is not None and organ_names:
        labels = {name: val for val, name in organ_names.items()}
    liver = mbp = None
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", QualityWarning)
        try:
            liver = ref.place_liver_voi(
                suv, organs=organs, ct=ct, lesions=lesion_mask, organ_labels=labels
            )
        except CarpetError as exc:
            warn.append(f"liver reference not placed [{exc.code}]: {exc}")
        try:
            mbp = ref.place_mbp_voi(
                suv, organs=organs, ct=ct, lesions=lesion_mask, liver=liver, organ_labels=labels
            )
        except CarpetError as exc:
            warn.append(f"blood-pool reference not placed [{exc.code}]: {exc}")
    return liver, mbp


def _ref_dict(r: Any) -> dict | None:
    if r is None:
        return None
    return {
        "center_mm": [float(v) for v in r.center_mm],
        "method": r.method,
        "suv_mean": float(r.suv_mean),
        "suv_sd": float(r.suv_sd),
        "suv_max": float(r.suv_max),
        "n_voxels": int(r.n_voxels),
        "diameter_mm": float(r.diameter_mm),
        "warnings": list(r.warnings),
    }


def _split_seeds(
    arr: np.ndarray, box: tuple, mask: np.ndarray, min_voxels: int, connectivity: int
) -> list:
    """Seeds of the connected parts (≥ min_voxels) of a mask crop."""
    from carpet.segment.components import label_components
    from carpet.segment.methods import seeds_from_regions

    lab, _ = label_components(mask, connectivity=connectivity)
    counts = np.bincount(lab.ravel())
    small = np.flatnonzero(counts < max(1, min_voxels))
    lab[np.isin(lab, small)] = 0
    out = []
    for sd in seeds_from_regions(arr[box], lab).values():
        off = [b.start for b in box]
        gbox = tuple(slice(b.start + o, b.stop + o) for b, o in zip(sd.box, off, strict=True))
        gmax = tuple(int(i + o) for i, o in zip(sd.max_index, off, strict=True))
        out.append(dataclasses.replace(sd, box=gbox, max_index=gmax))
    return out


def _clean(obj: Any) -> Any:
    """JSON-safe copy (numpy scalars → Python, NaN/inf → None)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj


def analyze(
    source: Any,
    *,
    config: AnalysisConfig | None = None,
    edits: Any = None,
    organs: Any = None,
    ct: Volume | None = None,
    overrides: Any = None,
    units: str | None = None,
    liver_center_mm: Any = None,
    mbp_center_mm: Any = None,
) -> AnalysisResult:
    """Segment and measure the lesions of one PET scan.

    Parameters
    ----------
    source : path, PetStudy (or SyntheticStudy) or Volume
        A DICOM folder/file or NIfTI file (read with :func:`carpet.ingest.pet.read_pet`),
        an already loaded study with ``.suv``, or an SUV :class:`Volume`.
    config : AnalysisConfig, optional
        Method, thresholds, minimum volume, connectivity, ... (defaults: SUV ≥ 4,
        regions ≥ 3 mL, 26-connectivity, physiological exclusion on).
    edits : path, dict or list, optional
        Reader edits (see :mod:`carpet.segment.edits`) applied after the automatic result.
    organs : path or Volume, optional
        Organ label map (NIfTI; names from metadata, a sidecar JSON, or the
        TotalSegmentator numbering) used for physiological exclusion and references.
    ct : Volume, optional
        CT in HU (any grid, same frame of reference) for the reference regions.
    overrides : carpet.suv.SuvOverrides, optional
        Header overrides when loading from a path.
    units : {"suv"}, optional
        For NIfTI input already in SUV.
    liver_center_mm, mbp_center_mm : sequence of 3 float, optional
        Reader override of the reference VOI centres (LPS mm).

    Returns
    -------
    AnalysisResult

    Notes
    -----
    1. Preselect connected regions with SUV ≥ ``preselect_threshold_suv`` and
       volume ≥ ``min_volume_ml`` (international benchmark, Boellaard JNM 2024).
    2. Remove physiological regions (:mod:`carpet.segment.physio`).
    3. Segment each remaining region with ``method`` (:mod:`carpet.segment.methods`),
       ids 1..n by decreasing SUVmax.
    4. Apply reader edits. 5. Measure (methods.md §3).

    Examples
    --------
    >>> from carpet.synthetic import make_whole_body_study, LesionSpec
    >>> s = make_whole_body_study(fov="thorax", spacing_mm=(4, 4, 4), n_lesions=0, with_ct=False,
    ...     lesions=[LesionSpec((-60.0, 0.0, -350.0), 12.0, 10.0, "hilar")])
    >>> r = analyze(s)
    >>> r.patient["lesion_count"], round(r.patient["suv_max"], 1)
    (1, 10.0)
    """
    from carpet.measure.tables import lesion_boxes, measure_lesions
    from carpet.segment.components import preselect_regions
    from carpet.segment.edits import Segmentation, apply_edits, load_edits, validate_edits
    from carpet.segment.methods import GrowthParams, grow_lesions, seeds_from_regions
    from carpet.segment.organs import organ_names_for
    from carpet.segment.physio import (
        EXCLUDED_CODES,
        body_frame,
        classify_regions,
        organ_code_for_name,
    )
    from carpet.segment.threshold import percist_threshold

    cfg = config or AnalysisConfig()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    suv, patient, study = _load(source, units=units, overrides=overrides)
    warn: list[str] = list(getattr(study, "warnings", ()) or ())
    timings["load_s"] = time.perf_counter() - t0
    if edits is not None:
        actions = (
            load_edits(edits) if isinstance(edits, (str, os.PathLike)) else validate_edits(edits)
        )
    else:
        actions = []
    organ_names = None
    organs_source = None
    if organs is not None:
        organ_path = None
        seg_names = None
        if isinstance(organs, (str, os.PathLike)):
            from carpet.ingest.nifti import is_nifti_path, read_nifti

            organ_path = Path(organs)
            if not organ_path.is_file():
                raise InputError(f"organ map {organ_path}: no such file", code="NOT_FOUND")
            if is_nifti_path(organ_path):
                organs = read_nifti(organ_path, unit=Unit.LABEL)
            else:  # DICOM SEG on the PET grid (carpet.ingest.seg)
                from carpet.ingest.seg import read_seg

                imported = read_seg(organ_path, suv)
                organs = imported.labels
                seg_names = {s.label: s.name for s in imported.segments}
        if not isinstance(organs, Volume):
            raise InputError(
                f"organs must be a path or a Volume; got {type(organs).__name__}", code="BAD_ORGANS"
            )
        if seg_names is not None:
            organ_names, organs_source = seg_names, f"DICOM SEG segment labels ({organ_path.name})"
        else:
            organ_names, organs_source = organ_names_for(organs, organ_path)
            if organ_path is not None and organs_source == str(
                organ_path.with_name(Path(organs_source).name)
            ):
                organs_source = Path(organs_source).name  # file name only, no folder (privacy)
        if not organs.same_grid_as(suv):
            from carpet.core.geometry import resample_to

            organs = resample_to(organs, suv, order=0)
    arr = suv.array
    v_ml = suv.voxel_volume_ml
    sp = suv.spacing_mm
    min_voxels = int(math.ceil(cfg.min_volume_ml / v_ml - 1e-9)) if cfg.min_volume_ml > 0 else 0
    t = time.perf_counter()
    regions, n_regions = preselect_regions(
        arr,
        threshold_suv=cfg.preselect_threshold_suv,
        min_voxels=min_voxels,
        connectivity=cfg.connectivity,
    )
    timings["preselect_s"] = time.perf_counter() - t
    t = time.perf_counter()
    physio: dict[int, str] = {}
    notes: list[str] = []
    frame = None
    if cfg.physio_exclusion and n_regions:
        if organs is None:
            frame = body_frame(suv, ct=ct)
        physio, notes = classify_regions(
            suv, regions, frame=frame, organs=organs, organ_names=organ_names
        )
    timings["physio_s"] = time.perf_counter() - t
    t = time.perf_counter()
    seeds_all = seeds_from_regions(arr, regions)
    timings["seeds_s"] = time.perf_counter() - t
    excluded = np.zeros(arr.shape, np.uint8)
    physio_values = None
    if organs is not None and physio:
        physio_values = [v for v, name in (organ_names or {}).items() if organ_code_for_name(name)]
    leftovers = []
    for rid, organ in physio.items():
        sd = seeds_all[rid]
        if physio_values is None:
            excluded[sd.box][sd.core] = EXCLUDED_CODES[organ]
            continue
        # organ map: only the organ's voxels are physiological; a lesion touching the organ
        # (merged into the same SUV >= 4 region) keeps its voxels outside the organ
        in_organ = sd.core & np.isin(organs.array[sd.box], physio_values)
        excluded[sd.box][in_organ] = EXCLUDED_CODES[organ]
        rest = sd.core & ~in_organ
        if rest.sum() >= max(1, min_voxels):
            leftovers.extend(_split_seeds(arr, sd.box, rest, min_voxels, cfg.connectivity))
    kept = [seeds_all[rid] for rid in sorted(seeds_all) if rid not in physio]
    kept = sorted(kept + leftovers, key=lambda sd: -sd.suv_max)
    seeds = {}
    for new_id, sd in enumerate(kept, start=1):
        seeds[new_id] = dataclasses.replace(sd, lesion_id=new_id)
    del regions
    # reference regions (before growth: the lesion mask is the preselection)
    t = time.perf_counter()
    # every preselected region (lesions and removed organs) is kept out of the reference VOIs
    want_refs = (
        cfg.reference_regions
        or cfg.method == "percist"
        or liver_center_mm is not None
        or mbp_center_mm is not None
    )
    lesion_mask = np.zeros(arr.shape if want_refs else (1, 1, 1), np.uint8)
    if want_refs:
        for sd in seeds_all.values():
            lesion_mask[sd.box][sd.core] = 1
    lesion_vol = Volume(
        lesion_mask,
        suv.affine if want_refs else np.eye(4),
        unit=Unit.MASK,
        frame_of_reference_uid=suv.frame_of_reference_uid,
    )
    liver, mbp = None, None
    if liver_center_mm is not None or mbp_center_mm is not None:
        from carpet.measure import reference as ref

        if liver_center_mm is not None:
            liver = ref.place_liver_voi(suv, center_mm=liver_center_mm, lesions=lesion_vol)
        if mbp_center_mm is not None:
            mbp = ref.place_mbp_voi(suv, center_mm=mbp_center_mm, lesions=lesion_vol, liver=liver)
    if (liver is None or mbp is None) and (cfg.reference_regions or cfg.method == "percist"):
        auto_liver, auto_mbp = _reference(suv, lesion_vol, organs, ct, organ_names, warn)
        liver = liver or auto_liver
        mbp = mbp or auto_mbp
    del lesion_mask, lesion_vol
    timings["reference_s"] = time.perf_counter() - t
    percist_t = None
    if liver is not None:
        percist_t = percist_threshold(
            liver.suv_mean,
            liver.suv_sd,
            liver_factor=cfg.percist_liver_factor,
            sd_factor=cfg.percist_sd_factor,
        )
        lo, hi = cfg.liver_range_suv
        if not (lo <= liver.suv_mean <= hi):
            msg = (
                f"liver SUVmean {liver.suv_mean:.2f} is outside the EANM plausibility range {lo}-{hi}: "
                "check dose, weight and timing in the header"
            )
            warn.append(msg)
            _warnings.warn(msg, QualityWarning, stacklevel=2)
    params = GrowthParams(
        fixed_threshold_suv=cfg.fixed_threshold_suv,
        low_threshold_suv=cfg.low_threshold_suv,
        pct_of_max=cfg.pct_of_max,
        a50p_fraction=cfg.a50p_fraction,
        background_shell_mm=cfg.background_shell_mm,
        peak_volume_ml=cfg.peak_volume_ml,
        percist_threshold_suv=percist_t,
        connectivity=cfg.connectivity,
        max_growth_mm=cfg.max_growth_mm,
    )
    t = time.perf_counter()
    forbidden = excluded != 0 if physio else None
    grown_boxes: dict = {}
    labels, thresholds = grow_lesions(
        arr,
        seeds,
        method=cfg.method,
        params=params,
        spacing_mm=sp,
        forbidden=forbidden,
        boxes_out=grown_boxes,
    )
    del forbidden
    timings["segment_s"] = time.perf_counter() - t
    auto = Segmentation(
        labels,
        excluded,
        seeds,
        cfg.method,
        thresholds,
        {i: cfg.method for i in seeds},
        {},
        {},
        max(seeds, default=0),
        grown_boxes,
    )
    base = {
        "patient": patient,
        "warnings": list(warn),
        "liver": _ref_dict(liver),
        "mbp": _ref_dict(mbp),
        "physio": bool(physio),
        "physio_regions": [
            {
                "organ": physio[r],
                "volume_ml": float(seeds_all[r].core.sum() * v_ml),
                "suv_max": float(seeds_all[r].suv_max),
            }
            for r in sorted(physio)
        ],
        "notes": notes,
        "n_regions": int(n_regions),
        "percist_threshold_suv": percist_t,
        "auto_lesion_count": len(seeds),
        "suv_provenance": _suv_provenance(study),
        "source_kind": (
            "memory"
            if study is None or not getattr(study, "source", None)
            else "nifti"
            if getattr(study, "series", None) is None
            else "dicom"
        ),
        "series_instance_uid": getattr(study, "series_instance_uid", None)
        if study is not None
        else None,
        "organs": organs_source,
        "body_frame": frame.to_dict() if frame is not None else None,
    }
    _finish = functools.partial(
        _finish_analysis,
        base,
        suv=suv,
        cfg=cfg,
        params=params,
        auto=auto,
        extra={"liver": liver, "mbp": mbp, "source": _source_record(source, study, units)},
    )

    seg = auto
    effects: list[dict] = []
    if actions:
        t = time.perf_counter()
        seg, effects = apply_edits(auto, actions, suv=suv, params=params)
        timings["edits_s"] = time.perf_counter() - t
    t = time.perf_counter()
    boxes = lesion_boxes(seg.labels) if actions else grown_boxes  # boxes enclose each lesion
    table = measure_lesions(
        suv,
        Volume(seg.labels, suv.affine, unit=Unit.LABEL),
        boxes=boxes,
        peak_volume_ml=cfg.peak_volume_ml,
        peak_center=cfg.peak_center,
    )
    return _finish(
        seg,
        effects,
        actions,
        table,
        boxes,
        timings,
        t,
        t0,
        None if actions else table,
    )


def _suv_provenance(study: Any) -> dict | None:
    """SUV factors and their provenance, without paths (best effort)."""
    if study is None or getattr(study, "suv_factors", None) is None:
        return None
    try:
        return {k: v for k, v in study.suv_factors.to_dict().items() if k != "source"}  # no paths
    except Exception:  # noqa: BLE001 - provenance is best effort, never fatal
        return None


def _finish_analysis(
    base: dict,
    seg: Any,
    effects: list,
    actions: list,
    table: pd.DataFrame,
    boxes: dict,
    timings_in: dict,
    t_measure: float,
    t_start: float,
    auto_table: pd.DataFrame | None,
    *,
    suv: Volume,
    cfg: AnalysisConfig,
    params: Any,
    auto: Any,
    extra: dict,
) -> AnalysisResult:
    """Measurement columns, patient metrics, provenance and the result.

    One code path for :func:`analyze`, :func:`apply_reader_edits` and a result
    resumed from :data:`STATE_NAME`: ``base`` holds everything that does not depend
    on the lesions (JSON data only), ``seg`` / ``table`` the (edited) lesions.
    """
    from carpet.measure.tables import patient_metrics
    from carpet.segment.physio import EXCLUDED_CODES

    w_out = list(base["warnings"])
    tm = dict(timings_in)
    v_ml = suv.voxel_volume_ml
    sp = suv.spacing_mm
    liver, mbp = base["liver"], base["mbp"]
    if len(table):
        table["threshold_suv"] = [
            seg.thresholds.get(int(i), float("nan")) for i in table["lesion_id"]
        ]
        table["method"] = [seg.lesion_methods.get(int(i), seg.method) for i in table["lesion_id"]]
        table["origin"] = [seg.seeds[int(i)].origin for i in table["lesion_id"]]
    bsa = body_surface_areas_m2(base["patient"].get("weight_kg"), base["patient"].get("height_m"))
    metrics = patient_metrics(table, bsa_m2=bsa, bsa_formula=cfg.bsa_formula)
    tm["measure_s"] = time.perf_counter() - t_measure
    liver_mean = float(liver["suv_mean"]) if liver is not None else None
    metrics["liver_suv_mean"] = liver_mean
    metrics["mbp_suv_mean"] = float(mbp["suv_mean"]) if mbp is not None else None
    metrics["tlr"] = (
        (metrics["suv_peak"] / liver_mean) if liver_mean and metrics["lesion_count"] else None
    )
    if liver is not None:
        w_out.extend(f"liver reference: {w}" for w in liver["warnings"] if w not in " ".join(w_out))
    if base["physio"] or seg.removed:
        ex = seg.excluded
        counts = np.bincount(ex[ex != 0], minlength=256)
    else:
        counts = np.zeros(256, np.int64)
    excluded_summary = {
        organ: float(counts[code] * v_ml) for organ, code in EXCLUDED_CODES.items() if counts[code]
    }
    provenance = {
        "carpet_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "config": to_dict(cfg),
        # the input path is not recorded: exported folders are often named after the patient
        "source_kind": base["source_kind"],
        "series_instance_uid": base["series_instance_uid"],
        "suv_unit": suv.unit.value,
        "grid": {
            "shape": list(suv.shape),
            "spacing_mm": list(sp),
            "orientation": suv.orientation,
            "voxel_volume_ml": v_ml,
        },
        "organs": base["organs"],
        "body_frame": base["body_frame"],
        "timings_s": tm,
    }
    patient_json = {
        **metrics,
        "method": seg.method,
        "parameters": {
            "preselect_threshold_suv": cfg.preselect_threshold_suv,
            "min_volume_ml": cfg.min_volume_ml,
            "connectivity": cfg.connectivity,
            "physio_exclusion": cfg.physio_exclusion,
            "peak_volume_ml": cfg.peak_volume_ml,
            "peak_center": cfg.peak_center,
            "percist_threshold_suv": base["percist_threshold_suv"],
        },
        "preselected_regions": int(base["n_regions"]),
        "physiological_excluded": {
            "regions": [dict(r) for r in base["physio_regions"]],
            "volume_ml_by_organ": excluded_summary,
            "notes": base["notes"],
        },
        "reference_regions": {"liver": liver, "mbp": mbp},
        "patient": {**base["patient"], "bsa_m2": bsa},
        "flags": {f: bool(seg.flags.get(f, False)) for f in ("spleen_involved", "marrow_involved")},
        "edits": {
            "applied": effects,
            "removed_lesion_ids": sorted(seg.removed),
            "added_lesion_ids": sorted(
                i for i, s in seg.seeds.items() if s.origin == "added" and i not in seg.removed
            ),
            "auto_lesion_count": base["auto_lesion_count"],
        },
        "warnings": w_out,
        "suv_provenance": base["suv_provenance"],
        "versions": {
            "carpet": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "provenance": provenance,
    }
    tm["total_s"] = time.perf_counter() - t_start
    lab_vol = Volume(
        seg.labels, suv.affine, unit=Unit.LABEL, frame_of_reference_uid=suv.frame_of_reference_uid
    )
    auto_vol = (
        lab_vol
        if seg is auto
        else Volume(
            auto.labels,
            suv.affine,
            unit=Unit.LABEL,
            frame_of_reference_uid=suv.frame_of_reference_uid,
        )
    )
    exc_vol = Volume(
        seg.excluded,
        suv.affine,
        unit=Unit.LABEL,
        frame_of_reference_uid=suv.frame_of_reference_uid,
        meta={"labels": {k: v for k, v in EXCLUDED_CODES.items()}},
    )
    finish = functools.partial(
        _finish_analysis, base, suv=suv, cfg=cfg, params=params, auto=auto, extra=extra
    )
    return AnalysisResult(
        suv=suv,
        labels=lab_vol,
        excluded=exc_vol,
        lesions=table,
        patient=_clean(patient_json),
        auto_labels=auto_vol,
        edits_applied=effects,
        warnings=w_out,
        provenance=_clean(provenance),
        segmentation=seg,
        config=cfg,
        auto_segmentation=auto,
        context={
            "params": params,
            "actions": actions,
            "liver": extra.get("liver"),
            "mbp": extra.get("mbp"),
            "boxes": boxes,
            "source": extra.get("source"),
            "finish": finish,
            "auto_table": auto_table,
            "base": base,
        },
    )


def apply_reader_edits(
    result: AnalysisResult,
    edits: Any,
    *,
    segmentation: Any = None,
    effects: list[dict] | None = None,
    changed_ids: Any = None,
) -> AnalysisResult:
    """Finish an analysis from its kept automatic result plus reader edits, without re-segmenting.

    Gives the same result as ``analyze(source, config=result.config, edits=edits)``
    (and so the same ``write_analysis`` files as ``carpet analyze --edits``): the
    edits are applied to ``result.auto_segmentation`` with the same
    :func:`carpet.segment.apply_edits`, only the lesions whose voxels an edit set
    (added, restored, re-segmented) are measured again, the other lesions keep
    their automatic rows, and the patient metrics, provenance and
    ``patient.json`` are rebuilt by the same code as :func:`analyze`.

    Parameters
    ----------
    result : AnalysisResult
        A result of :func:`analyze` (its automatic state is used, whatever edits it had).
    edits : path, dict, list or None
        Reader edits (see :mod:`carpet.segment.edits`); None or empty: the automatic result.
    segmentation, effects, changed_ids : optional
        When the caller already holds ``apply_edits(result.auto_segmentation, edits)``
        (the review session keeps it up to date, edit by edit): the edited
        Segmentation (its arrays are used, not copied), the effect records and the
        ids of the lesions whose voxels the edits set (``changes["lesions"]``).
        Giving them skips replaying the edits; they must come from exactly these edits.

    Returns
    -------
    AnalysisResult

    Examples
    --------
    >>> from carpet.synthetic import make_whole_body_study, LesionSpec
    >>> s = make_whole_body_study(fov="thorax", spacing_mm=(4, 4, 4), n_lesions=0, with_ct=False,
    ...     lesions=[LesionSpec((-60.0, 0.0, -350.0), 12.0, 10.0, "hilar")])
    >>> r = apply_reader_edits(analyze(s), [{"action": "remove", "lesion_id": 1}])
    >>> r.patient["lesion_count"], r.patient["edits"]["removed_lesion_ids"]
    (0, [1])
    """
    from carpet.measure.tables import measure_lesions
    from carpet.segment.edits import apply_edits, load_edits, validate_edits

    finish = (result.context or {}).get("finish")
    if finish is None:
        raise InputError(
            "apply_reader_edits needs a result of carpet.pipeline.analyze (its automatic state); "
            "call analyze(source, edits=...) instead",
            code="BAD_SOURCE",
        )
    t0 = time.perf_counter()
    if edits is None:
        actions: list = []
    elif isinstance(edits, (str, os.PathLike)):
        actions = load_edits(edits)
    else:
        actions = validate_edits(edits)
    auto = result.auto_segmentation
    suv = result.suv
    cfg = result.config
    timings = {
        k: v
        for k, v in ((result.provenance or {}).get("timings_s") or {}).items()
        if k not in ("edits_s", "measure_s", "total_s")
    }
    changes: dict = {}
    seg, done = auto, []
    if actions and segmentation is not None:
        if effects is None or changed_ids is None or len(effects) != len(actions):
            raise InputError(
                "apply_reader_edits: segmentation= needs effects= (one per action) "
                "and changed_ids=",
                code="BAD_SOURCE",
            )
        seg, done = segmentation, [dict(e) for e in effects]
        changes["lesions"] = set(int(i) for i in changed_ids)
    elif actions:
        seg, done = apply_edits(
            auto, actions, suv=suv, params=result.context["params"], changes=changes
        )
        timings["edits_s"] = time.perf_counter() - t0
    effects = done
    t = time.perf_counter()
    auto_table = result.context.get("auto_table")
    present = seg.lesion_ids
    extra = ["threshold_suv", "method", "origin"]
    if auto_table is None:  # the automatic lesions were never measured: measure all
        remeasure, kept = present, auto_table
    else:
        have = set(int(i) for i in auto_table["lesion_id"])
        changed = changes.get("lesions", set())
        remeasure = [i for i in present if i in changed or i not in have]
        keep = set(present) - set(remeasure)
        kept = auto_table[auto_table["lesion_id"].isin(keep)].drop(
            columns=[c for c in extra if c in auto_table.columns]
        )
    boxes = {i: seg.box_of(i) for i in remeasure}
    boxes = {i: b for i, b in boxes.items() if b is not None}
    fresh = measure_lesions(
        suv,
        Volume(seg.labels, suv.affine, unit=Unit.LABEL),
        lesion_ids=sorted(boxes),
        boxes=boxes,
        peak_volume_ml=cfg.peak_volume_ml,
        peak_center=cfg.peak_center,
    )
    if kept is None or kept.empty:
        table = fresh
    elif fresh.empty:
        table = kept.copy()
    else:
        table = pd.concat([kept, fresh], ignore_index=True)
    table = table.sort_values("lesion_id", kind="stable").reset_index(drop=True)
    all_boxes = dict(result.context.get("boxes") or {})
    all_boxes.update(boxes)
    all_boxes = {i: all_boxes[i] for i in present if i in all_boxes}
    return finish(
        seg,
        effects,
        actions,
        table,
        all_boxes,
        timings,
        t,
        t0,
        auto_table,
    )


def write_analysis(
    result: AnalysisResult,
    out_dir: str | os.PathLike[str],
    *,
    mip: bool | None = None,
    source: str | os.PathLike[str] | bool | None = None,
) -> Path:
    """Write the ``carpet analyze`` outputs of a result, atomically.

    Writes ``patient.json``, ``lesions.csv`` (columns of
    :data:`carpet.measure.columns.LESION_COLUMNS`), ``mask.nii.gz`` (label map on the
    PET grid whose values are the lesion ids), ``mip.png`` (coronal + sagittal MIP,
    unless ``mip`` is False), ``edits.json`` when reader edits were applied,
    ``analysis_state.npz`` (:data:`STATE_NAME`, automatic results only: what
    :func:`resume_analysis` needs to continue without re-segmenting), and
    ``source.json`` (:data:`SOURCE_NAME`: where the PET was read from, for
    ``carpet review DIR``) when the result was analysed from a path.
    Nothing is left half-written: the folder appears complete or not at all.

    Parameters
    ----------
    result : AnalysisResult
    out_dir : path
    mip : bool, optional
        Write ``mip.png`` (default: ``result.config.write_mip``).
    source : path or bool, optional
        The PET location recorded in ``source.json``: None (default) records the
        path ``analyze`` read (``result.context["source"]``), a path records that
        path instead, False writes no ``source.json``.

    Returns
    -------
    Path
        The output folder.
    """
    from carpet._io import atomic_output_dir, atomic_write_json, atomic_write_text
    from carpet.ingest.nifti import write_nifti
    from carpet.measure.columns import lesion_csv_columns

    out = Path(out_dir)
    do_mip = result.config.write_mip if mip is None else mip
    with atomic_output_dir(out) as tmp:
        atomic_write_json(tmp / "patient.json", result.patient)
        cols = lesion_csv_columns()
        table = result.lesions.reindex(columns=cols)
        atomic_write_text(tmp / "lesions.csv", table.to_csv(index=False, float_format="%.6g"))
        lab = result.labels.array
        top = int(lab.max()) if lab.size else 0
        dtype = np.uint8 if top < 256 else (np.int16 if top < 32768 else np.int32)
        write_nifti(result.labels.with_array(lab.astype(dtype, copy=False)), tmp / "mask.nii.gz")
        if result.edits_applied:
            actions = [{k: v for k, v in a.items() if k != "effect"} for a in result.edits_applied]
            atomic_write_json(tmp / "edits.json", _clean({"version": 1, "actions": actions}))
        if not _write_state(result, tmp / STATE_NAME):
            (tmp / STATE_NAME).unlink(missing_ok=True)
        record = _source_for_output(result, source)
        if record is not None:
            atomic_write_json(tmp / SOURCE_NAME, record)
        else:
            (tmp / SOURCE_NAME).unlink(missing_ok=True)
        if do_mip:
            from carpet.export.mip import write_mip

            write_mip(result.suv, result.labels, result.excluded, tmp / "mip.png")
        else:
            stale = tmp / "mip.png"
            if stale.exists():
                stale.unlink()
    return out


def _source_for_output(result: AnalysisResult, source: Any) -> dict | None:
    """The ``source.json`` content for ``write_analysis(..., source=source)``."""
    if source is False:
        return None
    record = dict((result.context or {}).get("source") or {})
    if source is not None and source is not True:
        record["pet_path"] = os.path.abspath(os.fspath(source))
    if not record.get("pet_path"):
        return None
    return _clean(
        {
            "pet_path": str(record["pet_path"]),
            "series_instance_uid": record.get("series_instance_uid"),
            "units": record.get("units"),
        }
    )


def read_source_record(folder: str | os.PathLike[str]) -> dict | None:
    """The ``source.json`` sidecar of an analysis folder (None when there is none).

    Raises
    ------
    InputError
        ``BAD_SOURCE_RECORD`` when the file is not a JSON object with a ``pet_path`` string.
    """
    path = Path(folder) / SOURCE_NAME
    if not path.is_file():
        return None
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc}); delete it and give the PET with --pet",
            code="BAD_SOURCE_RECORD",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("pet_path"), str):
        raise InputError(
            f'{path}: expected {{"pet_path": "...", ...}}; delete it and give the PET with --pet',
            code="BAD_SOURCE_RECORD",
        )
    return data


def _box_list(box: Any) -> list[list[int]]:
    return [[int(b.start), int(b.stop)] for b in box]


def _box_slices(lst: Any) -> tuple[slice, slice, slice]:
    return tuple(slice(int(a), int(b)) for a, b in lst)  # type: ignore[return-value]


def _suv_fingerprint(suv: Volume) -> dict:
    a = suv.array
    return {
        "shape": [int(n) for n in a.shape],
        "affine": [[float(v) for v in row] for row in np.asarray(suv.affine)],
        "sum": float(np.sum(a, dtype=np.float64)),
        "max": float(a.max()) if a.size else 0.0,
    }


def _write_state(result: AnalysisResult, path: Path) -> bool:
    """Write the automatic edit state (:data:`STATE_NAME`).

    Returns False when there is none to write: an edited result, a result not made
    by :func:`analyze`, or lesion records that are not plain data.
    """
    import json

    ctx = result.context or {}
    base, table = ctx.get("base"), ctx.get("auto_table")
    seg = result.auto_segmentation
    if base is None or table is None or seg is None or result.edits_applied:
        return False
    arrays: dict[str, np.ndarray] = {}
    columns = []
    for name in table.columns:
        col = table[name]
        if name == "hull_points_mm":
            pts = [np.asarray(v, np.float64).reshape(-1, 3) for v in col]
            arrays["hull_counts"] = np.array([len(v) for v in pts], np.int64)
            arrays["hull_points"] = np.concatenate(pts) if pts else np.zeros((0, 3), np.float64)
            columns.append([name, "hull"])
        elif col.dtype.kind in "biuf":
            arrays[f"col_{len(columns)}"] = col.to_numpy()
            columns.append([name, "array"])
        elif all(isinstance(v, str) for v in col):
            arrays[f"col_{len(columns)}"] = np.array(list(col), dtype=str)
            columns.append([name, "str"])
        else:
            return False
    # sparse maps: flat indices stored as gaps (small numbers, compress well) and values
    lab = seg.labels.reshape(-1)
    idx = np.flatnonzero(lab != 0)  # (a bool mask is scanned ~4x faster than int32)
    idx_dtype = np.uint32 if lab.size < 2**32 else np.int64
    arrays["labels_gaps"] = np.diff(idx, prepend=0).astype(idx_dtype)
    arrays["labels_val"] = lab[idx].astype(np.int32)
    ex = seg.excluded.reshape(-1)
    idx = np.flatnonzero(ex != 0)
    arrays["excluded_gaps"] = np.diff(idx, prepend=0).astype(idx_dtype)
    arrays["excluded_val"] = ex[idx].astype(np.uint8)
    seeds = []
    cores = []
    for lid in sorted(seg.seeds):
        sd = seg.seeds[lid]
        seeds.append(
            {
                "id": int(lid),
                "box": _box_list(sd.box),
                "max_index": [int(v) for v in sd.max_index],
                "suv_max": float(sd.suv_max),
                "origin": sd.origin,
            }
        )
        cores.append(np.asarray(sd.core, bool).reshape(-1))
    arrays["seed_cores"] = np.concatenate(cores) if cores else np.zeros(0, bool)
    meta = {
        "format": _STATE_FORMAT,
        "carpet_version": __version__,
        "suv": _suv_fingerprint(result.suv),
        "config": to_dict(result.config),
        "params": dataclasses.asdict(ctx["params"]),
        "base": _clean(base),
        "timings_s": dict((result.provenance or {}).get("timings_s") or {}),
        "columns": columns,
        "seg": {
            "method": seg.method,
            "thresholds": [[int(k), float(v)] for k, v in seg.thresholds.items()],
            "lesion_methods": [[int(k), str(v)] for k, v in seg.lesion_methods.items()],
            "max_id": int(seg.max_id),
            "boxes": [[int(k), _box_list(b)] for k, b in (seg.boxes or {}).items()],
        },
        "result_boxes": [[int(k), _box_list(b)] for k, b in (ctx.get("boxes") or {}).items()],
        "seeds": seeds,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return True


def resume_analysis(
    state: str | os.PathLike[str], source: Any, *, units: str | None = None
) -> AnalysisResult | None:
    """The automatic result of an analysis folder, rebuilt from its saved state (no re-segmenting).

    Parameters
    ----------
    state : path
        An analysis folder (or its :data:`STATE_NAME` file) written by :func:`write_analysis`.
    source : PetStudy, Volume or path
        The PET the folder was analysed from (loaded as by :func:`analyze`).
    units : {"suv"}, optional
        For a NIfTI path already in SUV.

    Returns
    -------
    AnalysisResult or None
        Equal to ``analyze(source, config=<the recorded one>)`` (same lesions,
        records, patient metrics and edit state), or None when there is no state,
        it was written by another carpet version, or the PET is not the analysed
        one (its grid, SUV sum or maximum differ): re-analyse then.

    Examples
    --------
    >>> import tempfile
    >>> from carpet.synthetic import make_whole_body_study, LesionSpec
    >>> s = make_whole_body_study(fov="thorax", spacing_mm=(4, 4, 4), n_lesions=0, with_ct=False,
    ...     lesions=[LesionSpec((-60.0, 0.0, -350.0), 12.0, 10.0, "hilar")])
    >>> r = analyze(s)
    >>> d = write_analysis(r, Path(tempfile.mkdtemp()) / "a", mip=False)
    >>> again = resume_analysis(d, s)
    >>> again.patient["tmtv_ml"] == r.patient["tmtv_ml"]
    True
    """
    import json

    from carpet.config import from_mapping
    from carpet.segment.edits import Segmentation
    from carpet.segment.methods import GrowthParams, Seed

    path = Path(state)
    if path.is_dir():
        path = path / STATE_NAME
    if not path.is_file():
        return None
    t0 = time.perf_counter()
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("%s: unreadable analysis state (%s); re-analysing", path, exc)
        return None
    if meta.get("format") != _STATE_FORMAT or meta.get("carpet_version") != __version__:
        return None
    suv, _, study = _load(source, units=units, overrides=None)
    if _suv_fingerprint(suv) != meta["suv"]:
        return None
    cfg_map = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
    cfg = from_mapping(AnalysisConfig, cfg_map, source=f"{path} config")
    params = GrowthParams(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
    )
    shape = tuple(meta["suv"]["shape"])
    labels = np.zeros(shape, np.int32)
    labels.reshape(-1)[np.cumsum(arrays["labels_gaps"], dtype=np.int64)] = arrays["labels_val"]
    excluded = np.zeros(shape, np.uint8)
    excluded.reshape(-1)[np.cumsum(arrays["excluded_gaps"], dtype=np.int64)] = arrays[
        "excluded_val"
    ]
    seeds = {}
    cores = arrays["seed_cores"]
    pos = 0
    for sd in meta["seeds"]:
        box = _box_slices(sd["box"])
        n = int(np.prod([b.stop - b.start for b in box]))
        core = cores[pos : pos + n].reshape([b.stop - b.start for b in box]).copy()
        pos += n
        seeds[int(sd["id"])] = Seed(
            int(sd["id"]), box, core, tuple(sd["max_index"]), float(sd["suv_max"]), sd["origin"]
        )
    m = meta["seg"]
    auto = Segmentation(
        labels,
        excluded,
        seeds,
        m["method"],
        {int(k): float(v) for k, v in m["thresholds"]},
        {int(k): str(v) for k, v in m["lesion_methods"]},
        {},
        {},
        int(m["max_id"]),
        {int(k): _box_slices(b) for k, b in m["boxes"]},
    )
    data: dict[str, Any] = {}
    for i, (name, kind) in enumerate(meta["columns"]):
        if kind == "hull":
            counts = arrays["hull_counts"]
            pts = arrays["hull_points"]
            ends = np.cumsum(counts)
            data[name] = [pts[e - c : e] for c, e in zip(counts, ends, strict=True)]
        elif kind == "str":
            data[name] = [str(v) for v in arrays[f"col_{i}"]]
        else:
            data[name] = arrays[f"col_{i}"]
    table = pd.DataFrame(data)
    boxes = {int(k): _box_slices(b) for k, b in meta["result_boxes"]}
    timings = dict(meta.get("timings_s") or {})
    timings = {k: v for k, v in timings.items() if k not in ("measure_s", "total_s")}
    timings["resume_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    return _finish_analysis(
        meta["base"],
        auto,
        [],
        [],
        table,
        boxes,
        timings,
        t,
        t0,
        table,
        suv=suv,
        cfg=cfg,
        params=params,
        auto=auto,
        extra={"liver": None, "mbp": None, "source": _source_record(source, study, units)},
    )
