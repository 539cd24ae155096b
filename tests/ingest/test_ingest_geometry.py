"""Geometry acceptance: any layout/orientation on disk → the same LPS voxel positions and values."""

from __future__ import annotations

import numpy as np
import pytest

from carpet.core.geometry import resample_to
from carpet.core.volume import Volume
from carpet.ingest import discover, read_pet, read_series_volume
from carpet.synthetic import (
    PetHeaderSpec,
    make_whole_body_study,
    write_pet_dicom,
    write_study_dicom,
)
from carpet.units import Unit


@pytest.fixture(scope="module")
def phantom():
    return make_whole_body_study(fov="thorax", spacing_mm=(6.0, 8.0, 8.0), n_lesions=4, seed=4)


@pytest.fixture(scope="module")
def reference(phantom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hfs")
    write_pet_dicom(phantom, folder)
    return read_series_volume(discover(folder).pick_pet())


def _index_map(vol, ref):
    """Integer signed-permutation mapping of vol's indices onto ref's (asserted)."""
    m = np.linalg.inv(ref.affine) @ vol.affine
    assert np.allclose(m, np.rint(m), atol=1e-4), m
    return np.rint(m)


@pytest.mark.parametrize(
    "layout",
    [
        dict(orientation="FFS"),
        dict(shuffle_files=True, random_file_names=True),
        dict(descending_instance_numbers=True),
        dict(
            orientation="FFS",
            shuffle_files=True,
            descending_instance_numbers=True,
            random_file_names=True,
        ),
    ],
    ids=["feet-first", "shuffled-random-names", "descending-instance-numbers", "all-at-once"],
)
def test_layouts_round_trip_to_the_same_lps_positions(phantom, reference, tmp_path, layout):
    write_pet_dicom(phantom, tmp_path, **layout)
    vol = read_series_volume(discover(tmp_path).pick_pet())
    m = _index_map(vol, reference)
    # every voxel of vol lands on a voxel of the reference grid, with the same value
    k, j, i = np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij")
    idx = np.stack([k.ravel(), j.ravel(), i.ravel(), np.ones(k.size)])
    rk, rj, ri = (m @ idx)[:3].astype(int)
    assert np.array_equal(vol.array.ravel(), reference.array[rk, rj, ri])
    if layout.get("orientation") == "FFS":
        assert vol.orientation == "IPR" and not np.allclose(m, np.eye(4))
        assert np.allclose(
            vol.index_to_world([[0, 0, 0]]),
            reference.index_to_world([[reference.shape[0] - 1, 0, reference.shape[2] - 1]]),
        )


def test_reader_grid_matches_the_phantom_and_values_round_trip(phantom, reference):
    assert reference.same_grid_as(phantom.suv, atol_mm=1e-4)
    assert reference.unit is Unit.BQML
    assert (
        reference.meta["series_instance_uid"]
        and len(reference.meta["sop_instance_uids"]) == reference.shape[0]
    )
    assert len(set(reference.meta["rescale_slopes"])) > 3


def test_read_pet_gives_the_phantom_suv(phantom, tmp_path):
    write_study_dicom(phantom, tmp_path, orientation="FFS", shuffle_files=True)
    pet = read_pet(tmp_path)
    back = resample_to(pet.suv, phantom.suv, order=0)
    # quantisation: half a stored step of the hottest voxel of a slice ≤ max/64000
    assert np.abs(back.array - phantom.suv.array).max() <= phantom.suv.array.max() / 32000
    assert pet.suv.unit is Unit.SUV_BW and pet.suv.array.dtype == np.float32
    assert pet.patient.weight_kg == 75 and pet.patient.height_m == 1.75 and pet.patient.sex == "M"
    assert pet.study_date is not None and pet.series.kind == "PT"
    # the CT of the same study, on its own (FFS) grid, resampled exactly onto the PET grid
    from carpet.ingest import read_ct_for

    ct = read_ct_for(pet)
    assert ct is not None and ct.unit is Unit.HU
    assert np.array_equal(resample_to(ct, phantom.suv, order=0).array, np.rint(phantom.ct.array))


def _oblique_affine(base: np.ndarray, deg: float) -> np.ndarray:
    t = np.radians(deg)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    aff = base.copy()
    aff[:3, :3] = rot @ base[:3, :3]
    return aff


def test_oblique_series_round_trips(phantom, tmp_path):
    aff = _oblique_affine(phantom.suv.affine, 17.0)
    vol = Volume(phantom.suv.array, aff, unit=Unit.SUV_BW)
    write_pet_dicom(vol, tmp_path, header=PetHeaderSpec(weight_kg=70.0))
    back = read_series_volume(discover(tmp_path).pick_pet())
    # DS strings hold ≥ 12 significant digits: positions agree to well below a micrometre
    assert np.allclose(back.affine, aff, atol=1e-5)
    assert back.orientation == vol.orientation


def test_list_of_paths_input_and_mixed_series_refused(phantom, tmp_path):
    files = write_pet_dicom(phantom, tmp_path / "a")
    vol = read_series_volume(list(reversed(files)))
    assert vol.same_grid_as(phantom.suv)
    other = write_pet_dicom(phantom, tmp_path / "b", header=PetHeaderSpec(series_number=9))
    from carpet.errors import InconsistentSeriesError

    with pytest.raises(InconsistentSeriesError) as exc:
        read_series_volume(files[:3] + other[3:6])
    assert exc.value.code == "MIXED_SERIES"


def test_resample_to_linear_ramp_is_exact():
    # f(x) = x is reproduced exactly by trilinear interpolation at any shifted grid
    src = Volume(
        np.broadcast_to(np.arange(20, dtype=np.float32)[None, None, :] * 2.0, (5, 6, 20)).copy(),
        np.eye(4),
    )
    ref_aff = np.eye(4)
    ref_aff[:3, 3] = (1.0, 2.0, 3.5)  # shifted by half a voxel along columns
    ref = Volume(np.zeros((3, 3, 10), np.float32), ref_aff)
    out = resample_to(src, ref)
    assert np.allclose(out.array, (np.arange(10) + 3.5)[None, None, :] * 2.0)
    labels = Volume(np.arange(600, dtype=np.int16).reshape(5, 6, 20), np.eye(4), unit=Unit.LABEL)
    lab = resample_to(labels, ref, order=1)  # forced to nearest for labels
    assert lab.array.dtype == np.int16 and set(np.unique(lab.array)) <= set(range(600))
