"""Hospital interoperability orchestration: measure contours made elsewhere, export DICOM objects.

Like :mod:`carpet.pipeline`, this module composes stages (ingest, measure,
export); it computes nothing itself:

* :func:`measure_mask` — a PET plus a mask from another tool (DICOM SEG,
  RTSTRUCT or NIfTI label map) → the same :class:`~carpet.pipeline.AnalysisResult`
  as ``carpet analyze`` (measured by :func:`carpet.measure.measure_lesions` and
  :func:`carpet.measure.patient_metrics`, written by
  :func:`carpet.pipeline.write_analysis`), with the mask's segments as lesions;
* :func:`export_dicom_objects` — an analysis → DICOM SEG, RTSTRUCT and/or a
  TID 1500 SR referencing the source PET series;
* :func:`source_headers` — the PET instances (headers) behind a Volume.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import ConfigError, InputError
from carpet.suv.normalization import body_surface_areas_m2
from carpet.units import Unit

__all__ = [
    "EXPORT_FORMATS",
    "export_dicom_objects",
    "measure_mask",
    "parse_export_formats",
    "source_headers",
]

logger = logging.getLogger(__name__)

#: DICOM objects :func:`export_dicom_objects` can write, with their file names.
EXPORT_FORMATS: dict[str, str] = {"seg": "seg.dcm", "rtstruct": "rtstruct.dcm", "sr": "sr.dcm"}


def parse_export_formats(text: str | Sequence[str]) -> list[str]:
    """Parse ``"seg,rtstruct,sr"`` into a validated list (order kept, duplicates dropped).

    Examples
    --------
    >>> parse_export_formats("sr, seg")
    ['sr', 'seg']
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for raw in items:
        f = raw.strip().lower()
        if not f:
            continue
        if f not in EXPORT_FORMATS:
            raise ConfigError(
                f"unknown export format {f!r}; choose from {', '.join(EXPORT_FORMATS)}",
                code="BAD_EXPORT_FORMAT",
            )
        if f not in out:
            out.append(f)
    if not out:
        raise ConfigError(
            "no export format given; choose from seg, rtstruct, sr", code="BAD_EXPORT_FORMAT"
        )
    return out


def source_headers(volume: Volume) -> list[Any]:
    """The DICOM headers (no pixel data) of the instances a PET Volume was read from.

    Uses ``volume.meta["files"]`` recorded by :func:`carpet.ingest.read_series_volume`.

    Raises
    ------
    InputError
        The volume did not come from DICOM (e.g. NIfTI input), so no DICOM
        object can reference it.
    """
    import pydicom

    files = (volume.meta or {}).get("files") or []
    if not files:
        raise InputError(
            "DICOM SEG/RTSTRUCT/SR export needs the PET as DICOM (the objects reference its instances); "
            "this PET was not read from DICOM (e.g. NIfTI input)",
            code="NO_DICOM_SOURCE",
        )
    out = []
    for f in files:
        try:
            out.append(pydicom.dcmread(f, stop_before_pixels=True))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InputError(
                f"cannot re-read PET instance {f}: {exc}", code="NO_DICOM_SOURCE"
            ) from exc
    return out


def measure_mask(
    source: Any,
    mask: str | os.PathLike[str],
    *,
    segments: Sequence[int] | None = None,
    units: str | None = None,
    config: Any = None,
    rtstruct_planes: str = "exact",
) -> Any:
    """Measure the lesions of a mask made by another tool, exactly as ``carpet analyze`` measures its own.

    Parameters
    ----------
    source : path or PetStudy
        The PET (DICOM folder/file, or NIfTI with ``units="suv"``), or a loaded
        :class:`carpet.ingest.PetStudy`.
    mask : path
        DICOM SEG, RTSTRUCT or NIfTI label map (see :func:`carpet.ingest.seg.read_mask`
        for the pairing and rasterisation rules).
    segments : sequence of int, optional
        Segment / ROI numbers (or NIfTI label values) to measure; default all.
    units : {"suv"}, optional
        For a NIfTI PET already in SUVbw.
    config : AnalysisConfig, optional
        Only the measurement settings are used (SUVpeak sphere, BSA formula).
    rtstruct_planes : {"exact", "nearest"}
        RTSTRUCT contours between PET slices: refused, or nearest-plane rule.

    Returns
    -------
    carpet.pipeline.AnalysisResult
        ``labels`` = the mask's segments (lesion id = segment label value),
        ``lesions`` / ``patient`` as in ``carpet analyze``; ``patient["method"]``
        is ``"external mask"`` and ``patient["mask"]`` records the file,
        the pairing and the segments.

    Raises
    ------
    InputError, GeometryMismatchError
        See :func:`carpet.ingest.seg.read_mask`.
    """
    from carpet._version import __version__
    from carpet.config import AnalysisConfig, to_dict
    from carpet.ingest import read_pet
    from carpet.ingest.seg import MaskReference, read_mask
    from carpet.measure import measure_lesions, patient_metrics
    from carpet.pipeline import AnalysisResult

    cfg = config or AnalysisConfig()
    study = read_pet(source, units=units) if isinstance(source, (str, os.PathLike)) else source
    suv: Volume = study.suv
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imported = read_mask(
            mask,
            suv,
            reference_uids=MaskReference.from_volume(suv),
            segments=segments,
            rtstruct_planes=rtstruct_planes,
        )
    for w in caught:  # re-issue for the caller, and keep them for the provenance
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    table = measure_lesions(
        suv, imported.labels, peak_volume_ml=cfg.peak_volume_ml, peak_center=cfg.peak_center
    )
    patient = dataclasses.asdict(study.patient) if dataclasses.is_dataclass(study.patient) else {}
    patient = {k: patient.get(k) for k in ("weight_kg", "height_m", "sex", "age_years")}
    bsa = body_surface_areas_m2(patient.get("weight_kg"), patient.get("height_m"))
    metrics = patient_metrics(table, bsa_m2=bsa, bsa_formula=cfg.bsa_formula)
    names = {s.label: s for s in imported.segments}
    if len(table):
        table["method"] = "external mask"
        table["origin"] = [
            f"segment {names[int(i)].number}: {names[int(i)].name}" for i in table["lesion_id"]
        ]
    warn = list(getattr(study, "warnings", ()) or ()) + list(imported.warnings)
    provenance = {
        "carpet_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "config": to_dict(cfg),
        "source": str(getattr(study, "source", "")) or None,
        "suv": study.suv_factors.to_dict()
        if getattr(study, "suv_factors", None) is not None
        else None,
        "suv_unit": suv.unit.value,
        "grid": {
            "shape": list(suv.shape),
            "spacing_mm": list(suv.spacing_mm),
            "orientation": suv.orientation,
            "voxel_volume_ml": suv.voxel_volume_ml,
        },
        "mask": {"path": imported.source, "pairing": imported.pairing},
    }
    patient_json = {
        **metrics,
        "method": "external mask",
        "mask": {
            "path": imported.source,
            "pairing": imported.pairing,
            "segments": [dataclasses.asdict(s) for s in imported.segments],
        },
        "patient": {**patient, "bsa_m2": bsa},
        "warnings": warn,
        "provenance": provenance,
    }
    patient_json = _clean(patient_json)
    lab = imported.labels
    none = lab.with_array(np.zeros(lab.shape, np.uint8))
    return AnalysisResult(
        suv=suv,
        labels=lab,
        excluded=none,
        lesions=table,
        patient=patient_json,
        auto_labels=lab,
        edits_applied=[],
        warnings=warn,
        provenance=provenance,
        config=cfg,
    )


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def export_dicom_objects(
    result: Any,
    out_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("seg", "rtstruct", "sr"),
    mode: str = "lesions",
    sources: Sequence[Any] | None = None,
) -> dict[str, Path]:
    """Write an analysis as DICOM objects referencing the source PET series.

    Parameters
    ----------
    result : carpet.pipeline.AnalysisResult
        From ``analyze`` or :func:`measure_mask`.
    out_dir : path
        Folder receiving ``seg.dcm``, ``rtstruct.dcm``, ``sr.dcm`` (atomically:
        all requested objects or none).
    formats : sequence of {"seg", "rtstruct", "sr"}
    mode : {"lesions", "tumour"}
        SEG layout. The SR needs the per-lesion SEG, so with ``mode="tumour"``
        the SR is refused.
    sources : sequence of pydicom Dataset, optional
        The PET instances; default: re-read from ``result.suv.meta["files"]``.

    Returns
    -------
    dict
        format → written path.
    """
    from io import BytesIO

    from carpet._io import atomic_output_dir
    from carpet.export.rtstruct import labels_to_rtstruct
    from carpet.export.seg import labels_to_seg
    from carpet.export.sr import measurements_to_sr

    fmts = parse_export_formats(list(formats))
    if "sr" in fmts and mode != "lesions":
        raise ConfigError(
            "the SR references one segment per lesion: use SEG mode 'lesions' with SR export",
            code="BAD_EXPORT_FORMAT",
        )
    labels = result.labels
    if labels.unit is not Unit.LABEL or not np.issubdtype(labels.array.dtype, np.integer):
        labels = labels.with_array(np.asarray(labels.array).astype(np.int32), unit=Unit.LABEL)
    srcs = list(sources) if sources is not None else source_headers(result.suv)
    method = str((result.patient or {}).get("method", "carpet"))
    objs: dict[str, Any] = {}
    seg = None
    if "seg" in fmts or "sr" in fmts:
        seg = labels_to_seg(labels, srcs, mode=mode, method=method)  # type: ignore[arg-type]
        if "seg" in fmts:
            objs["seg"] = seg
    if "rtstruct" in fmts:
        objs["rtstruct"] = labels_to_rtstruct(labels, srcs)
    if "sr" in fmts:
        objs["sr"] = measurements_to_sr(
            result.lesions, result.patient, seg, srcs, suv_unit=result.suv.unit, method=method
        )
    out = Path(out_dir)
    written = {}
    with atomic_output_dir(out) as tmp:
        for fmt in fmts:
            if fmt not in objs:
                continue
            buf = BytesIO()
            objs[fmt].save_as(buf, enforce_file_format=True)
            (tmp / EXPORT_FORMATS[fmt]).write_bytes(buf.getvalue())
            written[fmt] = out / EXPORT_FORMATS[fmt]
    return written
