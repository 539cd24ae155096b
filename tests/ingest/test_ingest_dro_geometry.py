"""IBSI SUV DROs: the DICOM grid carpet builds coincides with the DRO's NIfTI mask (independent truth)."""

from __future__ import annotations

import numpy as np
import pytest

from carpet.ingest import discover, read_nifti, read_pet

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize("case", ["DRO_0_0", "DRO_1_0"])
def test_dro_mask_is_on_the_pet_grid(shared_data, case):
    root = shared_data / "ibsi-suv-dro" / "DRO" / case
    d = discover(root)
    assert sorted(s.kind for s in d.series) == ["PT", "RTSTRUCT"]
    pet = read_pet(root)
    mask = read_nifti(root / "mask" / "DRO_mask.nii.gz")
    assert pet.suv.same_grid_as(mask, atol_mm=1e-3)
    inside = pet.suv.array[mask.array > 0]
    # hot sphere 4.00, background 1.00, cold sphere 0.20 — only if every voxel sits where the mask says
    assert [round(float(x), 3) for x in (inside.min(), np.median(inside), inside.max())] == [
        0.2,
        1.0,
        4.0,
    ]


_ALL_DROS = [
    "DRO_0_0", "DRO_1_0", "DRO_2_0", "DRO_2_1", "DRO_2_2", "DRO_2_3", "DRO_2_4", "DRO_2_5", "DRO_3_0",
    "DRO_3_1", "DRO_3_2", "DRO_3_3", "DRO_3_4", "DRO_4_0", "DRO_4_1", "DRO_4_2", "DRO_5_0",
]  # fmt: skip


@pytest.mark.parametrize("case", _ALL_DROS)
def test_every_dro_series_is_on_its_mask_grid(shared_data, case):
    from carpet.ingest import read_series_volume

    root = shared_data / "ibsi-suv-dro" / "DRO" / case
    vol = read_series_volume(discover(root).pick_pet())
    mask = read_nifti(root / "mask" / "DRO_mask.nii.gz")
    assert vol.same_grid_as(mask, atol_mm=1e-3)
    assert vol.array[mask.array > 0].min() > 0 and vol.array[mask.array == 0].min() == 0
