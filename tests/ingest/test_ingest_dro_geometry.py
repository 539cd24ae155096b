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
