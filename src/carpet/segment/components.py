"""Connected components of masks (cc3d) and the automatic preselection of regions.

One home for connectivity: 6, 18 or 26 (default 26, methods.md §2.2).
"""

from __future__ import annotations

import cc3d
import numpy as np

from carpet.errors import ConfigError

__all__ = ["label_components", "preselect_regions", "structure_for"]


def structure_for(connectivity: int) -> np.ndarray:
    """3×3×3 boolean neighbourhood of a connectivity (6, 18 or 26)."""
    if connectivity not in (6, 18, 26):
        raise ConfigError(
            f"connectivity must be 6, 18 or 26; got {connectivity!r}", code="BAD_CONNECTIVITY"
        )
    g = np.indices((3, 3, 3)) - 1
    d = np.abs(g).sum(axis=0)
    return {6: d <= 1, 18: d <= 2, 26: d <= 3}[connectivity]


def label_components(mask: np.ndarray, *, connectivity: int = 26) -> tuple[np.ndarray, int]:
    """Label the connected components of a boolean mask.

    Returns
    -------
    (ndarray of int32, int)
        Labels 1..n in raster order and the number of components n.

    Examples
    --------
    >>> m = np.zeros((3, 3, 3), bool); m[0, 0, 0] = m[1, 1, 1] = True
    >>> label_components(m, connectivity=26)[1], label_components(m, connectivity=6)[1]
    (1, 2)
    """
    structure_for(connectivity)
    labels, n = cc3d.connected_components(
        np.ascontiguousarray(mask, dtype=bool),
        connectivity=connectivity,
        return_N=True,
        out_dtype=np.uint32,
    )
    return labels.view(np.int32), int(n)


def preselect_regions(
    suv: np.ndarray,
    *,
    threshold_suv: float = 4.0,
    min_voxels: int = 0,
    connectivity: int = 26,
) -> tuple[np.ndarray, int]:
    """Connected regions with SUV ≥ ``threshold_suv`` and at least ``min_voxels`` voxels.

    Region ids are renumbered 1..n by decreasing SUVmax (id 1 = hottest region),
    so that ids do not depend on the orientation of the array.

    Parameters
    ----------
    suv : ndarray (S, R, C)
        SUV values, g/mL.
    threshold_suv : float
        Preselection threshold (4.0 in the international benchmark).
    min_voxels : int
        Smallest region kept, voxels (from the minimum volume in mL).
    connectivity : {6, 18, 26}
        Neighbourhood.

    Returns
    -------
    (ndarray of int32, int)
    """
    labels, n = label_components(suv >= threshold_suv, connectivity=connectivity)
    if n == 0:
        return labels, 0
    flat = labels.ravel()
    nz = np.flatnonzero(flat)
    lab_nz = flat[nz]
    counts = np.bincount(lab_nz, minlength=n + 1)
    vmax = np.full(n + 1, -np.inf)
    np.maximum.at(vmax, lab_nz, suv.ravel()[nz])
    keep = np.flatnonzero(counts >= max(1, min_voxels))
    keep = keep[keep > 0]
    order = keep[np.argsort(-vmax[keep], kind="stable")]
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[order] = np.arange(1, order.size + 1, dtype=np.int32)
    flat[nz] = remap[lab_nz]
    return labels, int(order.size)
