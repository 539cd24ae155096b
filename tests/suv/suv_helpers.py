"""Helpers for the SUV tests: reading IBSI DRO / ACRIN PET pixels independently of carpet.ingest."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from carpet.core.volume import Volume


def read_pet_series(folder: Path) -> tuple[list, Volume]:
    """Headers + a Volume of rescaled stored values (P*slope per slice), sorted along the slice normal.

    Written here with plain pydicom (not carpet.ingest) so the SUV acceptance tests do not depend on
    the code under test for geometry or rescaling.
    """
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    dss = [pydicom.dcmread(p) for p in files]
    iop = np.asarray(dss[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    dss.sort(key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, dtype=float))))
    arr = np.stack(
        [
            d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept)
            for d in dss
        ]
    )
    ps = [float(x) for x in dss[0].PixelSpacing]
    p0 = np.asarray(dss[0].ImagePositionPatient, dtype=float)
    p1 = np.asarray(dss[1].ImagePositionPatient, dtype=float)
    aff = np.eye(4)
    aff[:3, 0] = p1 - p0
    aff[:3, 1] = iop[3:] * ps[0]
    aff[:3, 2] = iop[:3] * ps[1]
    aff[:3, 3] = p0
    vol = Volume(
        arr,
        aff,
        unit=str(dss[0].Units),
        meta={"sop_instance_uids": [str(d.SOPInstanceUID) for d in dss]},
    )
    for d in dss:  # headers only from here on
        del d.PixelData
    return dss, vol


def mask_on_grid(nifti_path: Path, vol: Volume) -> np.ndarray:
    """Resample a NIfTI mask (RAS) onto the DICOM grid of ``vol`` (LPS) by exact voxel-centre lookup."""
    import nibabel as nib

    img = nib.load(str(nifti_path))
    m = np.asarray(img.dataobj)
    k, j, i = np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij")
    idx = np.stack([k.ravel(), j.ravel(), i.ravel(), np.ones(k.size)])
    lps = vol.affine @ idx
    ras = lps.copy()
    ras[:2] *= -1
    vox = np.linalg.inv(img.affine) @ ras
    r = np.rint(vox[:3]).astype(int)
    assert np.allclose(vox[:3], r, atol=1e-3), "mask grid is not the DICOM grid"
    inside = np.all((r >= 0) & (r < np.array(m.shape)[:, None]), axis=0)
    out = np.zeros(vol.shape, dtype=bool).ravel()
    out[inside] = m[r[0, inside], r[1, inside], r[2, inside]] > 0
    return out.reshape(vol.shape)


# ----------------------------------------------------------------------------- synthetic headers
F18 = 6586.2
W, H = 75.0, 1.85
DOSE = 1e8  # Bq
UID = "1.2.826.0.1.3680043.8.498.77"


def lam(t_half=F18):
    return math.log(2) / t_half


def t_ave(dur_s, t_half=F18):
    x = lam(t_half) * dur_s
    return math.log(x / (1 - math.exp(-x))) / lam(t_half)


def pet(i=0, *, acq_time="110000", frame_ref_ms=None, **kw):
    """One PET instance header, DRO-like: injection 10:00, series/acquisition 11:00, F-18."""
    ds = Dataset()
    ds.SOPInstanceUID = f"{UID}.{i + 1}"
    ds.SeriesInstanceUID = UID
    ds.Modality = "PT"
    ds.Manufacturer = "Synthetic"
    ds.Units = "BQML"
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["NORM", "ATTN", "SCAT", "DECY"]
    ds.PatientWeight = str(W)
    ds.PatientSize = str(H)
    ds.PatientSex = "M"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20250101"
    ds.SeriesTime = "110000"
    ds.AcquisitionTime = acq_time
    ds.ActualFrameDuration = 180000
    ds.FrameReferenceTime = f"{t_ave(180.0) * 1000.0:.3f}" if frame_ref_ms is None else frame_ref_ms
    ds.RescaleSlope = "1.5"
    ds.RescaleIntercept = "0"
    rp = Dataset()
    rp.Radiopharmaceutical = "FDG"
    rp.RadionuclideTotalDose = str(DOSE)
    rp.RadionuclideHalfLife = str(F18)
    rp.RadiopharmaceuticalStartDateTime = "20250101100000"
    rp.RadiopharmaceuticalStartTime = "100000"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
    rp.RadionuclideCodeSequence = [code]
    ds.RadiopharmaceuticalInformationSequence = [rp]
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def rp(ds):
    return ds.RadiopharmaceuticalInformationSequence[0]
