"""Helpers for the SUV tests: reading IBSI DRO / ACRIN PET pixels independently of carpet.ingest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

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
        [d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss]
    )
    ps = [float(x) for x in dss[0].PixelSpacing]
    p0 = np.asarray(dss[0].ImagePositionPatient, dtype=float)
    p1 = np.asarray(dss[1].ImagePositionPatient, dtype=float)
    aff = np.eye(4)
    aff[:3, 0] = p1 - p0
    aff[:3, 1] = iop[3:] * ps[0]
    aff[:3, 2] = iop[:3] * ps[1]
    aff[:3, 3] = p0
    vol = Volume(arr, aff, unit=str(dss[0].Units),
                 meta={"sop_instance_uids": [str(d.SOPInstanceUID) for d in dss]})
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
