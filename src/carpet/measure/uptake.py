"""Uptake measures of a lesion: SUVmax, SUVmean and SUVpeak (methods.md §3).

SUVpeak is the highest mean SUV inside a sphere of ``peak_volume_ml`` (1 mL by
default, radius 6.2035 mm) whose centre may be any voxel of the lesion (PERCIST
"anywhere in the lesion", not only the maximum voxel). Voxels partly inside the
sphere are weighted by their fractional overlap (super-sampled), and the
correlation is computed only over the lesion's bounding box padded by the sphere
radius (or, for small lesions, only at the lesion's voxels), so the cost is proportional to the lesion, not to the scan.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage

from carpet.errors import ConfigError

__all__ = ["peak_radius_mm", "sphere_kernel", "suv_peak_in_box"]


def peak_radius_mm(peak_volume_ml: float = 1.0) -> float:
    """Radius (mm) of a sphere of ``peak_volume_ml`` mL.

    Examples
    --------
    >>> round(peak_radius_mm(1.0), 4)
    6.2035
    """
    if not peak_volume_ml > 0:
        raise ConfigError(
            f"peak_volume_ml must be > 0; got {peak_volume_ml!r}", code="BAD_PARAMETER"
        )
    return (3.0 * peak_volume_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)


@functools.lru_cache(maxsize=32)
def sphere_kernel(
    spacing_mm: tuple[float, float, float], peak_volume_ml: float = 1.0, supersample: int = 7
) -> np.ndarray:
    """Fractional-overlap weights of a sphere on a voxel grid.

    Parameters
    ----------
    spacing_mm : tuple of 3 float
        Voxel spacing along (slice, row, column), mm.
    peak_volume_ml : float
        Sphere volume, mL.
    supersample : int
        Sub-samples per voxel edge used to estimate the overlap fraction.

    Returns
    -------
    ndarray of float64, odd shape
        Weight of each voxel in [0, 1]; the weights sum to about the sphere
        volume in voxels.

    Examples
    --------
    >>> k = sphere_kernel((2.0, 2.0, 2.0))
    >>> round(float(k.sum()) * 8 / 1000, 2)  # voxels x 8 mm3 -> mL
    1.0
    """
    r = peak_radius_mm(peak_volume_ml)
    sp = np.asarray(spacing_mm, dtype=np.float64)
    half = np.ceil(r / sp - 0.5 + 1e-9).astype(int)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5  # offsets within a voxel
    axes = []
    for a in range(3):
        centres = np.arange(-half[a], half[a] + 1) * sp[a]
        axes.append((centres[:, None] + sub[None, :] * sp[a]).ravel())
    zz, yy, xx = np.meshgrid(axes[0] ** 2, axes[1] ** 2, axes[2] ** 2, indexing="ij", sparse=True)
    inside = (zz + yy + xx) <= r * r
    shape = tuple(2 * h + 1 for h in half)
    w = inside.reshape(shape[0], supersample, shape[1], supersample, shape[2], supersample).mean(
        axis=(1, 3, 5)
    )
    return w


def suv_peak_in_box(
    suv: np.ndarray,
    box: tuple[slice, slice, slice],
    mask: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    peak_volume_ml: float = 1.0,
    center: str = "any_voxel_in_lesion",
) -> tuple[float, tuple[int, int, int]]:
    """SUVpeak of one lesion given its bounding box and mask crop.

    Parameters
    ----------
    suv : ndarray (S, R, C)
        Whole SUV array.
    box : tuple of 3 slices
        Bounding box of the lesion in ``suv``.
    mask : ndarray of bool, shape of the box
        Lesion voxels inside the box.
    spacing_mm : tuple of 3 float
        Voxel spacing, mm.
    peak_volume_ml : float
        Sphere volume, mL.
    center : {"any_voxel_in_lesion", "max_voxel"}
        Where the sphere centre may lie.

    Returns
    -------
    (float, (k, j, i))
        SUVpeak and the voxel index of the sphere centre. Sphere parts outside the
        scan are ignored (the mean is over the weights inside the scan).
    """
    kernel = sphere_kernel(tuple(float(s) for s in spacing_mm), float(peak_volume_ml))
    pad = [(n - 1) // 2 for n in kernel.shape]
    lo = [max(0, b.start - p) for b, p in zip(box, pad, strict=False)]
    hi = [min(n, b.stop + p) for b, p, n in zip(box, pad, suv.shape, strict=False)]
    big = tuple(slice(a, b) for a, b in zip(lo, hi, strict=False))
    crop = np.asarray(suv[big], dtype=np.float64)
    inner = tuple(slice(b.start - a, b.stop - a) for b, a in zip(box, lo, strict=False))
    if center == "max_voxel":
        sub = np.where(mask, suv[box], -np.inf)
        centres = [np.unravel_index(int(np.argmax(sub)), mask.shape)]
        pts = np.array(centres)
    else:
        pts = np.argwhere(mask)
    # Pad the crop with zeros so that every centre has a full neighbourhood; the
    # weights that fall outside the scan are removed from the normaliser.
    full_pad = [(p - (b.start - a), p - (c - b.stop)) for p, b, a, c in zip(pad, box, lo, hi, strict=False)]
    full_pad = [(max(0, x), max(0, y)) for x, y in full_pad]
    crop_p = np.pad(crop, full_pad)
    ones_p = np.pad(np.ones_like(crop), full_pad)
    off = [fp[0] + i.start for fp, i in zip(full_pad, inner, strict=False)]  # box origin inside crop_p
    if pts.shape[0] * kernel.size < 4_000_000 or center == "max_voxel":
        # Direct weighted sums at the candidate centres only.
        nz = np.argwhere(kernel > 0)
        wk = kernel[kernel > 0]
        nzc = nz - np.array(pad)
        means = np.empty(pts.shape[0])
        for start in range(0, pts.shape[0], 4096):
            p = pts[start : start + 4096] + np.array(off)
            idx = p[:, None, :] + nzc[None, :, :]
            vals = crop_p[idx[..., 0], idx[..., 1], idx[..., 2]]
            inside = ones_p[idx[..., 0], idx[..., 1], idx[..., 2]]
            means[start : start + 4096] = (vals @ wk) / (inside @ wk)
    else:
        num = ndimage.correlate(crop_p, kernel, mode="constant")
        den = ndimage.correlate(ones_p, kernel, mode="constant")
        q = pts + np.array(off)
        means = num[q[:, 0], q[:, 1], q[:, 2]] / den[q[:, 0], q[:, 1], q[:, 2]]
    best = int(np.argmax(means))
    k, j, i = (int(v) + b.start for v, b in zip(pts[best], box, strict=False))
    return float(means[best]), (k, j, i)
