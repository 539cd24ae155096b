"""NIfTI ↔ :class:`~carpet.core.volume.Volume`: the only place RAS meets LPS.

A NIfTI array is indexed (i, j, k) with an affine to **RAS** mm; a carpet
Volume is indexed (k, j, i) with an affine to **LPS** mm. With
``F = diag(−1, −1, 1, 1)`` (RAS ↔ LPS) and ``P`` the permutation (i, j, k) ↔
(k, j, i)::

    A_nifti  = F @ A_volume @ P          data_nifti = array.transpose(2, 1, 0)
    A_volume = F @ A_nifti  @ P          array      = data_nifti.transpose(2, 1, 0)

Both are exact (F and P are their own inverses), so any orientation
(feet-first, oblique) round-trips bit for bit. The unit is stored in the
header's ``descrip`` (``carpet:unit=SUVbw``) and read back when present.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from carpet.units import Unit
>>> v = Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.diag([3.0, 2.0, 2.0, 1.0]), unit=Unit.SUV_BW)
>>> p = os.path.join(tempfile.mkdtemp(), "suv.nii.gz")
>>> _ = write_nifti(v, p)
>>> w = read_nifti(p)
>>> bool(np.array_equal(w.array, v.array) and np.allclose(w.affine, v.affine)), w.unit.value
(True, 'SUVbw')
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import InputError
from carpet.units import Unit

__all__ = ["is_nifti_path", "nifti_bytes", "read_nifti", "write_nifti"]

_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])
_PERM = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
_UNIT_TAG = "carpet:unit="


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    """True for ``*.nii`` / ``*.nii.gz`` file names.

    >>> is_nifti_path("a/suv.nii.gz"), is_nifti_path("a/IM0001")
    (True, False)
    """
    name = Path(path).name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def read_nifti(path: str | os.PathLike[str], *, unit: Unit | str | None = None) -> Volume:
    """Read a 3-D NIfTI file into a Volume (RAS → LPS, (i, j, k) → (k, j, i)).

    Parameters
    ----------
    path : path
        ``.nii`` or ``.nii.gz``.
    unit : Unit, optional
        Unit of the values. Default: the unit carpet wrote into ``descrip``,
        else ``Unit.UNKNOWN``.

    Returns
    -------
    Volume
        Integer data keep their dtype (label maps); scaled data become float.

    Raises
    ------
    InputError
        ``NIFTI_UNREADABLE`` (not NIfTI / damaged), ``NIFTI_NOT_3D``.
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file", code="PATH_NOT_FOUND") from exc
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types on damaged files
        raise InputError(
            f"{path}: cannot be read as NIfTI ({type(exc).__name__}: {exc})",
            code="NIFTI_UNREADABLE",
        ) from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(
            f"{path}: NIfTI image must be 3-D; got shape {data.shape}", code="NIFTI_NOT_3D"
        )
    affine = _FLIP @ np.asarray(img.affine, dtype=np.float64) @ _PERM
    if unit is None:
        descrip = img.header.get("descrip")
        text = (
            descrip.item().decode("ascii", "ignore")
            if hasattr(descrip, "item")
            else str(descrip or "")
        )
        unit = Unit.UNKNOWN
        if _UNIT_TAG in text:
            value = text.split(_UNIT_TAG, 1)[1].split()[0].strip()
            unit = Unit(value) if value in {u.value for u in Unit} else Unit.UNKNOWN
    return Volume(
        np.ascontiguousarray(data.transpose(2, 1, 0)),
        affine,
        unit=Unit(unit),
        meta={"source": str(path)},
    )


def nifti_bytes(volume: Volume, *, compress: bool = False) -> bytes:
    """Serialise a Volume as NIfTI-1 bytes (LPS → RAS), in memory.

    Label maps (``Unit.LABEL``/``MASK`` or integer/bool arrays) are stored with
    an integer dtype (bool → uint8); other images keep their dtype. Compressed
    output is gzip with a zero timestamp, so the same volume always gives the
    same bytes.

    Parameters
    ----------
    volume : Volume
    compress : bool
        gzip the bytes (the ``.nii.gz`` format).

    Returns
    -------
    bytes
    """
    import gzip

    import nibabel as nib

    arr = volume.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif volume.unit in (Unit.LABEL, Unit.MASK) and not np.issubdtype(arr.dtype, np.integer):
        arr = np.rint(arr).astype(np.int32)
    data = np.asarray(arr).transpose(2, 1, 0)
    aff = _FLIP @ volume.affine @ _PERM
    img = nib.Nifti1Image(data, aff)
    img.header.set_data_dtype(data.dtype)
    img.set_sform(aff, code=1)
    try:
        img.set_qform(aff, code=1)
    except Exception:  # noqa: BLE001 - sheared affine: keep the sform only
        img.set_qform(None, code=0)
    img.header["descrip"] = f"{_UNIT_TAG}{volume.unit.value}".encode("ascii")[:79]
    raw = img.to_bytes()
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw


def write_nifti(volume: Volume, path: str | os.PathLike[str]) -> Path:
    """Write a Volume as NIfTI-1 (LPS → RAS), atomically (see :func:`nifti_bytes`).

    Parameters
    ----------
    volume : Volume
    path : path
        ``.nii`` or ``.nii.gz`` (gzip-compressed, deterministic bytes).

    Returns
    -------
    Path
    """
    from carpet._io import atomic_write_bytes

    path = Path(path)
    return atomic_write_bytes(path, nifti_bytes(volume, compress=path.name.lower().endswith(".gz")))
