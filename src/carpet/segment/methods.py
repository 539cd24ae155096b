"""Per-lesion segmentation methods grown from seeds (methods.md §2.1-2.2).

Workflow (international TMTV benchmark): connected regions with SUV ≥ 4 and
≥ ``min_volume_ml`` are preselected (:func:`carpet.segment.components.preselect_regions`);
each region becomes a :class:`Seed` and the chosen method segments it:

* ``suv4``: the region itself (voxels ≥ 4.0 connected to it);
* ``suv2.5``: voxels ≥ 2.5 connected to the seed's maximum voxel;
* ``pct41``: voxels ≥ 0.41 × the seed's SUVmax connected to its maximum voxel;
* ``percist``: voxels ≥ 1.5 × liver SUVmean + 2 SD connected to the maximum voxel;
* ``a50p``: voxels ≥ bkg + 0.5 (SUVpeak − bkg), bkg = median SUV in a shell
  10–20 mm around the region (other regions and excluded organs left out);
* ``mv2`` / ``mv3``: voxels in ≥ 2 / all 3 of the SUV 2.5, SUV 4.0 and 41 % masks
  of the same seed (the issue's three-mask vote).

Every lesion keeps its seed's id. Growth never enters forbidden voxels
(physiological organs removed, other lesions when adding one). When two seeds'
regions overlap, each contested voxel goes to the nearest seed region (Euclidean,
mm), so neighbours never merge and never steal each other's core voxels; the
union is counted once by construction (one id per voxel).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy import ndimage

from carpet.config import SEGMENTATION_METHODS
from carpet.errors import ConfigError, SegmentationError
from carpet.measure.uptake import suv_peak_in_box
from carpet.segment.components import label_components
from carpet.segment.threshold import a50p_threshold, pct_max_threshold

logger = logging.getLogger(__name__)

__all__ = ["GrowthParams", "Seed", "grow_lesions", "seed_at_point", "seeds_from_regions"]

Box = tuple[slice, slice, slice]


@dataclasses.dataclass(frozen=True)
class Seed:
    """Where one lesion starts: its core region and maximum voxel.

    Attributes
    ----------
    lesion_id : int
        Stable id of the lesion grown from this seed.
    box : tuple of 3 slices
        Bounding box of the core.
    core : ndarray of bool
        Core voxels inside ``box`` (the preselected region, or the 70 % region of a click).
    max_index : tuple of int
        (k, j, i) of the highest SUV of the core.
    suv_max : float
        SUV at ``max_index``.
    origin : str
        ``"auto"`` or ``"added"``.
    """

    lesion_id: int
    box: Box
    core: np.ndarray
    max_index: tuple[int, int, int]
    suv_max: float
    origin: str = "auto"


@dataclasses.dataclass(frozen=True)
class GrowthParams:
    """Numbers the methods need (from :class:`carpet.config.AnalysisConfig`)."""

    fixed_threshold_suv: float = 4.0
    low_threshold_suv: float = 2.5
    pct_of_max: float = 0.41
    a50p_fraction: float = 0.5
    background_shell_mm: tuple[float, float] = (10.0, 20.0)
    peak_volume_ml: float = 1.0
    percist_threshold_suv: float | None = None
    connectivity: int = 26
    max_growth_mm: float | None = 20.0


def seeds_from_regions(
    suv: np.ndarray, regions: np.ndarray, ids: list[int] | None = None, *, origin: str = "auto"
) -> dict[int, Seed]:
    """One :class:`Seed` per region id of a label array."""
    out: dict[int, Seed] = {}
    for i, box in enumerate(ndimage.find_objects(regions)):
        if box is None:
            continue
        lid = i + 1
        if ids is not None and lid not in ids:
            continue
        core = regions[box] == lid
        sub = np.where(core, suv[box], -np.inf)
        m = np.unravel_index(int(np.argmax(sub)), core.shape)
        idx = tuple(int(a + b.start) for a, b in zip(m, box, strict=False))
        out[lid] = Seed(lid, box, core, idx, float(suv[idx]), origin)
    return out


def _box_around(box: Box, margin: tuple[int, int, int], shape: tuple[int, ...]) -> Box:
    return tuple(
        slice(max(0, b.start - m), min(n, b.stop + m))
        for b, m, n in zip(box, margin, shape, strict=False)
    )


def _grow_from(
    suv: np.ndarray,
    seed: Seed,
    threshold: float,
    forbidden: np.ndarray | None,
    connectivity: int,
    spacing_mm: tuple[float, float, float],
    max_growth_mm: float | None = None,
) -> tuple[Box, np.ndarray]:
    """Component of {SUV ≥ threshold, not forbidden} containing the seed's max voxel.

    With ``max_growth_mm`` the component is also limited to voxels within that
    distance of the seed's core (a low threshold never floods a neighbouring organ);
    otherwise it is searched in a box around the seed that doubles until the
    component no longer touches its border (or the box is the whole scan).
    """
    if suv[seed.max_index] < threshold:
        return seed.box, np.zeros_like(seed.core)
    margin_mm = 20.0 if max_growth_mm is None else float(max_growth_mm)
    while True:
        margin = tuple(int(np.ceil(margin_mm / s)) + 1 for s in spacing_mm)
        big = _box_around(seed.box, margin, suv.shape)
        cand = suv[big] >= threshold
        if forbidden is not None:
            cand &= ~forbidden[big]
        lab, _ = label_components(cand, connectivity=connectivity)
        local = tuple(m - b.start for m, b in zip(seed.max_index, big, strict=False))
        comp = lab == lab[local]
        if max_growth_mm is not None:
            core = np.zeros(cand.shape, bool)
            inner = tuple(
                slice(b.start - g.start, b.stop - g.start)
                for b, g in zip(seed.box, big, strict=True)
            )
            core[inner] = seed.core
            if (comp & ~core).any():  # grows beyond its core: limit the distance from it
                cand &= ndimage.distance_transform_edt(~core, sampling=spacing_mm) <= max_growth_mm
                lab, _ = label_components(cand, connectivity=connectivity)
                comp = lab == lab[local]
        touches = False
        for ax in range(3):
            if big[ax].start > 0 and comp.take(0, axis=ax).any():
                touches = True
            if big[ax].stop < suv.shape[ax] and comp.take(-1, axis=ax).any():
                touches = True
        if not touches or max_growth_mm is not None:
            break
        margin_mm *= 2
    # crop to the component's own box
    sl = ndimage.find_objects(comp.astype(np.uint8))[0]
    box = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(big, sl, strict=False))
    return box, comp[sl]


def _background_suv(
    suv: np.ndarray,
    seed: Seed,
    occupied: np.ndarray | None,
    forbidden: np.ndarray | None,
    shell_mm: tuple[float, float],
    spacing_mm: tuple[float, float, float],
) -> float:
    margin = tuple(int(np.ceil(shell_mm[1] / s)) + 1 for s in spacing_mm)
    big = _box_around(seed.box, margin, suv.shape)
    core = np.zeros(tuple(b.stop - b.start for b in big), bool)
    inner = tuple(
        slice(b.start - g.start, b.stop - g.start) for b, g in zip(seed.box, big, strict=False)
    )
    core[inner] = seed.core
    d = ndimage.distance_transform_edt(~core, sampling=spacing_mm)
    shell = (d > shell_mm[0]) & (d <= shell_mm[1])
    if occupied is not None:
        shell &= occupied[big] == 0
    if forbidden is not None:
        shell &= ~forbidden[big]
    vals = suv[big][shell]
    if vals.size == 0:
        raise SegmentationError(
            f"a50p: no background voxels {shell_mm[0]:g}-{shell_mm[1]:g} mm around lesion {seed.lesion_id} "
            "(lesion fills the local field of view); use another method for this scan",
            code="NO_BACKGROUND",
        )
    return float(np.median(vals))


def _candidate(
    suv, seed, method, params, forbidden, occupied, spacing_mm
) -> tuple[Box, np.ndarray, float]:
    """Candidate region of one seed (box, mask crop, threshold used)."""
    conn = params.connectivity
    if method == "suv4":
        t = params.fixed_threshold_suv
        box, m = _grow_from(suv, seed, t, forbidden, conn, spacing_mm, params.max_growth_mm)
        return box, m, t
    if method == "suv2.5":
        t = params.low_threshold_suv
        box, m = _grow_from(suv, seed, t, forbidden, conn, spacing_mm, params.max_growth_mm)
        return box, m, t
    if method == "pct41":
        t = pct_max_threshold(seed.suv_max, params.pct_of_max)
        box, m = _grow_from(suv, seed, t, forbidden, conn, spacing_mm, params.max_growth_mm)
        return box, m, t
    if method == "percist":
        if params.percist_threshold_suv is None:
            raise SegmentationError(
                "method 'percist' needs the liver reference (1.5 x liver SUVmean + 2 SD) but none was measured; "
                "give a liver VOI or choose another method",
                code="NO_LIVER_REFERENCE",
            )
        t = params.percist_threshold_suv
        box, m = _grow_from(suv, seed, t, forbidden, conn, spacing_mm, params.max_growth_mm)
        return box, m, t
    if method == "a50p":
        peak, _ = suv_peak_in_box(
            suv, seed.box, seed.core, spacing_mm, peak_volume_ml=params.peak_volume_ml
        )
        bkg = _background_suv(
            suv, seed, occupied, forbidden, params.background_shell_mm, spacing_mm
        )
        t = a50p_threshold(peak, bkg, params.a50p_fraction)
        box, m = _grow_from(suv, seed, t, forbidden, conn, spacing_mm, params.max_growth_mm)
        return box, m, t
    if method in ("mv2", "mv3"):
        parts = [
            _candidate(suv, seed, sub, params, forbidden, occupied, spacing_mm)
            for sub in ("suv2.5", "suv4", "pct41")
        ]
        lo = [min(p[0][a].start for p in parts) for a in range(3)]
        hi = [max(p[0][a].stop for p in parts) for a in range(3)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=False))
        votes = np.zeros(tuple(b - a for a, b in zip(lo, hi, strict=False)), np.uint8)
        for pbox, pm, _ in parts:
            votes[
                tuple(slice(p.start - a, p.stop - a) for p, a in zip(pbox, lo, strict=False))
            ] += pm
        need = 2 if method == "mv2" else 3
        return box, votes >= need, float("nan")
    raise ConfigError(
        f"unknown segmentation method {method!r}; expected one of {list(SEGMENTATION_METHODS)}",
        code="UNKNOWN_METHOD",
    )


def grow_lesions(
    suv: np.ndarray,
    seeds: dict[int, Seed],
    *,
    method: str,
    params: GrowthParams,
    spacing_mm: tuple[float, float, float],
    forbidden: np.ndarray | None = None,
    occupied: np.ndarray | None = None,
    boxes_out: dict | None = None,
) -> tuple[np.ndarray, dict[int, float]]:
    """Segment every seed with ``method``; return the label map and thresholds used.

    Parameters
    ----------
    suv : ndarray (S, R, C)
        SUV, g/mL.
    seeds : dict of id -> Seed
        Lesions to grow; the label map uses these ids.
    method : str
        One of :data:`carpet.config.SEGMENTATION_METHODS`.
    params : GrowthParams
        Thresholds and fractions.
    spacing_mm : tuple of 3 float
        Voxel spacing (for distances).
    forbidden : ndarray of bool, optional
        Voxels no lesion may take (removed physiological uptake).
    occupied : ndarray of int, optional
        Existing label map; its non-zero voxels are neither taken nor changed
        (used when adding lesions); the result is written into a copy of it.
    boxes_out : dict, optional
        Filled with id -> bounding box (slices) enclosing each grown lesion.

    Returns
    -------
    (ndarray of int32, dict of id -> float)
        Label map and the SUV threshold of each lesion (NaN for vote methods).
    """
    if method not in SEGMENTATION_METHODS:
        raise ConfigError(
            f"unknown segmentation method {method!r}; expected one of {list(SEGMENTATION_METHODS)}",
            code="UNKNOWN_METHOD",
        )
    labels = (
        np.zeros(suv.shape, np.int32)
        if occupied is None
        else np.array(occupied, dtype=np.int32, copy=True)
    )
    block = forbidden
    if occupied is not None:
        block = (occupied != 0) if forbidden is None else (forbidden | (occupied != 0))
    thresholds: dict[int, float] = {}
    cands: dict[int, tuple[Box, np.ndarray]] = {}
    claims = np.zeros(suv.shape, np.uint8) if len(seeds) > 1 else None
    for lid, seed in seeds.items():
        box, m, t = _candidate(suv, seed, method, params, block, occupied, spacing_mm)
        thresholds[lid] = t
        if not m.any():
            continue
        cands[lid] = (box, m)
        if boxes_out is not None:
            boxes_out[lid] = box
        if claims is not None:
            c = claims[box]
            c[m] = np.minimum(c[m], 254) + 1
    contested = None
    if claims is not None and cands:
        contested_any = any((claims[b][m] > 1).any() for b, m in cands.values())
        if contested_any:
            contested = claims > 1
    if contested is None:
        for lid, (box, m) in cands.items():
            labels[box][m] = lid
        return labels, thresholds
    # Contested voxels go to the nearest seed core among those claiming them.
    cidx = np.flatnonzero(contested.ravel())
    best_d = np.full(cidx.size, np.inf)
    best_id = np.zeros(cidx.size, np.int32)
    for lid, (box, m) in cands.items():
        c = contested[box] & m
        if c.any():
            seed = seeds[lid]
            core = np.zeros(m.shape, bool)
            lo = [max(s.start, b.start) for s, b in zip(seed.box, box, strict=False)]
            hi = [min(s.stop, b.stop) for s, b in zip(seed.box, box, strict=False)]
            if all(h > a for a, h in zip(lo, hi, strict=False)):
                core[
                    tuple(
                        slice(a - b.start, h - b.start)
                        for a, h, b in zip(lo, hi, box, strict=False)
                    )
                ] = seed.core[
                    tuple(
                        slice(a - s.start, h - s.start)
                        for a, h, s in zip(lo, hi, seed.box, strict=False)
                    )
                ]
            if not core.any():
                mi = tuple(i - b.start for i, b in zip(seed.max_index, box, strict=False))
                core[mi] = True
            d = ndimage.distance_transform_edt(~core, sampling=spacing_mm)
            loc = np.argwhere(c) + np.array([b.start for b in box])
            flat = np.ravel_multi_index(loc.T, suv.shape)
            pos = np.searchsorted(cidx, flat)
            dd = d[c]
            better = dd < best_d[pos]
            best_d[pos[better]] = dd[better]
            best_id[pos[better]] = lid
        sub = labels[box]
        sub[m & ~contested[box]] = lid
    labels.ravel()[cidx] = best_id
    return labels, thresholds


def seed_at_point(
    suv: np.ndarray,
    index: tuple[int, int, int],
    lesion_id: int,
    *,
    spacing_mm: tuple[float, float, float],
    search_radius_mm: float = 10.0,
    core_fraction: float = 0.7,
    connectivity: int = 26,
    forbidden: np.ndarray | None = None,
) -> Seed:
    """Seed of a reader-added lesion at a clicked voxel.

    The robust local maximum is found as Burggraaff's tool does: the highest
    voxel within ``search_radius_mm`` of the click, then the region ≥ 70 % of it
    connected to it is the core (so the exact click position hardly matters).
    """
    r = tuple(int(np.ceil(search_radius_mm / s)) for s in spacing_mm)
    box = _box_around(tuple(slice(i, i + 1) for i in index), r, suv.shape)
    g = np.indices(tuple(b.stop - b.start for b in box)).astype(np.float64)
    d2 = sum(((g[a] + box[a].start - index[a]) * spacing_mm[a]) ** 2 for a in range(3))
    sub = np.where(d2 <= search_radius_mm**2, suv[box], -np.inf)
    if forbidden is not None:
        sub = np.where(forbidden[box], -np.inf, sub)
    m = np.unravel_index(int(np.argmax(sub)), sub.shape)
    peak = float(suv[box][m])
    # the core is searched inside the click neighbourhood only (never hill-climbs to a far organ)
    lab, _ = label_components(sub >= core_fraction * peak, connectivity=connectivity)
    core_local = lab == lab[m]
    sl = ndimage.find_objects(core_local.astype(np.uint8))[0]
    core = core_local[sl]
    cbox = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, sl, strict=False))
    mi2 = tuple(int(a + b.start) for a, b in zip(m, box, strict=False))
    return Seed(lesion_id, cbox, core, mi2, float(suv[mi2]), "added")
