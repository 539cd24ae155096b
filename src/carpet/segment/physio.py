"""Automatic removal of physiological FDG uptake (brain, bladder + ureters, kidneys, myocardium).

Two sources of anatomy, in order of trust:

1. an **organ label map** (``--organs``: TotalSegmentator/MOOSE-style names, or the
   synthetic phantom's labels): a preselected region is physiological when at least
   half of its voxels lie in one of those organs;
2. otherwise **anatomy read from the PET itself**: the body outline and the lungs
   (low uptake inside the body) give a body frame (body midline, lung apex and
   base); each preselected region is then judged by where it lies in that frame,
   its size and its shape:

   * brain: the region reaches the top 60 mm of the body, the body there is
     head-sized (≤ 250 mm wide), the region covers ≥ 35 % of the body's axial
     section (a brain fills the head; a neck node does not), and it lies well above
     the lungs when they are seen;
   * myocardium: lungs in view; centroid in the lower half of the lungs' z range,
     left of the body midline (−20…+120 mm), anterior of the body centre, and
     shaped as a shell or crescent (convex hull ≥ 1.3 × its volume; tumours are solid);
   * kidneys: lungs in view; centroid 30 mm above to 250 mm below the lung base,
     25–95 mm lateral of the midline (the spleen lies further out), posterior of
     the body centre (> 10 mm);
   * bladder: lungs in view; centroid more than 200 mm below the lung base, within
     60 mm of the midline and not posterior (< 30 mm);
   * ureters: thin regions (< 15 mL, z extent ≥ 2.5 × transverse) 50–400 mm
     below the lung base, 10–100 mm lateral.

Only one instance of each organ is removed (one brain, bladder and heart, one
kidney per side): the largest candidate and its fragments within a few cm; other
candidates in the same zone are kept as lesions.

An organ that is not in the field of view is never removed: without lungs in view
(head/neck-only or pelvis-only scans) only the brain rule can fire, and it needs
a head-sized body section mostly filled by the region. A region removed here is recorded in ``excluded`` with its
organ code (:data:`EXCLUDED_CODES`) and later growth never enters it.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy import ndimage

from carpet.core.volume import Volume

logger = logging.getLogger(__name__)

__all__ = ["EXCLUDED_CODES", "BodyFrame", "body_frame", "classify_regions", "organ_code_for_name"]

#: Codes of the ``excluded`` volume (uint8): removed physiological uptake.
EXCLUDED_CODES: dict[str, int] = {
    "brain": 1,
    "bladder": 2,
    "kidney": 3,
    "myocardium": 4,
    "ureter": 5,
    "reader": 6,  # marked physiological by a reader edit
}

_NAME_ALIASES = {
    "brain": "brain",
    "urinary_bladder": "bladder",
    "bladder": "bladder",
    "kidney": "kidney",
    "kidney_left": "kidney",
    "kidney_right": "kidney",
    "kidneys": "kidney",
    "heart": "myocardium",
    "heart_myocardium": "myocardium",
    "myocardium": "myocardium",
    "ureter": "ureter",
    "ureter_left": "ureter",
    "ureter_right": "ureter",
    "ureters": "ureter",
}


def organ_code_for_name(name: str) -> str | None:
    """Physiological organ of an organ-map label name (TotalSegmentator/MOOSE style), or None.

    Examples
    --------
    >>> organ_code_for_name("kidney_left"), organ_code_for_name("Urinary Bladder"), organ_code_for_name("liver")
    ('kidney', 'bladder', None)
    """
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _NAME_ALIASES.get(key)


@dataclasses.dataclass(frozen=True)
class BodyFrame:
    """Anatomical landmarks read from the PET (LPS mm; None when not in view)."""

    axial: bool
    top_z_mm: float
    bottom_z_mm: float
    vertex_in_view: bool
    lung_top_z_mm: float | None
    lung_bottom_z_mm: float | None
    slice_z_mm: np.ndarray
    centre_x_mm: np.ndarray
    centre_y_mm: np.ndarray
    width_mm: np.ndarray
    area_mm2: np.ndarray

    def at(self, z_mm: float) -> tuple[float, float, float]:
        """Body centre x, y and width (mm) at height z (nearest slice)."""
        k = int(np.argmin(np.abs(self.slice_z_mm - z_mm)))
        return float(self.centre_x_mm[k]), float(self.centre_y_mm[k]), float(self.width_mm[k])

    def to_dict(self) -> dict:
        """JSON-able summary for provenance."""
        return {
            "axial": self.axial,
            "top_z_mm": self.top_z_mm,
            "bottom_z_mm": self.bottom_z_mm,
            "vertex_in_view": self.vertex_in_view,
            "lung_top_z_mm": self.lung_top_z_mm,
            "lung_bottom_z_mm": self.lung_bottom_z_mm,
        }


#: Brain: the region covers at least this fraction of the body's axial section (head).
_BRAIN_SECTION_FRACTION = 0.35
#: Myocardium: a shell/crescent, convex-hull volume ≥ this × its volume (solid tumours ≈ 0.6–1.1).
_MYOCARDIUM_HULL_RATIO = 1.3
#: CT body and lung thresholds (HU).
_BODY_HU = -500.0
_LUNG_HU = -400.0
#: Lung voxels: SUV below this fraction of the median body SUV (well inside the body).
_LUNG_FRACTION_OF_BODY = 0.6
#: A slice shows lungs when this fraction of its body cross-section is lung-like.
_LUNG_SLICE_FRACTION = 0.13
#: Fragments of one organ: candidate centroids within this distance (mm) of the largest one.
_FRAGMENT_MM = {"brain": 100.0, "bladder": 60.0, "myocardium": 80.0, "kidney": 80.0, "ureter": 0.0}
#: Shortest run of lung slices taken as lungs in view, mm.
_MIN_LUNG_HEIGHT_MM = 80.0


def _downsample(a: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    """Every f-th voxel, starting at the centre of the first block (cheap; the frame is coarse)."""
    return np.ascontiguousarray(
        a[(f[0] - 1) // 2 :: f[0], (f[1] - 1) // 2 :: f[1], (f[2] - 1) // 2 :: f[2]]
    )


def body_frame(
    suv: Volume, *, ct: Volume | None = None, body_suv: float = 0.25, coarse_mm: float = 6.0
) -> BodyFrame:
    """Body outline and lungs from an SUV volume (and its CT when given), on a coarse (~6 mm) grid.

    Parameters
    ----------
    suv : Volume
        SUV volume (any orientation; only axial stacks get a frame).
    ct : Volume, optional
        CT in HU on any grid of the same frame of reference. When given, body =
        CT > −500 HU and lungs = CT < −400 HU inside the body (more robust than
        the PET's low-uptake rule).
    body_suv : float
        SUV above which a voxel is body tissue (background air is ~0).
    coarse_mm : float
        Working resolution, mm.
    """
    sp = suv.spacing_mm
    f = tuple(max(1, int(round(coarse_mm / s))) for s in sp)
    a = _downsample(suv.array, f)
    aff = suv.affine.copy()
    aff[:3, :3] = aff[:3, :3] * np.array(f)
    aff[:3, 3] = suv.affine[:3, 3] + suv.affine[:3, :3] @ ((np.array(f) - 1) // 2)
    d = aff[:3, :3] / np.linalg.norm(aff[:3, :3], axis=0)
    axial = abs(d[2, 0]) > 0.9
    n_k = a.shape[0]
    ks = np.arange(n_k)
    z = aff[2, 0] * ks + aff[2, 3]
    hu = None
    if ct is not None:
        from carpet.core.geometry import resample_to

        coarse = Volume(np.zeros(a.shape, np.float32), aff)
        hu = resample_to(ct, coarse, order=1, fill_value=-1000.0).array
    # the body outline always comes from the PET (the CT also shows the scanner table)
    body = ndimage.binary_opening(a > body_suv, structure=np.ones((1, 3, 3), bool))
    filled = np.empty_like(body)
    for k in range(n_k):
        filled[k] = ndimage.binary_fill_holes(body[k])
    lung_space = filled
    if hu is not None:  # CT edges are sharp: no opening (it could break a thin chest wall)
        lung_space = np.empty_like(body)
        for k in range(n_k):
            lung_space[k] = ndimage.binary_fill_holes(hu[k] > _BODY_HU)
        lung_space &= filled
    area = filled.sum(axis=(1, 2)).astype(float)
    cx = np.zeros(n_k)
    cy = np.zeros(n_k)
    width = np.zeros(n_k)
    jj, ii = np.indices(a.shape[1:])
    for k in range(n_k):
        m = filled[k]
        if m.any():
            j = jj[m].mean()
            i = ii[m].mean()
            w = aff[:3, 1] * j + aff[:3, 2] * i + aff[:3, 0] * k + aff[:3, 3]
            cx[k], cy[k] = w[0], w[1]
            cols = np.flatnonzero(m.any(axis=0))
            rows = np.flatnonzero(m.any(axis=1))
            ext = np.abs(aff[:3, 2] * (cols.max() - cols.min() + 1)) + np.abs(
                aff[:3, 1] * (rows.max() - rows.min() + 1)
            )
            width[k] = float(ext[0])
    present = area > 0
    if present.any():
        zs = z[present]
        top, bottom = float(zs.max()), float(zs.min())
    else:
        top = bottom = float(z.mean())
    # vertex in view: the most superior body slices shrink to a small cross-section
    top_k = int(np.argmax(z)) if present.any() else 0
    order = np.argsort(-z)
    vertex = False
    if present.any() and area.max() > 0:
        k_top_body = [k for k in order if area[k] > 0][0]
        vertex = (
            bool(area[k_top_body] < 0.25 * area.max())
            and k_top_body != top_k
            or (
                bool(area[top_k] < 0.25 * area.max())
                and area[top_k] > 0
                and area.max() > 4 * area[top_k]
                and _narrowing_at_top(area, order)
            )
        )
    # lungs: low uptake well inside the body, in a contiguous run of slices
    inner = ndimage.binary_erosion(lung_space, structure=np.ones((1, 3, 3), bool), iterations=2)
    med = float(np.median(a[body])) if body.any() else 0.0
    lung = inner & ((hu < _LUNG_HU) if hu is not None else (a < _LUNG_FRACTION_OF_BODY * med))
    frac = lung.sum(axis=(1, 2)) / np.maximum(area, 1)
    is_lung = frac > _LUNG_SLICE_FRACTION
    lung_top = lung_bottom = None
    best: tuple[int, int] | None = None
    start = None
    for k in range(n_k + 1):
        on = k < n_k and bool(is_lung[k])
        if on and start is None:
            start = k
        if not on and start is not None:
            if best is None or k - start > best[1] - best[0]:
                best = (start, k)
            start = None
    if best is not None:
        run_mm = (best[1] - best[0]) * abs(aff[2, 0])
        if run_mm >= _MIN_LUNG_HEIGHT_MM:
            zz = z[best[0] : best[1]]
            lung_top, lung_bottom = float(zz.max()), float(zz.min())
    if not axial:
        lung_top = lung_bottom = None
        vertex = False
    pixel_mm2 = float(np.linalg.norm(aff[:3, 1]) * np.linalg.norm(aff[:3, 2]))
    return BodyFrame(
        axial, top, bottom, vertex, lung_top, lung_bottom, z, cx, cy, width, area * pixel_mm2
    )


def _section_fraction(suv: Volume, idx: np.ndarray, frame: BodyFrame) -> float:
    """Largest axial section of a region / the body's section at that height."""
    counts = np.bincount(idx[:, 0])
    k = int(np.argmax(counts))
    sp = suv.spacing_mm
    z = float(suv.index_to_world([[k, 0, 0]])[0, 2])
    kk = int(np.argmin(np.abs(frame.slice_z_mm - z)))
    body = float(frame.area_mm2[kk])
    return float(counts[k] * sp[1] * sp[2] / body) if body > 0 else 0.0


def _hull_ratio(points_mm: np.ndarray, volume_ml: float) -> float:
    """Convex-hull volume of the voxel centres / region volume (≈ 1 solid, ≥ 1.3 shell or crescent)."""
    from scipy.spatial import ConvexHull, QhullError

    if points_mm.shape[0] < 5:
        return 0.0
    try:
        return float(ConvexHull(points_mm).volume / (volume_ml * 1000.0))
    except QhullError:
        return 0.0


def _narrowing_at_top(area: np.ndarray, order: np.ndarray) -> bool:
    """True if the body's cross-section grows steadily from the top slice (a head, not a cut trunk)."""
    seq = [area[k] for k in order if area[k] > 0][:8]
    return len(seq) >= 3 and seq[0] < seq[-1] * 0.5


def classify_regions(
    suv: Volume,
    regions: np.ndarray,
    *,
    frame: BodyFrame | None = None,
    organs: Volume | None = None,
    organ_names: dict[int, str] | None = None,
) -> tuple[dict[int, str], list[str]]:
    """Decide which preselected regions are physiological uptake.

    Parameters
    ----------
    suv : Volume
        SUV volume.
    regions : ndarray of int32
        Preselected regions (id per voxel) on the SUV grid.
    frame : BodyFrame, optional
        Body frame (computed when None and no organ map is given).
    organs : Volume, optional
        Organ label map on the SUV grid.
    organ_names : dict of int -> str, optional
        Names of the organ labels (TotalSegmentator/MOOSE style).

    Returns
    -------
    (dict of region id -> organ name, list of str)
        Regions to remove with the organ they belong to, and notes for the provenance.
    """
    notes: list[str] = []
    out: dict[int, str] = {}
    boxes = ndimage.find_objects(regions)
    if organs is not None:
        names = organ_names or {}
        code_of = {}
        for val, name in names.items():
            organ = organ_code_for_name(name)
            if organ is not None:
                code_of[int(val)] = organ
        lut = np.zeros(max([*code_of, 0]) + 1, dtype=np.uint8)
        organ_list = sorted(set(code_of.values()))
        for val, organ in code_of.items():
            lut[val] = organ_list.index(organ) + 1
        org = organs.array
        for i, box in enumerate(boxes):
            if box is None:
                continue
            m = regions[box] == i + 1
            ov = org[box][m].astype(np.int64)
            ov = np.where(ov < lut.size, lut[np.clip(ov, 0, lut.size - 1)], 0)
            counts = np.bincount(ov, minlength=len(organ_list) + 1)
            best = int(np.argmax(counts[1:])) + 1 if counts[1:].size else 0
            if best and counts[best] >= 0.5 * m.sum():
                out[i + 1] = organ_list[best - 1]
        notes.append(f"physiological uptake removed using the organ label map ({len(out)} regions)")
        return out, notes
    if frame is None:
        frame = body_frame(suv)
    if not frame.axial:
        notes.append("automatic physiological-uptake removal skipped: slices are not axial")
        return out, notes
    v_ml = suv.voxel_volume_ml
    lungs = frame.lung_bottom_z_mm is not None
    if not lungs:
        notes.append(
            "lungs not in the field of view: myocardium, kidney, bladder and ureter rules not applied"
        )
    candidates: dict[str, list] = {}
    for i, box in enumerate(boxes):
        if box is None:
            continue
        lid = i + 1
        m = regions[box] == lid
        idx = np.argwhere(m) + np.array([b.start for b in box])
        w = suv.index_to_world(idx)
        c = w.mean(axis=0)
        vol = m.sum() * v_ml
        ext = w.max(axis=0) - w.min(axis=0) + np.abs(suv.affine[:3, :3]).max(axis=1)
        bx, by, bw = frame.at(c[2])
        dx, dy = c[0] - bx, c[1] - by
        organ = None
        # brain: head-sized body, top of the body, and the region fills much of the head's section
        if (
            w[:, 2].max() >= frame.top_z_mm - 60.0
            and bw <= 250.0
            and vol >= 20.0
            and (not lungs or c[2] > frame.lung_top_z_mm + 80.0)
            and _section_fraction(suv, idx, frame) >= _BRAIN_SECTION_FRACTION
        ):
            organ = "brain"
        elif lungs:
            lb, lt = frame.lung_bottom_z_mm, frame.lung_top_z_mm
            below = lb - c[2]
            if (
                (lb - 30.0 <= c[2] <= lb + 0.5 * (lt - lb))
                and -20.0 <= dx <= 120.0
                and dy < 0.0
                and vol <= 800.0
                and _hull_ratio(w, vol) >= _MYOCARDIUM_HULL_RATIO
            ):
                organ = "myocardium"
            elif -30.0 <= below <= 250.0 and 25.0 <= abs(dx) <= 95.0 and dy > 10.0 and vol <= 600.0:
                organ = "kidney"
            elif (
                50.0 <= below <= 400.0
                and 10.0 <= abs(dx) <= 100.0
                and vol < 15.0
                and ext[2] >= 2.5 * max(ext[0], ext[1])
            ):
                organ = "ureter"  # thin tube: tested before the (round) bladder
            elif below > 200.0 and abs(dx) <= 60.0 and dy < 30.0 and vol >= 10.0:
                organ = "bladder"
        if organ is not None:
            key = f"kidney_{'left' if dx > 0 else 'right'}" if organ == "kidney" else organ
            candidates.setdefault(key, []).append((lid, float(vol), c, organ))
    # one organ instance each (one brain, bladder, heart, one kidney per side): the largest
    # candidate and its fragments nearby; other candidates are lesions that merely sit there
    for key, cands in candidates.items():
        if key == "ureter":
            chosen = cands
        else:
            big = max(cands, key=lambda t: t[1])
            chosen = [t for t in cands if np.linalg.norm(t[2] - big[2]) <= _FRAGMENT_MM[t[3]]]
        for lid, vol, c, organ in chosen:
            out[lid] = organ
            logger.info(
                "region %d (%.1f mL at %s) removed as %s", lid, vol, np.round(c, 1).tolist(), organ
            )
        kept = len(cands) - len(chosen)
        if kept:
            notes.append(
                f"{kept} region(s) in the {key} zone kept as lesions (not the largest, not adjacent)"
            )
    return out, notes
