"""Volume: validation, geometry maths against hand-computed DICOM positions."""

from __future__ import annotations

import numpy as np
import pytest

from carpet.core.volume import Volume, affine_from_dicom
from carpet.errors import ConfigError, GeometryMismatchError
from carpet.units import Unit


def _axial(shape=(4, 5, 6), spacing=(3.0, 2.0, 1.5), origin=(-10.0, -20.0, 30.0), feet_first=False):
    step = np.array([0, 0, -spacing[0] if feet_first else spacing[0]])
    aff = affine_from_dicom(origin, [1, 0, 0, 0, 1, 0], spacing[1:], step)
    return Volume(np.zeros(shape, np.float32), aff, unit=Unit.SUV_BW)


def test_affine_matches_dicom_pixel_position_formula():
    # DICOM PS3.3 C.7.6.2.1.1: P = IPP + X*Δi*i + Y*Δj*j for column i, row j.
    ipp = np.array([12.5, -40.0, 100.0])
    row_cos = np.array([0.0, 1.0, 0.0])  # oblique-ish: columns run anterior->posterior
    col_cos = np.array([0.0, 0.0, -1.0])
    ps = (2.5, 1.25)  # between rows, between columns
    step = np.array([4.0, 0.0, 0.0])
    v = Volume(np.zeros((3, 4, 5)), affine_from_dicom(ipp, [*row_cos, *col_cos], ps, step))
    k, j, i = 2, 3, 4
    expected = ipp + row_cos * ps[1] * i + col_cos * ps[0] * j + step * k
    np.testing.assert_allclose(v.index_to_world([[k, j, i]])[0], expected)
    np.testing.assert_allclose(v.world_to_index(expected[None])[0], [k, j, i], atol=1e-12)
    assert v.spacing_mm == pytest.approx((4.0, 2.5, 1.25))
    assert v.voxel_volume_ml == pytest.approx(4.0 * 2.5 * 1.25 / 1000)


def test_orientation_codes_head_and_feet_first():
    assert _axial().orientation == "SPL"
    assert _axial(feet_first=True).orientation == "IPL"


def test_same_grid_and_check_same_grid():
    a, b = _axial(), _axial()
    assert a.same_grid_as(b)
    c = _axial(origin=(-10.0, -20.0, 30.5))
    assert not a.same_grid_as(c)
    with pytest.raises(GeometryMismatchError, match="mask is not on the reference grid"):
        a.check_same_grid(c, what="mask")
    assert not a.same_grid_as(_axial(shape=(4, 5, 7)))


def test_with_array_keeps_grid_and_refuses_other_shape():
    v = _axial()
    w = v.with_array(np.ones(v.shape, np.int32), unit=Unit.LABEL)
    assert w.unit is Unit.LABEL and w.same_grid_as(v)
    with pytest.raises(GeometryMismatchError):
        v.with_array(np.ones((1, 2, 3)))


@pytest.mark.parametrize(
    ("array", "affine", "code"),
    [
        (np.zeros((2, 2)), np.eye(4), "BAD_VOLUME"),
        (np.zeros((2, 2, 2)), np.eye(3), "BAD_AFFINE"),
        (np.zeros((2, 2, 2)), np.diag([1.0, 1.0, 0.0, 1.0]), "BAD_AFFINE"),
        (np.zeros((2, 2, 2)), np.full((4, 4), np.nan), "BAD_AFFINE"),
    ],
)
def test_invalid_volumes_are_refused(array, affine, code):
    with pytest.raises(ConfigError) as info:
        Volume(array, affine)
    assert info.value.code == code


def test_affine_is_read_only_and_repr_is_informative():
    v = _axial()
    with pytest.raises(ValueError):
        v.affine[0, 0] = 5
    r = repr(v)
    assert "shape=(4, 5, 6)" in r and "SUVbw" in r and "SPL" in r
