"""Lesion dissemination: Dmax (centroid and voxel variants), Dbulk and SDmax (methods.md §3).

Patient-level distances derive from per-lesion records: the centroid of each
lesion and the vertices of the convex hull of its voxel centres. The farthest
pair of voxels of a lesion set is always a pair of hull vertices, so the voxel
variant costs O(hull vertices), never O(voxels²) as the all-pairs approach does.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist

__all__ = ["dbulk_mm", "dmax_mm", "dmax_voxel_mm", "hull_points_mm", "sdmax_per_m"]


def hull_points_mm(points_mm: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of points (N×3, mm); all points when degenerate.

    Examples
    --------
    >>> cube = np.array([[x, y, z] for x in (0, 1, 2) for y in (0, 1, 2) for z in (0, 1, 2)], float)
    >>> hull_points_mm(cube).shape
    (8, 3)
    """
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    if pts.shape[0] <= 4:
        return pts
    try:
        return pts[ConvexHull(pts).vertices]
    except QhullError:  # flat or collinear lesion: keep the extreme points only
        centred = pts - pts.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        proj = centred @ vt[:2].T
        try:
            return pts[ConvexHull(proj).vertices]
        except QhullError:
            t = proj[:, 0]
            return pts[[int(np.argmin(t)), int(np.argmax(t))]]


def dmax_mm(centroids_mm: np.ndarray) -> float:
    """Largest distance between lesion centroids (mm); 0 with fewer than two lesions.

    Examples
    --------
    >>> dmax_mm(np.array([[0, 0, 0], [3, 4, 0], [0, 0, 1.0]]))
    5.0990195135927845
    """
    c = np.asarray(centroids_mm, dtype=np.float64).reshape(-1, 3)
    return float(pdist(c).max()) if c.shape[0] >= 2 else 0.0


def dmax_voxel_mm(hulls_mm: list[np.ndarray]) -> float:
    """Largest distance between any two lesion voxel centres (mm), from per-lesion hulls.

    Parameters
    ----------
    hulls_mm : list of ndarray (Ni, 3)
        Convex-hull vertices of each lesion (:func:`hull_points_mm`), mm.

    Returns
    -------
    float
        0 when there are no voxels or a single voxel.
    """
    arrays = [np.asarray(h, dtype=np.float64).reshape(-1, 3) for h in hulls_mm if len(h)]
    if not arrays:
        return 0.0
    pts = hull_points_mm(np.concatenate(arrays))
    return float(pdist(pts).max()) if pts.shape[0] >= 2 else 0.0


def dbulk_mm(centroids_mm: np.ndarray, volumes_ml: np.ndarray) -> float:
    """Distance (mm) from the bulkiest lesion's centroid to the farthest other centroid.

    The bulkiest lesion is the one with the largest volume (first one on ties).
    0 with fewer than two lesions.

    Examples
    --------
    >>> dbulk_mm(np.array([[0, 0, 0], [10, 0, 0], [0, 30, 0.0]]), np.array([1.0, 5.0, 2.0]))
    31.622776601683793
    """
    c = np.asarray(centroids_mm, dtype=np.float64).reshape(-1, 3)
    if c.shape[0] < 2:
        return 0.0
    b = int(np.argmax(np.asarray(volumes_ml, dtype=np.float64)))
    return float(np.linalg.norm(c - c[b], axis=1).max())


def sdmax_per_m(dmax: float, bsa_m2: float | None) -> float | None:
    """SDmax = Dmax (m) / BSA (m²), in m⁻¹; ``None`` when the BSA is unknown.

    Examples
    --------
    >>> sdmax_per_m(640.0, 2.0)
    0.32
    """
    if bsa_m2 is None or not bsa_m2 > 0:
        return None
    return float(dmax) / 1000.0 / float(bsa_m2)
