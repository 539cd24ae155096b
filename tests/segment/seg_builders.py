"""Small analytic phantoms for segmentation/measurement tests (spheres, cubes; any orientation)."""

from __future__ import annotations

import numpy as np

from carpet.core.volume import Volume
from carpet.units import Unit


def axial_affine(
    spacing_mm=(3.0, 2.0, 2.5), origin_mm=(-50.0, -40.0, -30.0), *, feet_first=False, n_slices=40
):
    """(k, j, i) -> LPS affine for axial slices; feet-first reverses the slice direction."""
    ds, dr, dc = spacing_mm
    aff = np.eye(4)
    aff[:3, 0] = (0, 0, ds)
    aff[:3, 1] = (0, dr, 0)
    aff[:3, 2] = (dc, 0, 0)
    aff[:3, 3] = origin_mm
    if feet_first:  # same voxel positions, slices stored top to bottom
        aff[:3, 3] = np.asarray(origin_mm) + np.array([0, 0, ds * (n_slices - 1)])
        aff[:3, 0] = (0, 0, -ds)
    return aff


def world_grid(shape, affine):
    k, j, i = np.indices(shape, dtype=np.float64)
    return [affine[a, 0] * k + affine[a, 1] * j + affine[a, 2] * i + affine[a, 3] for a in range(3)]


def phantom(shape, affine, objects, background=0.5):
    """SUV Volume with (kind, centre_mm, size_mm, suv) objects painted in order.

    kind "sphere": size = radius; kind "cube": size = half-edge (axis-aligned in LPS).
    """
    x, y, z = world_grid(shape, affine)
    a = np.full(shape, background, np.float32)
    for kind, c, r, suv in objects:
        if kind == "sphere":
            m = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r * r
        else:
            m = (np.abs(x - c[0]) <= r) & (np.abs(y - c[1]) <= r) & (np.abs(z - c[2]) <= r)
        a[m] = suv
    return Volume(a, affine, unit=Unit.SUV_BW)


def labels_like(suv: Volume, array) -> Volume:
    return Volume(np.asarray(array, np.int32), suv.affine, unit=Unit.LABEL)
