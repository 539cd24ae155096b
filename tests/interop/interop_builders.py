"""Small synthetic PET series (real DICOM headers) with known geometry, for the interop tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from carpet.core.volume import Volume, affine_from_dicom
from carpet.units import Unit

PET_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.128"

#: SUVbw factor (g/Bq·mL → SUV) of the builder's header: weight 70 kg, dose 350 MBq,
#: decay correction START with the injection at the series start (no decay).
SUV_FACTOR = 70_000.0 / 350e6


def make_pet_datasets(
    suv: np.ndarray,
    *,
    spacing_mm: tuple[float, float, float] = (3.0, 4.0, 4.0),
    origin_mm: tuple[float, float, float] = (-100.0, -80.0, -300.0),
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
) -> list[Dataset]:
    """One PET instance per slice (k = 0 first, ascending z), values in Bq/mL = SUV / SUV_FACTOR."""
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    for_uid = frame_of_reference_uid or generate_uid()
    n_slices, rows, cols = suv.shape
    bq = suv / SUV_FACTOR
    out = []
    for k in range(n_slices):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = PET_SOP_CLASS
        sop = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.SOPClassUID = PET_SOP_CLASS
        ds.SOPInstanceUID = sop
        ds.Modality = "PT"
        ds.PatientName = "Phantom^Interop"
        ds.PatientID = "PHANTOM-E"
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "M"
        ds.PatientWeight = "70"
        ds.PatientSize = "1.75"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = for_uid
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20240101"
        ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = "100000"
        ds.StudyID = "1"
        ds.AccessionNumber = "A1"
        ds.ReferringPhysicianName = ""
        ds.SeriesNumber = 1
        ds.InstanceNumber = n_slices - k
        ds.Manufacturer = "carpet-test"
        ds.SeriesDescription = "PET AC"
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.Units = "BQML"
        ds.DecayCorrection = "START"
        ds.CorrectedImage = ["ATTN", "DECY"]
        ds.SeriesType = ["WHOLE BODY", "IMAGE"]
        ds.CountsSource = "EMISSION"
        ds.NumberOfSlices = n_slices
        ds.Laterality = ""
        ds.CollimatorType = "NONE"
        ds.RadionuclideCodeSequence = []
        ds.PatientOrientationCodeSequence = []
        ds.PatientGantryRelationshipCodeSequence = []
        ds.FrameReferenceTime = "0"
        ds.ImageIndex = k + 1
        ds.ActualFrameDuration = 180000
        ds.DecayFactor = "1"
        ri = Dataset()
        ri.Radiopharmaceutical = "Fluorodeoxyglucose"
        ri.RadionuclideTotalDose = "350000000"
        ri.RadionuclideHalfLife = "6586.2"
        ri.RadiopharmaceuticalStartTime = "100000"
        ri.RadiopharmaceuticalStartDateTime = "20240101100000"
        ds.RadiopharmaceuticalInformationSequence = [ri]
        ds.ImagePositionPatient = [origin_mm[0], origin_mm[1], origin_mm[2] + k * spacing_mm[0]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing_mm[1], spacing_mm[2]]
        ds.SliceThickness = spacing_mm[0]
        ds.PositionReferenceIndicator = ""
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        peak = float(bq[k].max())
        slope = peak / 65535.0 if peak > 0 else 1.0
        stored = np.rint(bq[k] / slope).astype(np.uint16)
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = "0"
        ds.PixelData = stored.tobytes()
        out.append(ds)
    return out


def pet_volume(datasets: list[Dataset]) -> Volume:
    """The SUV Volume of ``make_pet_datasets`` output (independent of carpet.ingest)."""
    ds0, ds1 = datasets[0], datasets[1]
    step = np.subtract(ds1.ImagePositionPatient, ds0.ImagePositionPatient)
    aff = affine_from_dicom(
        ds0.ImagePositionPatient, ds0.ImageOrientationPatient, ds0.PixelSpacing, step
    )
    arr = np.stack([d.pixel_array * float(d.RescaleSlope) * SUV_FACTOR for d in datasets]).astype(
        np.float32
    )
    return Volume(arr, aff, unit=Unit.SUV_BW, frame_of_reference_uid=str(ds0.FrameOfReferenceUID))


def write_datasets(datasets: list[Dataset], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(datasets):
        p = folder / f"{n:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def sphere_labels(
    shape: tuple[int, int, int], centres: list[tuple[float, float, float]], radius_vox: float
) -> np.ndarray:
    """Integer label map with ball ``n`` (1-based) at ``centres[n-1]`` (voxel indices)."""
    kk, jj, ii = np.indices(shape)
    lab = np.zeros(shape, np.int32)
    for n, (k, j, i) in enumerate(centres, start=1):
        lab[(kk - k) ** 2 + (jj - j) ** 2 + (ii - i) ** 2 <= radius_vox**2] = n
    return lab


def small_case(
    rng: np.random.Generator, *, shape=(12, 24, 20)
) -> tuple[list[Dataset], Volume, Volume]:
    """(PET datasets, SUV Volume, label Volume) with three spheres, one with a hole and ids 2, 5, 9."""
    lab = sphere_labels(shape, [(4, 6, 6), (6, 14, 12), (8, 7, 15)], 2.6)
    lab[6, 14, 12] = 0  # a hole
    lab = np.select([lab == 1, lab == 2, lab == 3], [2, 5, 9], 0).astype(np.int32)
    suv = rng.uniform(0.5, 1.5, shape) + 6.0 * (lab > 0)
    dss = make_pet_datasets(suv)
    vol = pet_volume(dss)
    return dss, vol, vol.with_array(lab, unit=Unit.LABEL)


def reread(path) -> Dataset:
    return pydicom.dcmread(path)


def dicom_validation_errors(path) -> list[str]:
    """Errors of dciodvfy when installed, else of highdicom/pydicom re-reading."""
    if shutil.which("dciodvfy"):
        r = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        return [ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("Error")]
    import highdicom as hd

    ds = pydicom.dcmread(path)
    errors = []
    if ds.Modality == "SEG":
        hd.seg.segread(path)
    elif ds.Modality == "SR":
        hd.sr.srread(path)
    for kw in (
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
    ):
        if not ds.get(kw):
            errors.append(f"Error - missing {kw}")
    return errors
