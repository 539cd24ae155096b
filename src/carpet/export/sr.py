"""Patient and lesion measurements as a DICOM SR measurement report (TID 1500), via highdicom.

Content (Comprehensive 3D SR, "Imaging Measurement Report", procedure "PET whole
body" LOINC 44139-4):

* one **volumetric ROI group** (TID 1411) per lesion, tracking identifier
  ``"lesion <id>"``, referencing that lesion's segment in the carpet SEG
  (:func:`carpet.export.seg.labels_to_seg` with ``mode="lesions"``), finding
  type Neoplasm (SCT 108369006);
* one **patient group** (TID 1501), tracking identifier ``"patient"``, with the
  whole-body metrics (TMTV, total TLG, SUVmax/peak, Dmax).

Each measurement is a coded concept with a UCUM unit (:data:`SR_MEASUREMENTS`):
SUV quantities use the DCM SUV concept of the volume's SUV type (SUVbw 126401,
SUVlbm 126402, SUVbsa 126403, SUVibw 126404) with a derivation modifier
(Maximum SCT 56851009, Mean SCT 373098007, Peak Value Within ROI DCM 126031),
volumes are Volume (SCT 118565006, ``ml``) or Metabolic Volume (DCM 126032,
``ml``), glycolysis is Total Lesion Glycolysis (DCM 126033, ``g``) and Dmax is
Distance (DCM 121206, ``mm``, derivation Maximum). These follow the DICOM PS3.16
TID 1419 / CID 7466 usage of dcmqi's PET examples.

:func:`carpet.ingest.sr.read_sr_measurements` reads the report back.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any, NamedTuple

from pydicom.dataset import Dataset

from carpet._io import atomic_write_bytes
from carpet.errors import ConfigError, InputError
from carpet.export.seg import (
    SEG_TRACKING_PREFIX,
    complete_type2,
    drop_invalid_clinical_trial_subject,
)
from carpet.units import Unit

__all__ = ["SR_MEASUREMENTS", "SrConcept", "measurements_to_sr", "suv_concept", "write_sr"]

logger = logging.getLogger(__name__)


class SrConcept(NamedTuple):
    """How one table column is coded: concept (value, scheme, meaning), derivation, UCUM unit."""

    concept: tuple[str, str, str]
    derivation: tuple[str, str, str] | None
    unit: tuple[str, str]  # (UCUM code, meaning); "SUV" is replaced by the SUV type's unit


_MAX = ("56851009", "SCT", "Maximum")
_MEAN = ("373098007", "SCT", "Mean")
_PEAK = ("126031", "DCM", "Peak Value Within ROI")
_SUV = ("SUV", "", "")  # placeholder: the SUV type's concept

#: Column → coding, for lesion rows (``"lesion"``) and patient keys (``"patient"``).
SR_MEASUREMENTS: dict[str, dict[str, SrConcept]] = {
    "lesion": {
        "suv_max": SrConcept(_SUV, _MAX, ("SUV", "")),
        "suv_peak": SrConcept(_SUV, _PEAK, ("SUV", "")),
        "suv_mean": SrConcept(_SUV, _MEAN, ("SUV", "")),
        "volume_ml": SrConcept(("118565006", "SCT", "Volume"), None, ("ml", "milliliter")),
        "tlg": SrConcept(("126033", "DCM", "Total Lesion Glycolysis"), None, ("g", "gram")),
    },
    "patient": {
        "tmtv_ml": SrConcept(("126032", "DCM", "Metabolic Volume"), None, ("ml", "milliliter")),
        "tlg": SrConcept(("126033", "DCM", "Total Lesion Glycolysis"), None, ("g", "gram")),
        "suv_max": SrConcept(_SUV, _MAX, ("SUV", "")),
        "suv_peak": SrConcept(_SUV, _PEAK, ("SUV", "")),
        "dmax_mm": SrConcept(("121206", "DCM", "Distance"), _MAX, ("mm", "millimeter")),
    },
}

_SUV_TYPES = {
    Unit.SUV_BW: (
        ("126401", "DCM", "SUVbw"),
        ("{SUVbw}g/ml", "Standardized Uptake Value body weight"),
    ),
    Unit.SUV_LBM: (
        ("126402", "DCM", "SUVlbm"),
        ("{SUVlbm}g/ml", "Standardized Uptake Value lean body mass"),
    ),
    Unit.SUV_BSA: (
        ("126403", "DCM", "SUVbsa"),
        ("{SUVbsa}cm2/ml", "Standardized Uptake Value body surface area"),
    ),
    Unit.SUV_IBW: (
        ("126404", "DCM", "SUVibw"),
        ("{SUVibw}g/ml", "Standardized Uptake Value ideal body weight"),
    ),
}


def suv_concept(unit: Unit) -> tuple[tuple[str, str, str], tuple[str, str]]:
    """DCM concept and UCUM unit of an SUV type.

    Examples
    --------
    >>> suv_concept(Unit.SUV_BW)[1][0]
    '{SUVbw}g/ml'
    """
    try:
        return _SUV_TYPES[Unit(unit)]
    except KeyError:
        raise ConfigError(
            f"SR export needs an SUV unit (SUVbw, SUVlbm, SUVbsa, SUVibw); got {Unit(unit).value}",
            code="NOT_SUV",
        ) from None


def _measurement(hd: Any, coding: SrConcept, value: float, suv_unit: Unit) -> Any:
    from highdicom.sr import CodedConcept

    concept, unit = coding.concept, coding.unit
    if concept == _SUV:
        concept, unit = suv_concept(suv_unit)
    return hd.sr.Measurement(
        name=CodedConcept(*concept),
        value=float(value),
        unit=CodedConcept(unit[0], "UCUM", unit[1]),
        derivation=CodedConcept(*coding.derivation) if coding.derivation else None,
    )


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def measurements_to_sr(
    lesions: Any,
    patient: Mapping[str, Any],
    seg: Dataset,
    source_datasets: Sequence[Dataset],
    *,
    suv_unit: Unit = Unit.SUV_BW,
    method: str = "carpet lesion segmentation",
    series_number: int = 9003,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """Build a TID 1500 measurement report for a carpet analysis.

    Parameters
    ----------
    lesions : pandas.DataFrame
        The lesion table (``lesion_id`` and the columns of
        ``SR_MEASUREMENTS["lesion"]``; values in g/mL, mL, g).
    patient : mapping
        Patient metrics (keys of ``SR_MEASUREMENTS["patient"]``; mL, g, g/mL,
        mm). Missing or non-finite values are left out.
    seg : pydicom Dataset
        The carpet SEG (``mode="lesions"``) the lesions are segments of.
    source_datasets : sequence of pydicom Dataset
        The PET instances (recorded as evidence).
    suv_unit : Unit
        SUV type of the SUV values.
    method : str
        Segmentation method (stored as the algorithm's parameter).
    series_number, series_instance_uid, sop_instance_uid
        Of the new SR.

    Returns
    -------
    highdicom.sr.Comprehensive3DSR

    Raises
    ------
    InputError
        A lesion of the table has no segment in ``seg``.
    """
    import highdicom as hd
    from highdicom.sr import CodedConcept
    from pydicom.sr.codedict import codes

    from carpet._version import __version__

    suv_concept(suv_unit)  # validate early
    seg_by_lesion = {}
    for s in seg.SegmentSequence:
        tid = str(s.get("TrackingID", ""))
        if tid.startswith(SEG_TRACKING_PREFIX):
            seg_by_lesion[int(tid[len(SEG_TRACKING_PREFIX) :])] = int(s.SegmentNumber)
    algo = hd.sr.AlgorithmIdentification(
        name="carpet", version=__version__, parameters=[method[:64]]
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="carpet", manufacturer_name="carpet", model_name=__version__
        ),
    )
    context = hd.sr.ObservationContext(observer_device_context=observer)
    pet_series_uid = str(source_datasets[0].SeriesInstanceUID)
    groups = []
    for _, row in lesions.sort_values("lesion_id").iterrows():
        lid = int(row["lesion_id"])
        if lid not in seg_by_lesion:
            raise InputError(
                f"lesion {lid} of the lesion table has no segment in SEG {seg.SOPInstanceUID} (its "
                f"lesion segments: {sorted(seg_by_lesion)}); export the SEG with mode='lesions' from "
                "the same label map",
                code="SR_SEGMENT_MISSING",
            )
        ms = [
            _measurement(hd, coding, row[col], suv_unit)
            for col, coding in SR_MEASUREMENTS["lesion"].items()
            if col in row.index and _finite(row[col])
        ]
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=hd.UID(), identifier=f"{SEG_TRACKING_PREFIX}{lid}"
                ),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID,
                    sop_instance_uid=seg.SOPInstanceUID,
                    segment_number=seg_by_lesion[lid],
                    source_series=hd.sr.SourceSeriesForSegmentation(pet_series_uid),
                ),
                finding_type=codes.SCT.Neoplasm,
                finding_category=codes.SCT.MorphologicallyAbnormalStructure,
                algorithm_id=algo,
                measurements=ms,
            )
        )
    pms = [
        _measurement(hd, coding, patient[key], suv_unit)
        for key, coding in SR_MEASUREMENTS["patient"].items()
        if key in patient and _finite(patient[key])
    ]
    if pms:
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="patient"),
                finding_type=CodedConcept("108369006", "SCT", "Neoplasm"),
                algorithm_id=algo,
                measurements=pms,
            )
        )
    if not groups:
        raise InputError("nothing to report: no lesion and no patient metric", code="SR_EMPTY")
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=CodedConcept("44139-4", "LN", "PET whole body"),
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    with warnings.catch_warnings():
        # single-component patient names (common after de-identification) are valid DICOM
        warnings.filterwarnings(
            "ignore", message=".*unlikely to represent the intended person name"
        )
        sr = hd.sr.Comprehensive3DSR(
            evidence=complete_type2([seg, *source_datasets]),
            content=report,
            series_instance_uid=series_instance_uid or hd.UID(),
            series_number=series_number,
            sop_instance_uid=sop_instance_uid or hd.UID(),
            instance_number=1,
            manufacturer="carpet",
            is_complete=True,
            series_description="carpet measurements",
        )
    drop_invalid_clinical_trial_subject(sr)
    return sr


def write_sr(
    lesions: Any,
    patient: Mapping[str, Any],
    seg: Dataset,
    source_datasets: Sequence[Dataset],
    path: str | os.PathLike[str],
    **options: Any,
) -> Path:
    """Write :func:`measurements_to_sr` to ``path`` atomically."""
    sr = measurements_to_sr(lesions, patient, seg, source_datasets, **options)
    buf = BytesIO()
    sr.save_as(buf, enforce_file_format=True)
    return atomic_write_bytes(path, buf.getvalue())
