"""NIfTI round trip and the RAS↔LPS convention, checked with nibabel's own affine maths."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine

from carpet.core.volume import Volume
from carpet.errors import InputError
from carpet.ingest import read_nifti, write_nifti
from carpet.units import Unit


def _affines():
    hfs = np.array([[0, 0, 4.0, -100], [0, 3.0, 0, -80], [2.5, 0, 0, -300], [0, 0, 0, 1]])
    ffs = np.array([[0, 0, -4.0, 100], [0, 3.0, 0, -80], [-2.5, 0, 0, 300], [0, 0, 0, 1]])
    t = np.radians(23)
    rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    obl = hfs.copy()
    obl[:3, :3] = rot @ hfs[:3, :3]
    return {"head-first": hfs, "feet-first": ffs, "oblique": obl}


@pytest.mark.parametrize("name", ["head-first", "feet-first", "oblique"])
def test_round_trip_exact(tmp_path, rng, name):
    aff = _affines()[name]
    vol = Volume(rng.random((5, 6, 7), dtype=np.float32) * 10, aff, unit=Unit.SUV_BW)
    p = write_nifti(vol, tmp_path / "v.nii.gz")
    back = read_nifti(p)
    assert np.array_equal(back.array, vol.array) and back.array.dtype == np.float32
    assert np.allclose(back.affine, vol.affine, atol=1e-5)
    assert back.unit is Unit.SUV_BW


def test_ras_convention_seen_by_nibabel(tmp_path, rng):
    aff = _affines()["oblique"]
    vol = Volume(rng.random((5, 6, 7), dtype=np.float32), aff)
    p = write_nifti(vol, tmp_path / "v.nii")
    img = nib.load(str(p))
    data = np.asanyarray(img.dataobj)
    # nibabel indexes (i, j, k) and maps to RAS; carpet indexes (k, j, i) and maps to LPS
    k, j, i = 3, 4, 5
    ras = apply_affine(img.affine, [i, j, k])
    lps = vol.index_to_world([[k, j, i]])[0]
    assert np.allclose(ras, [-lps[0], -lps[1], lps[2]], atol=1e-4)
    assert data[i, j, k] == vol.array[k, j, i]


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, bool])
def test_label_maps_stay_integer(tmp_path, dtype):
    arr = (np.arange(60).reshape(3, 4, 5) % 3).astype(dtype)
    vol = Volume(arr, np.eye(4), unit=Unit.LABEL if dtype is not bool else Unit.MASK)
    back = read_nifti(write_nifti(vol, tmp_path / "lab.nii.gz"))
    assert np.issubdtype(back.array.dtype, np.integer)
    assert np.array_equal(back.array, arr.astype(back.array.dtype))


def test_float_label_map_is_written_as_integers(tmp_path):
    vol = Volume(np.full((2, 2, 2), 3.0, np.float32), np.eye(4), unit=Unit.LABEL)
    back = read_nifti(write_nifti(vol, tmp_path / "l.nii"))
    assert back.array.dtype == np.int32 and back.array.max() == 3


def test_explicit_unit_and_foreign_files(tmp_path):
    img = nib.Nifti1Image(np.ones((4, 3, 2), np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    nib.save(img, str(tmp_path / "foreign.nii"))
    v = read_nifti(tmp_path / "foreign.nii")
    assert v.unit is Unit.UNKNOWN and v.shape == (2, 3, 4)
    assert v.orientation == "SAR"  # (k → superior, j → anterior, i → right)
    assert read_nifti(tmp_path / "foreign.nii", unit=Unit.SUV_BW).unit is Unit.SUV_BW


def test_bad_nifti_inputs(tmp_path):
    (tmp_path / "bad.nii").write_bytes(b"nonsense")
    with pytest.raises(InputError) as exc:
        read_nifti(tmp_path / "bad.nii")
    assert exc.value.code == "NIFTI_UNREADABLE"
    nib.save(nib.Nifti1Image(np.ones((2, 2), np.float32), np.eye(4)), str(tmp_path / "flat.nii"))
    with pytest.raises(InputError) as exc:
        read_nifti(tmp_path / "flat.nii")
    assert exc.value.code == "NIFTI_NOT_3D"
    with pytest.raises(InputError) as exc:
        read_nifti(tmp_path / "missing.nii")
    assert exc.value.code == "PATH_NOT_FOUND"


def test_bytes_are_deterministic_and_readable(tmp_path, rng):
    from carpet.ingest.nifti import nifti_bytes

    vol = Volume(
        rng.random((3, 4, 5), dtype=np.float32), _affines()["feet-first"], unit=Unit.SUV_BW
    )
    a, b = nifti_bytes(vol, compress=True), nifti_bytes(vol, compress=True)
    assert a == b and a[:2] == b"\x1f\x8b"
    p = tmp_path / "x.nii.gz"
    write_nifti(vol, p)
    assert p.read_bytes() == a
    assert np.array_equal(read_nifti(p).array, vol.array)
    assert np.array_equal(
        nib.Nifti1Image.from_bytes(nifti_bytes(vol)).get_fdata().transpose(2, 1, 0), vol.array
    )
