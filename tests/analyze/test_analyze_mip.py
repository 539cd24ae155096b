"""MIP picture orientation: head up, patient right on the coronal image's left, anterior on the sagittal's left."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "segment"))
from seg_builders import axial_affine, phantom  # noqa: E402

from carpet.core.volume import Volume  # noqa: E402
from carpet.export.mip import mip_arrays, write_mip  # noqa: E402
from carpet.units import Unit  # noqa: E402


@pytest.mark.parametrize("feet_first", [False, True])
def test_mip_orientation(feet_first, tmp_path):
    shape = (40, 30, 30)
    aff = axial_affine(
        (3.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0), feet_first=feet_first, n_slices=shape[0]
    )
    # hot sphere: patient right (small x), anterior (small y), head end (large z)
    suv = phantom(shape, aff, [("sphere", (12.0, 12.0, 100.0), 6.0, 10.0)], background=0.5)
    lab = Volume((suv.array > 5).astype(np.int32), aff, unit=Unit.LABEL)
    img, lp, exc, aspect = mip_arrays(suv, lab, None, view="coronal")
    r, c = np.argwhere(lp > 0).mean(axis=0)
    assert r < img.shape[0] / 2 and c < img.shape[1] / 2  # head up, patient right on the left
    assert aspect == pytest.approx(1.5)
    img, lp, exc, aspect = mip_arrays(suv, lab, None, view="sagittal")
    r, c = np.argwhere(lp > 0).mean(axis=0)
    assert r < img.shape[0] / 2 and c < img.shape[1] / 2  # anterior on the left
    out = write_mip(suv, lab, Volume(np.zeros(shape, np.uint8), aff), tmp_path / "mip.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
