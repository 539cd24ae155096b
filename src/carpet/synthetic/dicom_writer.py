"""Write synthetic studies as real DICOM Part-10 PET and CT series.

The PET writer converts SUVbw to the stored quantity with its own, deliberately
plain forward formula (an oracle independent of :mod:`carpet.suv`)::

    A [Bq/mL] = SUVbw × D_ref [Bq] / W [g]
    D_ref = D_adm · exp(−λ (t_series − t_adm))          (DecayCorrection START)
    D_ref = D_adm                                       (DecayCorrection ADMIN)
    A_k   = SUVbw × D_adm / W · exp(−λ (t_acq,k − t_adm)) · (1 − e^(−λT)) / (λT)
                                                        (DecayCorrection NONE, per bed k)

with λ = ln 2 / T½. Units ``BQML`` store A; ``CNTS`` store A / f_acs with the
Philips activity-concentration scale factor f_acs in (7053,1009) and the SUV
scale factor in (7053,1000); ``GML`` store SUVbw. Stored values are int16 with a
RescaleSlope per slice (or one per series) and RescaleIntercept 0.

No real patient data is ever written: PatientName is ``ANONYMOUS^SYNTHETIC`` and
identifiers are synthetic.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import ConfigError
from carpet.units import Unit

__all__ = [
    "PET_IMAGE_STORAGE",
    "CT_IMAGE_STORAGE",
    "PetHeaderSpec",
    "write_ct_dicom",
    "write_demo_study",
    "write_pet_dicom",
    "write_study_dicom",
]

PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

#: Philips activity-concentration scale factor written for Units CNTS (Bq/mL per count).
PHILIPS_ACTIVITY_SCALE = 1.0 / 14.0

_VENDORS = {
    "GE": ("GE MEDICAL SYSTEMS", "Discovery MI"),
    "SIEMENS": ("SIEMENS", "Biograph Vision 600"),
    "PHILIPS": ("Philips Medical Systems", "Vereos PET/CT"),
}


@dataclass(frozen=True)
class PetHeaderSpec:
    """Header facts of a synthetic PET (and its CT) series.

    Parameters
    ----------
    injected_dose_bq : float
        RadionuclideTotalDose (0018,1074), Bq.
    injection_datetime : datetime
        Administration time (RadiopharmaceuticalStartDateTime / StartTime).
    uptake_s : float
        SeriesTime − injection time, s.
    bed_duration_s : float
        ActualFrameDuration of each bed, s; bed b starts at series time + b × duration.
    half_life_s : float
        RadionuclideHalfLife (0018,1075), s (¹⁸F: 6586.2 s).
    weight_kg, height_m, sex, age_years : optional
        Patient facts; ``None`` takes them from the study's :class:`PatientSpec`.
    patient_id : str
        Synthetic PatientID.
    uid_seed : str
        Seed of the deterministic Study/Series/FrameOfReference/SOP UIDs.
    series_description : str
    series_number : int
    corrected_image : tuple of str
        CorrectedImage (0028,0051).
    dose_in_mbq : bool
        Store the dose in MBq (the known quirk) instead of Bq.
    weight_in_grams : bool
        Store PatientWeight in grams (the known quirk).
    include_start_datetime, include_start_time : bool
        Write RadiopharmaceuticalStartDateTime (0018,1078) / StartTime (0018,1072).
    ge_private_scan_datetime : {"same", "shifted", None}
        GE only: write (0009,100D) in GEMS_PETD_01 on the same date as the
        public tags, on a date shifted by 23 days (the ACRIN trap), or not at all.
    set_attributes : dict
        Keyword → value set on every PET instance after everything else
        (e.g. ``{"Units": "PROPCNTS"}``) for catalogue tests.
    omit : tuple of str
        Keywords removed from every PET instance (top level or inside the
        radiopharmaceutical sequence), e.g. ``("PatientWeight",)``.
    """

    injected_dose_bq: float = 370e6
    injection_datetime: datetime = datetime(2024, 3, 14, 8, 0, 0)
    uptake_s: float = 3600.0
    bed_duration_s: float = 150.0
    half_life_s: float = 6586.2
    weight_kg: float | None = None
    height_m: float | None = None
    sex: str | None = None
    age_years: int | None = None
    patient_id: str = "SYNTH-0001"
    uid_seed: str = "carpet-synthetic-0"
    series_description: str = "PET WB AC"
    series_number: int = 3
    corrected_image: tuple[str, ...] = ("DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM")
    dose_in_mbq: bool = False
    weight_in_grams: bool = False
    include_start_datetime: bool = True
    include_start_time: bool = True
    ge_private_scan_datetime: str | None = "same"
    set_attributes: dict = field(default_factory=dict)
    omit: tuple[str, ...] = ()

    @property
    def series_datetime(self) -> datetime:
        """Series start = injection + uptake."""
        return self.injection_datetime + timedelta(seconds=self.uptake_s)

    @property
    def decay_constant_per_s(self) -> float:
        """λ = ln 2 / T½, 1/s."""
        return math.log(2.0) / self.half_life_s


def _uid(seed: str, *parts: object) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[seed, *[str(p) for p in parts]])


def _da(dt: datetime) -> str:
    return dt.strftime("%Y%m%d")


def _tm(dt: datetime) -> str:
    return dt.strftime("%H%M%S.%f")[:13]


def _dt(dt: datetime) -> str:
    return dt.strftime("%Y%m%d%H%M%S.%f")[:21]


def _fmt_ds(x: float) -> str:
    """A DICOM DS string (≤ 16 characters) holding ``x`` as exactly as fits."""
    for prec in range(12, 3, -1):
        s = f"{x:.{prec}g}"
        if len(s) <= 16:
            return s
    return f"{x:.4g}"


def _reorient(vol: Volume, orientation: str) -> Volume:
    """Return the volume re-indexed for the given patient position (exact flips only)."""
    if orientation == "HFS":
        return vol
    if orientation == "FFS":
        # feet-first supine: columns towards patient right, slices from head to feet
        arr = vol.array[::-1, :, ::-1]
        aff = vol.affine.copy()
        n_s, _, n_c = vol.shape
        aff[:3, 3] = (
            vol.affine[:3, 3] + (n_s - 1) * vol.affine[:3, 0] + (n_c - 1) * vol.affine[:3, 2]
        )
        aff[:3, 0] = -vol.affine[:3, 0]
        aff[:3, 2] = -vol.affine[:3, 2]
        return Volume(np.ascontiguousarray(arr), aff, unit=vol.unit, meta=dict(vol.meta))
    raise ConfigError(f"orientation must be 'HFS' or 'FFS'; got {orientation!r}")


def _geometry(vol: Volume) -> tuple[list[float], list[float], float]:
    aff = vol.affine
    dr, dc = float(np.linalg.norm(aff[:3, 1])), float(np.linalg.norm(aff[:3, 2]))
    row_cos = aff[:3, 2] / dc
    col_cos = aff[:3, 1] / dr
    iop = [float(v) for v in (*row_cos, *col_cos)]
    return iop, [dr, dc], float(np.linalg.norm(aff[:3, 0]))


def _quantise(values: np.ndarray, slope: float) -> np.ndarray:
    return np.clip(np.rint(values / slope), -32768, 32767).astype(np.int16)


def _new_dataset(sop_class: str, sop_uid: str, transfer_syntax: str) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    meta.ImplementationVersionName = "CARPET_SYNTH"
    ds = Dataset()
    ds.file_meta = meta
    return ds


def _save(ds: Any, path: Path, transfer_syntax: str, pixels: np.ndarray) -> None:
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    uncompressed = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)
    if transfer_syntax in uncompressed:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    elif transfer_syntax == ExplicitVRBigEndian:
        raise ConfigError("ExplicitVRBigEndian is retired; choose another transfer syntax")
    else:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.compress(transfer_syntax, pixels)
    ds.save_as(path, enforce_file_format=True)


def _file_names(
    n: int, folder: Path, prefix: str, random_names: bool, rng: np.random.Generator
) -> list[Path]:
    if random_names:
        names = set()
        out = []
        while len(out) < n:
            name = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), size=10))
            if name not in names:
                names.add(name)
                out.append(folder / name)
        return out
    return [folder / f"{prefix}{k + 1:04d}.dcm" for k in range(n)]


def _set_common(ds: Any, spec: PetHeaderSpec, patient: dict, study_uid: str, for_uid: str) -> None:
    ds.PatientName = "ANONYMOUS^SYNTHETIC"
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = ""
    if patient.get("sex") is not None:
        ds.PatientSex = patient["sex"]
    if patient.get("age_years") is not None:
        ds.PatientAge = f"{int(patient['age_years']):03d}Y"
    if patient.get("weight_kg") is not None:
        w = patient["weight_kg"] * (1000.0 if spec.weight_in_grams else 1.0)
        ds.PatientWeight = _fmt_ds(w)
    if patient.get("height_m") is not None:
        ds.PatientSize = _fmt_ds(patient["height_m"])
    ds.StudyInstanceUID = study_uid
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    st = spec.injection_datetime - timedelta(minutes=5)
    ds.StudyDate, ds.StudyTime = _da(st), _tm(st)
    ds.StudyDescription = "PET/CT WHOLE BODY (synthetic)"
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""


def _patient_facts(spec: PetHeaderSpec, study_patient: Any) -> dict:
    def pick(name: str) -> Any:
        v = getattr(spec, name)
        if v is None and study_patient is not None:
            v = getattr(study_patient, name)
        return v

    return {k: pick(k) for k in ("weight_kg", "height_m", "sex", "age_years")}


def write_pet_dicom(
    study_or_volume: Any,
    folder: str | os.PathLike[str],
    *,
    header: PetHeaderSpec | None = None,
    vendor: str = "GE",
    units: str = "BQML",
    decay_correction: str = "START",
    orientation: str = "HFS",
    shuffle_files: bool = False,
    descending_instance_numbers: bool = False,
    random_file_names: bool = False,
    transfer_syntax: str | None = None,
    per_slice_slope: bool = True,
    n_beds: int | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write a SUVbw volume (or a :class:`SyntheticStudy`'s ``suv``) as a PET DICOM series.

    Parameters
    ----------
    study_or_volume : SyntheticStudy or Volume
        The SUVbw image (``Unit.SUV_BW``) on any grid (oblique affines included).
    folder : path
        Output folder (created). Files are written directly into it.
    header : PetHeaderSpec, optional
        Dose, times, patient facts, UIDs, quirks; defaults to ``PetHeaderSpec()``
        with the study's patient.
    vendor : {"GE", "SIEMENS", "PHILIPS"}
        Manufacturer tags (and GE private scan datetime / Philips scale factors).
    units : {"BQML", "CNTS", "GML"}
        Units (0054,1001) of the stored values (CNTS: Philips factors written).
    decay_correction : {"START", "ADMIN", "NONE"}
        DecayCorrection (0054,1102); the stored values follow the module formula.
    orientation : {"HFS", "FFS"}
        Patient position; FFS re-indexes the volume (exact flips) so that
        ImageOrientationPatient is (−1, 0, 0, 0, 1, 0) and slices run head → feet.
    shuffle_files : bool
        Write the files in random order (directory order ≠ slice order).
    descending_instance_numbers : bool
        InstanceNumber decreasing along the slice order.
    random_file_names : bool
        Extension-less random file names.
    transfer_syntax : str, optional
        Transfer syntax UID (default Explicit VR Little Endian). JPEG-LS
        lossless, JPEG 2000 lossless, RLE lossless and deflate are supported.
    per_slice_slope : bool
        A different RescaleSlope on every slice (True) or one for the series.
    n_beds : int, optional
        Number of bed positions (AcquisitionTime steps); default ≈ one bed per 150 mm.
    seed : int
        Seed for shuffling and random names.

    Returns
    -------
    list of Path
        The written files in slice order (slice ``k`` of the written volume).

    Examples
    --------
    >>> import tempfile
    >>> from carpet.synthetic import make_whole_body_study
    >>> s = make_whole_body_study(fov="head_neck", spacing_mm=(10, 10, 10), n_lesions=0, with_ct=False)
    >>> files = write_pet_dicom(s, tempfile.mkdtemp())
    >>> len(files) == s.suv.shape[0]
    True
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian

    header = header or PetHeaderSpec()
    vendor = vendor.upper()
    if vendor not in _VENDORS:
        raise ConfigError(f"vendor must be one of {sorted(_VENDORS)}; got {vendor!r}")
    if units not in ("BQML", "CNTS", "GML"):
        raise ConfigError(f"units must be BQML, CNTS or GML; got {units!r}")
    if decay_correction not in ("START", "ADMIN", "NONE"):
        raise ConfigError(
            f"decay_correction must be START, ADMIN or NONE; got {decay_correction!r}"
        )
    vol = getattr(study_or_volume, "suv", study_or_volume)
    if not isinstance(vol, Volume):
        raise ConfigError(
            f"write_pet_dicom needs a SyntheticStudy or a Volume; got {type(study_or_volume).__name__}"
        )
    if vol.unit is not Unit.SUV_BW:
        raise ConfigError(
            f"write_pet_dicom needs an SUVbw volume (Unit.SUV_BW); got unit {vol.unit.value}"
        )
    patient = _patient_facts(header, getattr(study_or_volume, "patient", None))
    if patient["weight_kg"] is None:
        raise ConfigError(
            "write_pet_dicom needs a weight: give header=PetHeaderSpec(weight_kg=...)"
        )
    transfer_syntax = transfer_syntax or ExplicitVRLittleEndian

    vol = _reorient(vol, orientation)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_s, n_r, n_c = vol.shape
    iop, ps, thickness = _geometry(vol)
    if n_beds is None:
        n_beds = max(1, int(math.ceil(n_s * thickness / 150.0)))
    n_beds = max(1, min(int(n_beds), n_s))
    # beds are scanned from the first written slice onwards
    bed_of_slice = (np.arange(n_s) * n_beds) // n_s

    study_uid = _uid(header.uid_seed, "study")
    series_uid = _uid(header.uid_seed, "pt-series", header.series_number)
    for_uid = _uid(header.uid_seed, "frame-of-reference")
    lam = header.decay_constant_per_s
    t_adm = header.injection_datetime
    t_series = header.series_datetime
    t_dur = header.bed_duration_s
    w_g = patient["weight_kg"] * 1000.0
    d_adm = header.injected_dose_bq

    # --- the forward formula (independent of carpet.suv)
    bed_start = [t_series + timedelta(seconds=b * t_dur) for b in range(n_beds)]
    if decay_correction == "START":
        activity_per_suv = [d_adm * math.exp(-lam * header.uptake_s) / w_g] * n_beds
    elif decay_correction == "ADMIN":
        activity_per_suv = [d_adm / w_g] * n_beds
    else:
        activity_per_suv = []
        for b in range(n_beds):
            dt_s = (bed_start[b] - t_adm).total_seconds()
            lt = lam * t_dur
            activity_per_suv.append(
                d_adm / w_g * math.exp(-lam * dt_s) * (1.0 - math.exp(-lt)) / lt
            )
    if units == "BQML":
        stored_per_suv = activity_per_suv
    elif units == "CNTS":
        stored_per_suv = [a / PHILIPS_ACTIVITY_SCALE for a in activity_per_suv]
    else:
        stored_per_suv = [1.0] * n_beds

    # slopes
    slice_max = np.array(
        [float(np.abs(vol.array[k]).max()) * stored_per_suv[bed_of_slice[k]] for k in range(n_s)]
    )
    if per_slice_slope:
        slopes = np.where(slice_max > 0, slice_max / 32000.0, 1.0)
    else:
        gmax = float(slice_max.max())
        slopes = np.full(n_s, gmax / 32000.0 if gmax > 0 else 1.0)
    # round slopes to what a DS string holds so the stored header is exact
    slopes = np.array([float(_fmt_ds(s)) for s in slopes])

    manufacturer, model = _VENDORS[vendor]
    paths = _file_names(n_s, folder, "PT", random_file_names, rng)
    order = rng.permutation(n_s) if shuffle_files else np.arange(n_s)
    sop_uids = [_uid(header.uid_seed, "pt", header.series_number, k) for k in range(n_s)]

    for k in (int(x) for x in order):
        b = int(bed_of_slice[k])
        ds = _new_dataset(PET_IMAGE_STORAGE, sop_uids[k], transfer_syntax)
        ds.SOPClassUID = PET_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uids[k]
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.Modality = "PT"
        ds.Manufacturer = manufacturer
        ds.ManufacturerModelName = model
        _set_common(ds, header, patient, study_uid, for_uid)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = header.series_number
        ds.SeriesDescription = header.series_description
        ds.SeriesDate, ds.SeriesTime = _da(t_series), _tm(t_series)
        acq = bed_start[b]
        ds.AcquisitionDate, ds.AcquisitionTime = _da(acq), _tm(acq)
        ds.ContentDate, ds.ContentTime = _da(t_series), _tm(t_series)
        ds.InstanceNumber = (n_s - k) if descending_instance_numbers else (k + 1)
        ds.PatientPosition = orientation
        ds.ImagePositionPatient = [_fmt_ds(v) for v in vol.index_to_world([[k, 0, 0]])[0]]
        ds.ImageOrientationPatient = [_fmt_ds(v) for v in iop]
        ds.PixelSpacing = [_fmt_ds(ps[0]), _fmt_ds(ps[1])]
        ds.SliceThickness = _fmt_ds(thickness)
        ds.SliceLocation = _fmt_ds(float(vol.index_to_world([[k, 0, 0]])[0][2]))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = n_r, n_c
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = _fmt_ds(slopes[k])
        ds.RescaleType = units
        ds.Units = units
        ds.DecayCorrection = decay_correction
        ds.CorrectedImage = list(header.corrected_image)
        ds.SeriesType = ["WHOLE BODY", "IMAGE"]
        ds.CountsSource = "EMISSION"
        ds.ReconstructionMethod = "OSEM"
        ds.NumberOfSlices = n_s
        ds.ImageIndex = k + 1
        ds.ActualFrameDuration = int(round(t_dur * 1000))
        ds.NumberOfTimeSlices = 1
        # frame reference time: mid-activity of the bed relative to the series start
        lt = lam * t_dur
        t_ave = math.log(lt / (1.0 - math.exp(-lt))) / lam
        frame_ref_s = (acq - t_series).total_seconds() + t_ave
        ds.FrameReferenceTime = _fmt_ds(frame_ref_s * 1000.0)
        if decay_correction == "START":
            ds.DecayFactor = _fmt_ds(math.exp(lam * (acq - t_series).total_seconds()))
        elif decay_correction == "ADMIN":
            ds.DecayFactor = _fmt_ds(math.exp(lam * (acq - t_adm).total_seconds()))
        else:
            ds.DecayFactor = "1"
        if units == "GML":
            ds.SUVType = "BW"
        rp = Dataset()
        rp.Radiopharmaceutical = "Fluorodeoxyglucose"
        if header.include_start_time:
            rp.RadiopharmaceuticalStartTime = _tm(t_adm)
        if header.include_start_datetime:
            rp.RadiopharmaceuticalStartDateTime = _dt(t_adm)
        rp.RadionuclideTotalDose = _fmt_ds(d_adm / 1e6 if header.dose_in_mbq else d_adm)
        rp.RadionuclideHalfLife = _fmt_ds(header.half_life_s)
        rp.RadionuclidePositronFraction = "0.9673"
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
            "C-111A1",
            "SRT",
            "^18^Fluorine",
        )
        rp.RadionuclideCodeSequence = DicomSequence([code])
        ds.RadiopharmaceuticalInformationSequence = DicomSequence([rp])
        if vendor == "GE" and header.ge_private_scan_datetime:
            shift = (
                timedelta(days=23) if header.ge_private_scan_datetime == "shifted" else timedelta(0)
            )
            block = ds.private_block(0x0009, "GEMS_PETD_01", create=True)
            block.add_new(0x0D, "DT", _dt(t_series + shift))
        if vendor == "PHILIPS" and units == "CNTS":
            block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
            suv_scale = PHILIPS_ACTIVITY_SCALE / activity_per_suv[b]
            block.add_new(0x00, "DS", _fmt_ds(suv_scale))
            block.add_new(0x09, "DS", _fmt_ds(PHILIPS_ACTIVITY_SCALE))
        for key, value in header.set_attributes.items():
            setattr(ds, key, value)
        for key in header.omit:
            if key in ds:
                delattr(ds, key)
            if key in rp:
                delattr(rp, key)
        pixels = _quantise(vol.array[k].astype(np.float64) * stored_per_suv[b], slopes[k])
        _save(ds, paths[k], transfer_syntax, pixels)
    return paths


def write_ct_dicom(
    ct_volume: Volume,
    folder: str | os.PathLike[str],
    *,
    header: PetHeaderSpec | None = None,
    patient: Any = None,
    orientation: str = "HFS",
    transfer_syntax: str | None = None,
    random_file_names: bool = False,
    seed: int = 0,
) -> list[Path]:
    """Write a HU volume as a CT DICOM series of the same study/frame of reference.

    Parameters
    ----------
    ct_volume : Volume
        CT in HU (``Unit.HU``).
    folder : path
        Output folder (created).
    header : PetHeaderSpec, optional
        Shared study facts (UID seed, patient, dates); the CT series is acquired
        10 minutes before the PET series.
    patient : PatientSpec, optional
        Patient facts where ``header`` leaves them ``None``.
    orientation, transfer_syntax, random_file_names, seed
        As in :func:`write_pet_dicom`.

    Returns
    -------
    list of Path
        Files in slice order. Stored values are uint16 with RescaleIntercept −1024.
    """
    from pydicom.uid import ExplicitVRLittleEndian

    header = header or PetHeaderSpec()
    if ct_volume.unit is not Unit.HU:
        raise ConfigError(f"write_ct_dicom needs a HU volume; got unit {ct_volume.unit.value}")
    transfer_syntax = transfer_syntax or ExplicitVRLittleEndian
    facts = _patient_facts(header, patient)
    vol = _reorient(ct_volume, orientation)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_s, n_r, n_c = vol.shape
    iop, ps, thickness = _geometry(vol)
    study_uid = _uid(header.uid_seed, "study")
    for_uid = _uid(header.uid_seed, "frame-of-reference")
    series_uid = _uid(header.uid_seed, "ct-series")
    t_ct = header.series_datetime - timedelta(minutes=10)
    paths = _file_names(n_s, folder, "CT", random_file_names, rng)
    for k in range(n_s):
        sop = _uid(header.uid_seed, "ct", k)
        ds = _new_dataset(CT_IMAGE_STORAGE, sop, transfer_syntax)
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Modality = "CT"
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        _set_common(ds, header, facts, study_uid, for_uid)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 2
        ds.SeriesDescription = "CT WB (synthetic)"
        ds.SeriesDate, ds.SeriesTime = _da(t_ct), _tm(t_ct)
        ds.AcquisitionDate, ds.AcquisitionTime = _da(t_ct), _tm(t_ct)
        ds.InstanceNumber = k + 1
        ds.PatientPosition = orientation
        ds.ImagePositionPatient = [_fmt_ds(v) for v in vol.index_to_world([[k, 0, 0]])[0]]
        ds.ImageOrientationPatient = [_fmt_ds(v) for v in iop]
        ds.PixelSpacing = [_fmt_ds(ps[0]), _fmt_ds(ps[1])]
        ds.SliceThickness = _fmt_ds(thickness)
        ds.KVP = "120"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = n_r, n_c
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        pixels = np.clip(np.rint(vol.array[k].astype(np.float64) + 1024.0), 0, 65535).astype(
            np.uint16
        )
        _save(ds, paths[k], transfer_syntax, pixels)
    return paths


def write_study_dicom(
    study: Any,
    folder: str | os.PathLike[str],
    *,
    header: PetHeaderSpec | None = None,
    **pet_options: Any,
) -> dict[str, list[Path]]:
    """Write a :class:`SyntheticStudy` as PET (``folder/PT``) and CT (``folder/CT``) series.

    Parameters
    ----------
    study : SyntheticStudy
    folder : path
    header : PetHeaderSpec, optional
        Shared by both series (same StudyInstanceUID and FrameOfReferenceUID).
    **pet_options
        Passed to :func:`write_pet_dicom` (``orientation`` is used for the CT too).

    Returns
    -------
    dict
        ``{"PT": [paths], "CT": [paths]}`` (``"CT"`` only when the study has a CT).
    """
    header = header or PetHeaderSpec()
    folder = Path(folder)
    out = {"PT": write_pet_dicom(study, folder / "PT", header=header, **pet_options)}
    if getattr(study, "ct", None) is not None:
        out["CT"] = write_ct_dicom(
            study.ct,
            folder / "CT",
            header=header,
            patient=study.patient,
            orientation=pet_options.get("orientation", "HFS"),
            transfer_syntax=pet_options.get("transfer_syntax"),
        )
    return out


#: Grid of the demo study (slice, row, column spacing in mm).
DEMO_SPACING_MM = (4.0, 4.0, 4.0)


def write_demo_study(
    folder: str | os.PathLike[str],
    *,
    seed: int = 0,
    spacing_mm: Sequence[float] = DEMO_SPACING_MM,
    with_ct: bool = True,
) -> Path:
    """Generate the deterministic demo study and write it as DICOM under ``folder``.

    The PET series (GE-style header, BQML, per-slice RescaleSlope, several beds)
    goes to ``folder/PT`` and the CT to ``folder/CT``.

    Parameters
    ----------
    folder : path
        Output folder (created; existing files with the same names are overwritten).
    seed : int
        Seed of the phantom (lesion sizes and SUVs).
    spacing_mm : (slice, row, column), mm
    with_ct : bool

    Returns
    -------
    Path
        ``folder``.
    """
    from carpet.synthetic.phantom import make_whole_body_study

    study = make_whole_body_study(spacing_mm=spacing_mm, seed=seed, with_ct=with_ct, n_lesions=8)
    header = replace(PetHeaderSpec(), uid_seed=f"carpet-demo-{seed}")
    write_study_dicom(study, folder, header=header)
    return Path(folder)
