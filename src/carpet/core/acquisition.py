"""The header facts SUV needs: :class:`PetAcquisition` and :class:`InstanceRecord`.

A :class:`PetAcquisition` is what :func:`carpet.ingest.pet_header.read_pet_acquisition`
reads from the DICOM headers of one PET series and what
:func:`carpet.suv.compute_suv_factors` turns into SUV factors. It is modelled on
calculate-suv's ``InstanceMetadata``: exactly the attributes the SUV computation
uses, **as stored** in the header (no unit guessing, no defaults). Interpreting
them (dose in MBq or Bq, weight in g or kg, which reference time) is the job of
:mod:`carpet.suv`, which records every decision in its provenance.

Tolerant reading, strict computing: a missing or malformed attribute is stored
as ``None`` (and malformed ones are listed in ``header_problems``); series-level
attributes that differ between instances are listed in ``inconsistencies``. The
SUV step refuses with a coded :class:`~carpet.errors.SuvError` when it needs one
of them.

DICOM enumerated values keep DICOM spelling (``BQML``, ``CNTS``, ``GML``,
``CM2ML``; ``START``, ``ADMIN``, ``NONE``).

Examples
--------
>>> from datetime import datetime
>>> acq = PetAcquisition(units="BQML", decay_correction="START",
...                      corrected_image=("ATTN", "DECY"), radionuclide_total_dose=3.7e8,
...                      radionuclide_half_life_s=6586.2, patient_weight=70.0,
...                      series_date=datetime(2025, 1, 1).date(),
...                      series_time=datetime(2025, 1, 1, 11, 0).time())
>>> acq.units, acq.is_attenuation_corrected, acq.is_decay_corrected
('BQML', True, True)
>>> acq.series_datetime
datetime.datetime(2025, 1, 1, 11, 0)
>>> acq.instances
()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

__all__ = ["InstanceRecord", "PetAcquisition"]


@dataclass(frozen=True)
class InstanceRecord:
    """Per-instance (per-slice, or per-frame of an enhanced image) header facts.

    Parameters
    ----------
    sop_instance_uid : str or None
        SOPInstanceUID (0008,0018). For a frame of an enhanced multi-frame image
        ``"<SOPInstanceUID>#<frame number, 1-based>"``.
    acquisition_datetime : datetime or None
        AcquisitionDate (0008,0022) + AcquisitionTime (0008,0032), or
        AcquisitionDateTime (0008,002A) / FrameAcquisitionDateTime (0018,9074).
        Naive (no time zone); ``None`` when absent or malformed.
    acquisition_time_only : time or None
        AcquisitionTime when AcquisitionDate is absent (date to be inferred).
    frame_duration_ms : float or None
        ActualFrameDuration (0018,1242) / FrameAcquisitionDuration (0018,9220), ms.
    frame_reference_time_ms : float or None
        FrameReferenceTime (0054,1300), ms.
    decay_factor : float or None
        DecayFactor (0054,1321), dimensionless.
    rescale_slope, rescale_intercept : float or None
        RescaleSlope (0028,1053) and RescaleIntercept (0028,1052).
    philips_suv_scale_factor : float or None
        Philips private SUV Scale Factor (7053,1000), private creator
        ``Philips PET Private Group``; g/mL per rescaled count.
    philips_activity_concentration_scale_factor : float or None
        Philips private Activity Concentration Scale Factor (7053,1009); Bq/mL per
        rescaled count.
    """

    sop_instance_uid: str | None = None
    acquisition_datetime: datetime | None = None
    acquisition_time_only: time | None = None
    frame_duration_ms: float | None = None
    frame_reference_time_ms: float | None = None
    decay_factor: float | None = None
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    philips_suv_scale_factor: float | None = None
    philips_activity_concentration_scale_factor: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy (datetimes as ISO 8601 strings)."""
        return {k: _jsonable(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class PetAcquisition:
    """Header facts of one PET series that the SUV computation needs (as stored).

    Every attribute is ``None`` (or empty) when absent or malformed in the header;
    nothing is guessed here.

    Parameters
    ----------
    series_instance_uid : str or None
        SeriesInstanceUID (0020,000E).
    source : str or None
        Where the headers came from (folder or file path), for messages.
    manufacturer : str or None
        Manufacturer (0008,0070).
    modality : str or None
        Modality (0008,0060), normally ``"PT"``.
    units : str or None
        Units (0054,1001), DICOM spelling (``BQML``, ``CNTS``, ``GML``, ``CM2ML``,
        ``PROPCNTS``...), upper-cased and stripped.
    suv_type : str or None
        SUVType (0054,1006) (``BW``, ``LBM``, ``LBMJAMES128``, ``LBMJANMA``,
        ``IBW``, ``BSA``); ``None`` when empty.
    decay_correction : str or None
        DecayCorrection (0054,1102): ``START``, ``ADMIN`` or ``NONE``.
    corrected_image : tuple of str
        CorrectedImage (0028,0051) values, upper-cased.
    radionuclide_total_dose : float or None
        RadionuclideTotalDose (0018,1074) **as stored** (should be Bq; some
        scanners store MBq; :mod:`carpet.suv` decides by plausibility).
    radionuclide_half_life_s : float or None
        RadionuclideHalfLife (0018,1075), s.
    radionuclide_code : str or None
        CodeValue of RadionuclideCodeSequence (0054,0300), e.g. ``C-111A1``.
    radionuclide_code_meaning : str or None
        Its CodeMeaning, e.g. ``^18^Fluorine``.
    radiopharmaceutical : str or None
        Radiopharmaceutical (0018,0031), e.g. ``FDG``.
    radiopharmaceutical_start_datetime : datetime or None
        RadiopharmaceuticalStartDateTime (0018,1078).
    radiopharmaceutical_start_time : time or None
        RadiopharmaceuticalStartTime (0018,1072) (no date; retired in favour of
        the DateTime).
    series_date : date or None
        SeriesDate (0008,0021).
    series_time : time or None
        SeriesTime (0008,0031).
    study_date : date or None
        StudyDate (0008,0020) (used only to date a time-only AcquisitionTime).
    decay_correction_datetime : datetime or None
        DecayCorrectionDateTime (0018,9701) of Enhanced PET images.
    ge_private_scan_datetime : datetime or None
        GE private PET scan datetime (0009,xx0D) in private creator
        ``GEMS_PETD_01`` — the time GE decay-corrects to (not an interval).
    ge_private_admin_datetime : datetime or None
        GE private administration datetime (0009,xx3B) in ``GEMS_PETD_01``.
        Recorded for QC only; never used for SUV.
    patient_weight : float or None
        PatientWeight (0010,1030) as stored (should be kg).
    patient_size : float or None
        PatientSize (0010,1020) as stored (should be m).
    patient_sex : str or None
        PatientSex (0010,0040): ``M``, ``F``, ``O`` (upper-cased), else ``None``.
    instances : tuple of InstanceRecord
        One record per instance (per frame for enhanced images), sorted by
        acquisition datetime then SOPInstanceUID.
    inconsistencies : tuple of str
        Series-level attributes whose value differs between instances
        (``"Units (0054,1001): {'BQML', 'CNTS'}"``). The SUV step refuses
        a series with any (code ``INCONSISTENT_SERIES``).
    header_problems : tuple of str
        Attributes present but malformed (``"PatientWeight (0010,1030): 'abc' is
        not a number"``); their values above are ``None``.
    """

    series_instance_uid: str | None = None
    source: str | None = None
    manufacturer: str | None = None
    modality: str | None = None
    units: str | None = None
    suv_type: str | None = None
    decay_correction: str | None = None
    corrected_image: tuple[str, ...] = ()
    radionuclide_total_dose: float | None = None
    radionuclide_half_life_s: float | None = None
    radionuclide_code: str | None = None
    radionuclide_code_meaning: str | None = None
    radiopharmaceutical: str | None = None
    radiopharmaceutical_start_datetime: datetime | None = None
    radiopharmaceutical_start_time: time | None = None
    series_date: date | None = None
    series_time: time | None = None
    study_date: date | None = None
    decay_correction_datetime: datetime | None = None
    ge_private_scan_datetime: datetime | None = None
    ge_private_admin_datetime: datetime | None = None
    patient_weight: float | None = None
    patient_size: float | None = None
    patient_sex: str | None = None
    instances: tuple[InstanceRecord, ...] = ()
    inconsistencies: tuple[str, ...] = ()
    header_problems: tuple[str, ...] = field(default=())

    # ------------------------------------------------------------------ derived (no guessing)
    @property
    def series_datetime(self) -> datetime | None:
        """SeriesDate + SeriesTime, or ``None`` when either is missing."""
        if self.series_date is None or self.series_time is None:
            return None
        return datetime.combine(self.series_date, self.series_time)

    @property
    def earliest_acquisition_datetime(self) -> datetime | None:
        """Earliest dated AcquisitionDate/Time over the instances, or ``None``."""
        dts = [r.acquisition_datetime for r in self.instances if r.acquisition_datetime is not None]
        return min(dts) if dts else None

    @property
    def is_attenuation_corrected(self) -> bool:
        """CorrectedImage (0028,0051) contains ``ATTN``."""
        return "ATTN" in self.corrected_image

    @property
    def is_decay_corrected(self) -> bool:
        """CorrectedImage (0028,0051) contains ``DECY`` (or the variant ``DECAY``)."""
        return "DECY" in self.corrected_image or "DECAY" in self.corrected_image

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy (datetimes as ISO 8601 strings, instances as dicts)."""
        out: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k == "instances":
                out[k] = [r.to_dict() for r in v]
            else:
                out[k] = _jsonable(v)
        return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, tuple):
        return list(v)
    return v


# ``datetime`` subclasses ``date``: the isinstance order above handles both.
