"""Reference regions: the liver sphere and the mediastinal blood-pool (MBP) cylinder.

Deauville scoring, qPET, PERCIST thresholds and the EANM SUV quality check all
compare lesion uptake with two reference regions:

* **liver**: a sphere 3 cm in diameter in the right liver lobe, midway between the
  dome and the inferior margin (PERCIST; EANM QC);
* **MBP**: a cylinder 1 cm in diameter and 2 cm long, its axis along the patient's
  cranio-caudal (S-I) axis, in the descending thoracic aorta (PERCIST).

They are placed, in this order of preference:

``"override"``
    at a centre given by the reader (LPS mm);
``"organs"``
    inside organ labels (TotalSegmentator numbering by default: liver 5, aorta 52);
``"ct"``
    from the CT anatomy (body, lungs, soft tissue, bone) and PET homogeneity;
``"pet"``
    from the PET alone (the largest homogeneous region in the right upper body for
    the liver; a homogeneous cranio-caudal tube left-posterior of the midline above
    the liver for the MBP).

Automatic placement never lets the VOI touch a lesion and keeps it wholly inside
the body and the field of view; an override that does not is an error
(:class:`~carpet.errors.InputError`, codes ``VOI_OUTSIDE_FOV``,
``VOI_OUTSIDE_BODY``, ``VOI_IN_LESION``). Quality warnings (liver SUVmean outside
the EANM range 1.3–3.0, coefficient of variation over 20 %) are returned in
:attr:`ReferenceRegion.warnings` and emitted as :class:`~carpet.errors.QualityWarning`.

A voxel belongs to a VOI when its centre lies inside the sphere or cylinder.

References
----------
Wahl RL, Jacene H, Kasamon Y, Lodge MA. From RECIST to PERCIST. J Nucl Med
2009;50 Suppl 1:122S-150S.
Boellaard R et al. FDG PET/CT: EANM procedure guidelines for tumour imaging:
version 2.0. Eur J Nucl Med Mol Imaging 2015;42:328-354.
Wasserthal J et al. TotalSegmentator. Radiol Artif Intell 2023;5:e230024 (label ids).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from carpet.config import ReferenceConfig
from carpet.core.volume import Volume
from carpet.errors import ConfigError, InputError, QualityWarning
from carpet.units import Unit

__all__ = [
    "ReferenceRegion",
    "measure_voi",
    "parse_point_mm",
    "place_liver_voi",
    "place_mbp_voi",
    "reference_label_map",
]

_DEFAULTS = ReferenceConfig()

#: Label values of :func:`reference_label_map`.
LIVER_LABEL = 1
MBP_LABEL = 2


@dataclass(frozen=True, eq=False)
class ReferenceRegion:
    """A measured reference VOI (liver sphere or MBP cylinder).

    Attributes
    ----------
    name : {"liver", "mbp"}
    shape : {"sphere", "cylinder"}
    center_mm : tuple of 3 float
        Centre of the VOI, LPS mm.
    method : {"override", "organs", "ct", "pet"}
        How the centre was chosen.
    suv_mean, suv_sd, suv_max : float
        Uptake in the VOI (unit of the PET volume, normally SUVbw g/mL); ``suv_sd`` is
        the sample standard deviation (ddof=1; 0 for a single voxel).
    cv : float
        Coefficient of variation ``suv_sd / suv_mean`` (fraction, not %).
    n_voxels : int
        Number of voxels whose centre lies inside the VOI.
    diameter_mm, length_mm : float
        Size of the VOI (``length_mm`` is None for a sphere).
    voxel_indices : ndarray of shape (n_voxels, 3)
        (k, j, i) indices of the VOI voxels on the PET grid they were measured on.
    warnings : tuple of str
        Quality warnings (EANM liver range, CV).
    """

    name: str
    shape: str
    center_mm: tuple[float, float, float]
    method: str
    suv_mean: float
    suv_sd: float
    cv: float
    suv_max: float
    n_voxels: int
    diameter_mm: float
    length_mm: float | None
    voxel_indices: np.ndarray = field(repr=False)
    warnings: tuple[str, ...] = ()

    def mask(self, like: Volume) -> np.ndarray:
        """Boolean mask of the VOI on the grid of ``like`` (the grid it was measured on)."""
        out = np.zeros(like.shape, dtype=bool)
        idx = self.voxel_indices
        out[idx[:, 0], idx[:, 1], idx[:, 2]] = True
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no voxel list)."""
        return {
            "name": self.name,
            "shape": self.shape,
            "center_mm": [round(float(c), 3) for c in self.center_mm],
            "method": self.method,
            "suv_mean": float(self.suv_mean),
            "suv_sd": float(self.suv_sd),
            "cv": float(self.cv),
            "suv_max": float(self.suv_max),
            "n_voxels": int(self.n_voxels),
            "diameter_mm": float(self.diameter_mm),
            "length_mm": None if self.length_mm is None else float(self.length_mm),
            "warnings": list(self.warnings),
        }


# ----------------------------------------------------------------------------- parsing

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POINT_RE = re.compile(rf"^\s*\(?\s*({_NUM})\s*[,;]\s*({_NUM})\s*[,;]\s*({_NUM})\s*\)?\s*$")


def parse_point_mm(text: str, *, option: str = "--liver-voi") -> tuple[float, float, float]:
    """Parse ``"X,Y,Z"`` (LPS mm; negative numbers allowed) into a tuple.

    Parameters
    ----------
    text : str
        Three comma-separated numbers, e.g. ``"-85.5,20,-310"``.
    option : str
        Name of the option, for the error message.

    Raises
    ------
    ConfigError
        ``BAD_POINT`` when the text is not three finite numbers.

    Examples
    --------
    >>> parse_point_mm("-85.5,20,-310")
    (-85.5, 20.0, -310.0)
    >>> parse_point_mm("1,2")
    Traceback (most recent call last):
    ...
    carpet.errors.ConfigError: --liver-voi: expected three numbers X,Y,Z in LPS mm (e.g. -85.5,20,-310); got '1,2'
    """
    m = _POINT_RE.match(str(text))
    vals = tuple(float(g) for g in m.groups()) if m else ()
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise ConfigError(
            f"{option}: expected three numbers X,Y,Z in LPS mm (e.g. -85.5,20,-310); got {text!r}",
            code="BAD_POINT",
        )
    return vals  # type: ignore[return-value]


# ----------------------------------------------------------------------------- VOI geometry


def _voi_offsets_mm(
    spacing: Sequence[float], shape: str, diameter_mm: float, length_mm: float | None
) -> np.ndarray:
    """Sample points (mm, LPS-axis aligned) covering the VOI solid, for FOV checks."""
    r = diameter_mm / 2.0
    half = r if shape == "sphere" else (length_mm or 0.0) / 2.0
    step = max(0.5, min(min(spacing) / 2.0, r / 3.0))
    ax = np.arange(-r, r + 1e-9, step)
    az = np.arange(-half, half + 1e-9, step)
    X, Y, Z = np.meshgrid(ax, ax, az, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)
    if shape == "sphere":
        keep = np.linalg.norm(pts, axis=1) <= r + 1e-9
    else:
        keep = np.hypot(pts[:, 0], pts[:, 1]) <= r + 1e-9
    return pts[keep]


def _voi_voxels(
    grid: Volume,
    center_mm: Sequence[float],
    shape: str,
    diameter_mm: float,
    length_mm: float | None,
) -> np.ndarray:
    """(k, j, i) of the voxels of ``grid`` whose centre is inside the VOI (clipped to the grid)."""
    c = np.asarray(center_mm, dtype=float)
    r = diameter_mm / 2.0
    half_z = r if shape == "sphere" else (length_mm or 0.0) / 2.0
    ext = np.array([r, r, half_z])
    corners = (
        np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * ext + c
    )
    idx = grid.world_to_index(corners)
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(grid.shape) - 1)
    if np.any(hi < lo):
        return np.zeros((0, 3), dtype=np.int64)
    kk, jj, ii = np.meshgrid(*(np.arange(a, b + 1) for a, b in zip(lo, hi, strict=False)), indexing="ij")
    ijk = np.stack([kk.ravel(), jj.ravel(), ii.ravel()], axis=1)
    d = grid.index_to_world(ijk) - c
    if shape == "sphere":
        inside = np.einsum("ij,ij->i", d, d) <= r * r + 1e-6
    else:
        inside = (np.hypot(d[:, 0], d[:, 1]) <= r + 1e-6) & (np.abs(d[:, 2]) <= half_z + 1e-6)
    return ijk[inside].astype(np.int64)


def _sample(vol: Volume, points_mm: np.ndarray, *, order: int, cval: float) -> np.ndarray:
    """Values of ``vol`` at LPS points (nearest or linear), ``cval`` outside its grid."""
    idx = vol.world_to_index(points_mm).T
    return ndimage.map_coordinates(
        np.asarray(vol.array, dtype=np.float32), idx, order=order, mode="constant", cval=cval
    )


def _body_mask_pet(suv: np.ndarray, threshold: float) -> np.ndarray:
    """Body = PET above ``threshold`` after light smoothing, holes filled per axial plane."""
    sm = ndimage.uniform_filter(np.asarray(suv, dtype=np.float32), size=3)
    body = sm > threshold
    lab, n = ndimage.label(body)
    if n > 1:
        sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        body = lab == (int(np.argmax(sizes)) + 1)
    for k in range(body.shape[0]):
        body[k] = ndimage.binary_fill_holes(body[k])
    return body


def measure_voi(
    suv: Volume,
    *,
    name: str,
    center_mm: Sequence[float],
    diameter_mm: float,
    length_mm: float | None = None,
    method: str = "override",
    lesions: Volume | None = None,
    ct: Volume | None = None,
    body_suv_threshold: float = _DEFAULTS.body_suv_threshold,
    body_hu_threshold: float = _DEFAULTS.body_hu_threshold,
    liver_range_suv: tuple[float, float] = _DEFAULTS.liver_range_suv,
    cv_max: float = _DEFAULTS.cv_max,
) -> ReferenceRegion:
    """Measure uptake in a sphere (``length_mm=None``) or S-I cylinder at ``center_mm``.

    Parameters
    ----------
    suv : Volume
        PET in SUV (g/mL).
    name : str
        ``"liver"`` or ``"mbp"`` (``"liver"`` enables the EANM range check).
    center_mm : sequence of 3 float
        VOI centre, LPS mm.
    diameter_mm : float
        Sphere or cylinder diameter, mm.
    length_mm : float or None
        Cylinder length along S-I, mm; None for a sphere.
    method : str
        Recorded in the result.
    lesions : Volume or None
        Lesion label map on the PET grid (> 0 = lesion); overlap is refused.
    ct : Volume or None
        CT in HU (any grid); when given the body is ``HU > body_hu_threshold``,
        otherwise ``SUV > body_suv_threshold`` (smoothed, holes filled).
    body_suv_threshold, body_hu_threshold : float
        Body outline thresholds (SUV; HU).
    liver_range_suv : (float, float)
        EANM plausible liver SUVmean range.
    cv_max : float
        Coefficient of variation above which a warning is given (fraction).

    Returns
    -------
    ReferenceRegion

    Raises
    ------
    InputError
        ``VOI_OUTSIDE_FOV`` when part of the VOI lies outside the PET field of view,
        ``VOI_OUTSIDE_BODY`` when part of it lies outside the body, ``VOI_IN_LESION``
        when it overlaps a lesion.

    Notes
    -----
    ``suv_mean = mean(SUV(x))``, ``suv_sd`` with ddof = 1 and ``cv = suv_sd / suv_mean``
    over the voxels ``x`` whose centre lies inside the VOI.

    References
    ----------
    Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S-150S (PERCIST reference regions).
    """
    shape = "sphere" if length_mm is None else "cylinder"
    c = np.asarray(center_mm, dtype=float)
    label = (
        f"{name} VOI ({shape} {diameter_mm:g} mm"
        + (f" x {length_mm:g} mm)" if length_mm is not None else ")")
        + f" at LPS ({c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}) mm"
    )
    pts = _voi_offsets_mm(suv.spacing_mm, shape, diameter_mm, length_mm) + c
    fidx = suv.world_to_index(pts)
    outside = np.any((fidx < -0.5) | (fidx > np.array(suv.shape) - 0.5), axis=1)
    if outside.any():
        raise InputError(
            f"{label} is partly outside the PET field of view ({outside.mean():.0%} of it; grid "
            f"shape {suv.shape}). Give a centre at least {diameter_mm / 2:g} mm inside the scanned "
            "region.",
            code="VOI_OUTSIDE_FOV",
        )
    idx = _voi_voxels(suv, c, shape, diameter_mm, length_mm)
    if len(idx) == 0:
        raise InputError(f"{label} contains no voxel centre; enlarge it.", code="VOI_EMPTY")
    if ct is not None:
        hu = _sample(ct, suv.index_to_world(idx), order=1, cval=-1000.0)
        out_body = float(np.mean(hu <= body_hu_threshold))
    else:
        # body outline on the VOI's slab of axial slices only (holes filled per plane)
        lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
        slab = np.asarray(suv.array)[lo[0] : hi[0]]
        sm = ndimage.uniform_filter(np.asarray(slab, dtype=np.float32), size=(1, 3, 3))
        body = np.stack([ndimage.binary_fill_holes(p) for p in sm > body_suv_threshold])
        out_body = float(np.mean(~body[idx[:, 0] - lo[0], idx[:, 1], idx[:, 2]]))
    if out_body > 0:
        src = (
            f"CT HU <= {body_hu_threshold:g}"
            if ct is not None
            else f"PET SUV <= {body_suv_threshold:g}"
        )
        raise InputError(
            f"{label} is partly outside the body ({out_body:.0%} of its voxels, {src}). Move it inside "
            "the patient.",
            code="VOI_OUTSIDE_BODY",
        )
    if lesions is not None:
        suv.check_same_grid(lesions, what="lesion label map")
        hit = np.asarray(lesions.array)[idx[:, 0], idx[:, 1], idx[:, 2]] > 0
        if hit.any():
            ids = sorted({int(v) for v in np.asarray(lesions.array)[tuple(idx[hit].T)]})
            raise InputError(
                f"{label} overlaps lesion(s) {ids} ({int(hit.sum())} voxels); reference regions "
                "must not include tumour. Choose another centre.",
                code="VOI_IN_LESION",
            )
    vals = np.asarray(suv.array)[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float64)
    mean = float(vals.mean())
    sd = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    cv = sd / mean if mean > 0 else float("inf")
    warn: list[str] = []
    lo, hi = liver_range_suv
    if name == "liver" and not (lo <= mean <= hi):
        warn.append(
            f"liver SUVmean {mean:.2f} outside the EANM range {lo:g}-{hi:g}: check weight, dose "
            "and times"
        )
    if not cv <= cv_max:
        warn.append(
            f"{name} VOI coefficient of variation {cv:.0%} > {cv_max:.0%}: VOI not homogeneous "
            "(check its position)"
        )
    for w in warn:
        warnings.warn(w, QualityWarning, stacklevel=2)
    return ReferenceRegion(
        name=name,
        shape=shape,
        center_mm=tuple(float(v) for v in c),  # type: ignore[arg-type]
        method=method,
        suv_mean=mean,
        suv_sd=sd,
        cv=float(cv),
        suv_max=float(vals.max()),
        n_voxels=int(len(vals)),
        diameter_mm=float(diameter_mm),
        length_mm=None if length_mm is None else float(length_mm),
        voxel_indices=idx,
        warnings=tuple(warn),
    )


# ----------------------------------------------------------------------------- search helpers


@dataclass
class _Search:
    """PET (and optional CT/organs/lesions) on a coarse search grid of ~``search_voxel_mm``."""

    grid: Volume  # coarse SUV
    body: np.ndarray
    lesion: np.ndarray
    x: np.ndarray  # LPS mm of coarse voxel centres (float32), same shape as grid
    y: np.ndarray
    z: np.ndarray
    hu: np.ndarray | None  # CT HU on the coarse grid
    organs: np.ndarray | None  # organ labels on the coarse grid (nearest)

    def fits(self, extent_mm: Sequence[float], margin_mm: float) -> np.ndarray:
        """Centres whose box of ``extent_mm`` (x, y, z) + margin lies in the body, off lesions."""
        ext = [e + 2 * margin_mm for e in extent_mm]
        size = _box_sizes(self.grid, ext)
        inside = ndimage.minimum_filter(self.body, size=size, mode="constant", cval=False)
        if self.lesion.any():
            inside &= ~ndimage.maximum_filter(self.lesion, size=size, mode="constant", cval=False)
        return inside

    def xyz_at(self, flat: np.ndarray) -> np.ndarray:
        return np.stack([self.x.ravel()[flat], self.y.ravel()[flat], self.z.ravel()[flat]], axis=-1)


def _block_mean(arr: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    """Mean over non-overlapping f0×f1×f2 blocks (trailing partial blocks dropped), float32.

    Reduces one axis at a time over contiguous memory (several times faster than one
    reduction over a 6-D view); bool and integer inputs are summed as float32 directly.
    """
    s = [n // k * k for n, k in zip(arr.shape, f, strict=True)]
    x = np.asarray(arr)[: s[0], : s[1], : s[2]]
    if f == (1, 1, 1):
        return np.array(x, dtype=np.float32)
    x = x.reshape(s[0] // f[0], f[0], s[1], s[2]).sum(axis=1, dtype=np.float32)
    x = x.reshape(s[0] // f[0], s[1] // f[1], f[1], s[2]).sum(axis=2, dtype=np.float32)
    x = x.reshape(s[0] // f[0], s[1] // f[1], s[2] // f[2], f[2]).sum(axis=3, dtype=np.float32)
    x /= np.float32(f[0] * f[1] * f[2])
    return x


def _block_any(arr: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    """True where any voxel of the block is non-zero."""
    s = [n // k * k for n, k in zip(arr.shape, f, strict=False)]
    a = np.asarray(arr)[: s[0], : s[1], : s[2]] != 0
    out = np.zeros((s[0] // f[0], s[1] // f[1], s[2] // f[2]), dtype=bool)
    for i in range(f[0]):
        for j in range(f[1]):
            for k in range(f[2]):
                out |= a[i :: f[0], j :: f[1], k :: f[2]]
    return out


def _block_pick(arr: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    s = [n // k * k for n, k in zip(arr.shape, f, strict=False)]
    return np.asarray(arr)[
        f[0] // 2 : s[0] : f[0], f[1] // 2 : s[1] : f[1], f[2] // 2 : s[2] : f[2]
    ]


_CACHE: dict[str, Any] = {}


def _crop_slices(vol: Volume, k0: int, k1: int) -> Volume:
    aff = np.array(vol.affine, dtype=float)
    aff[:3, 3] = aff[:3, 3] + aff[:3, 0] * k0
    return Volume(np.asarray(vol.array)[k0:k1], aff, unit=vol.unit, meta=vol.meta)


def _z_slab(
    suv: Volume, zlo: float, zhi: float, *others: Volume | None
) -> tuple[Volume, list[Volume | None]] | None:
    """Crop ``suv`` (and same-grid ``others``) to the axial slices with LPS z in [zlo, zhi]."""
    d = suv.direction
    if abs(d[2, 0]) < 0.9:  # slices not axial: no cropping
        return None
    ks = np.arange(suv.shape[0])
    zs = suv.index_to_world(np.stack([ks, np.zeros_like(ks), np.zeros_like(ks)], axis=1))[:, 2]
    sel = np.flatnonzero((zs >= zlo) & (zs <= zhi))
    if len(sel) < 3 or len(sel) == suv.shape[0]:
        return None
    k0, k1 = int(sel.min()), int(sel.max()) + 1
    out = []
    for o in others:
        out.append(_crop_slices(o, k0, k1) if (o is not None and suv.same_grid_as(o)) else o)
    return _crop_slices(suv, k0, k1), out


def _prepare(
    suv: Volume,
    lesions: Volume | None,
    ct: Volume | None,
    organs: Volume | None,
    cfg: ReferenceConfig,
    voxel_mm: float | None = None,
) -> _Search:
    voxel_mm = cfg.search_voxel_mm if voxel_mm is None else voxel_mm
    key = (id(suv), id(lesions), id(ct), id(organs), cfg, voxel_mm)
    if _CACHE.get("key") == key and _CACHE.get("refs") == (suv, lesions, ct, organs):
        return _CACHE["value"]
    f = tuple(max(1, int(round(voxel_mm / s))) for s in suv.spacing_mm)
    coarse = _block_mean(suv.array, f)
    aff = np.array(suv.affine, dtype=float)
    aff[:3, 3] = aff[:3, 3] + aff[:3, :3] @ ((np.array(f) - 1) / 2.0)
    aff[:3, :3] = aff[:3, :3] * np.array(f)
    grid = Volume(coarse, aff, unit=suv.unit)
    kk, jj, ii = (np.arange(n, dtype=np.float32) for n in grid.shape)
    kk, jj, ii = kk[:, None, None], jj[None, :, None], ii[None, None, :]
    x, y, z = (
        (aff[d, 0] * kk + aff[d, 1] * jj + aff[d, 2] * ii + aff[d, 3]).astype(np.float32)
        for d in range(3)
    )

    def on_grid(vol: Volume, order: int, cval: float) -> np.ndarray:
        if suv.same_grid_as(vol):
            return _block_mean(vol.array, f) if order else _block_pick(vol.array, f)
        pts = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
        return _sample(vol, pts, order=order, cval=cval).reshape(grid.shape)

    hu = None
    if ct is not None:
        hu = on_grid(ct, 1, -1000.0)
        body = hu > cfg.body_hu_threshold
        lab, n = ndimage.label(body)
        if n > 1:
            sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
            body = lab == (int(np.argmax(sizes)) + 1)
        for k in range(body.shape[0]):
            body[k] = ndimage.binary_fill_holes(body[k])
    else:
        body = _body_mask_pet(coarse, cfg.body_suv_threshold)
    if lesions is not None:
        suv.check_same_grid(lesions, what="lesion label map")
        les_c = _block_any(np.asarray(lesions.array) > 0, f)
    else:
        les_c = np.zeros(grid.shape, dtype=bool)
    org = None
    if organs is not None:
        org = np.rint(on_grid(organs, 0, 0.0)).astype(np.int32)
    out = _Search(grid, body, les_c, x, y, z, hu, org)
    _CACHE.update(key=key, refs=(suv, lesions, ct, organs), value=out)
    return out


def _depth_mm(region: np.ndarray, spacing: Sequence[float], *, planar: bool = False) -> np.ndarray:
    """Distance (mm) from each voxel of ``region`` to its outside (3-D, or per axial plane)."""
    out = np.zeros(region.shape, dtype=np.float32)
    objs = ndimage.find_objects(region.astype(np.int8))
    if not objs or objs[0] is None:
        return out
    sl = objs[0]
    sub = np.pad(region[sl], 1)
    if planar:
        d = np.zeros(sub.shape, dtype=np.float32)
        for k in range(sub.shape[0]):
            if sub[k].any():
                d[k] = ndimage.distance_transform_edt(sub[k], sampling=spacing[1:])
    else:
        d = ndimage.distance_transform_edt(sub, sampling=spacing)
    out[sl] = d[1:-1, 1:-1, 1:-1]
    return out


def _local_stats(arr: np.ndarray, sizes: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(arr, dtype=np.float32)
    m = ndimage.uniform_filter(a, size=sizes, mode="nearest")
    m2 = ndimage.uniform_filter(a * a, size=sizes, mode="nearest")
    sd = np.sqrt(np.maximum(m2 - m * m, 0.0))
    return m, sd


def _box_sizes(grid: Volume, extent_mm: Sequence[float]) -> tuple[int, int, int]:
    """Box filter size (voxels, odd) per (k, j, i) axis for an LPS extent (x, y, z) in mm."""
    d = np.abs(grid.direction)  # columns: axes; rows: x, y, z
    out = []
    for a in range(3):
        ext = float(np.dot(d[:, a], extent_mm))
        n = max(1, int(round(ext / grid.spacing_mm[a])))
        out.append(n if n % 2 == 1 else n + 1)
    return tuple(out)  # type: ignore[return-value]


def _cv_threshold(cv: np.ndarray, candidates: np.ndarray, cfg: ReferenceConfig) -> float:
    """Local-CV limit of "homogeneous": ``search_cv_max``, relaxed for noisy images.

    Noisy images never reach a fixed CV limit; the limit is then ``search_cv_relax`` times
    the 5th percentile of the local CV among the candidates (the most homogeneous of them).
    """
    if not candidates.any():
        return cfg.search_cv_max
    return float(max(cfg.search_cv_max, cfg.search_cv_relax * np.percentile(cv[candidates], 5)))


def _lungs(s: _Search, cfg: ReferenceConfig) -> np.ndarray:
    """Air inside the body in large components (lungs, not bowel gas)."""
    air = s.body & (s.hu < cfg.lung_hu_threshold)
    lab, n = ndimage.label(air)
    if n == 0:
        return air
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    keep = np.flatnonzero(sizes >= 0.3 * sizes.max()) + 1
    return np.isin(lab, keep)


def _pick(score: np.ndarray, cand: np.ndarray, s: _Search, n: int) -> list[np.ndarray]:
    """Centres (LPS) of the ``n`` best-scoring candidate voxels."""
    flat = np.flatnonzero(cand)
    if flat.size == 0:
        return []
    order = flat[np.argsort(-score.ravel()[flat], kind="stable")][:n]
    return list(s.xyz_at(order))


def _largest_component(mask: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if n == 0:
        return mask
    w = None if weight is None else np.asarray(weight, dtype=np.float64).ravel()
    sizes = np.bincount(lab.ravel(), weights=w, minlength=n + 1)[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def _measure_voi_with(suv: Volume, cfg: ReferenceConfig, **kw: Any) -> ReferenceRegion:
    """:func:`measure_voi` with the body/QC thresholds taken from ``cfg``."""
    return measure_voi(
        suv,
        body_suv_threshold=cfg.body_suv_threshold,
        body_hu_threshold=cfg.body_hu_threshold,
        liver_range_suv=cfg.liver_range_suv,
        cv_max=cfg.cv_max,
        **kw,
    )


def _finish(
    suv: Volume,
    centres: list[np.ndarray],
    *,
    name: str,
    method: str,
    diameter_mm: float,
    length_mm: float | None,
    lesions: Volume | None,
    ct: Volume | None,
    cfg: ReferenceConfig,
) -> ReferenceRegion | None:
    """Measure the first candidate centre that passes the exact checks."""
    for c in centres:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", QualityWarning)
                region = _measure_voi_with(
                    suv, cfg, name=name, center_mm=c, diameter_mm=diameter_mm,
                    length_mm=length_mm, method=method, lesions=lesions, ct=ct,
                )
        except InputError:
            continue
        for w in region.warnings:
            warnings.warn(w, QualityWarning, stacklevel=3)
        return region
    return None


def _resolve_labels(
    organs: Volume | None, organ_labels: Mapping[str, int] | None
) -> dict[str, int]:
    labels = dict(_DEFAULTS.organ_labels)
    if organs is not None and isinstance(organs.meta.get("label_names"), Mapping):
        labels.update({str(k): int(v) for k, v in organs.meta["label_names"].items()})
    if organ_labels:
        labels.update({str(k): int(v) for k, v in organ_labels.items()})
    return labels


# ----------------------------------------------------------------------------- liver


def place_liver_voi(
    suv: Volume,
    *,
    organs: Volume | None = None,
    ct: Volume | None = None,
    lesions: Volume | None = None,
    center_mm: Sequence[float] | None = None,
    diameter_mm: float = _DEFAULTS.liver_diameter_mm,
    organ_labels: Mapping[str, int] | None = None,
    config: ReferenceConfig = _DEFAULTS,
) -> ReferenceRegion:
    """Place and measure the liver reference sphere (3 cm, right lobe).

    Parameters
    ----------
    suv : Volume
        PET in SUV (g/mL).
    organs : Volume or None
        Organ label map (any grid, nearest-neighbour sampled); the liver label is
        ``organ_labels["liver"]``, else ``organs.meta["label_names"]["liver"]``, else 5
        (TotalSegmentator).
    ct : Volume or None
        CT in HU (any grid in the same frame of reference).
    lesions : Volume or None
        Lesion label map on the PET grid; the sphere never touches a lesion.
    center_mm : sequence of 3 float or None
        Reader override of the centre, LPS mm.
    diameter_mm : float
        Sphere diameter, mm (default 30).
    organ_labels : mapping or None
        Organ name → label value overrides.
    config : ReferenceConfig
        Search and QC parameters.

    Returns
    -------
    ReferenceRegion
        ``method`` is ``"override"``, ``"organs"``, ``"ct"`` or ``"pet"``.

    Raises
    ------
    InputError
        For an override outside the FOV/body or in a lesion (see :func:`measure_voi`);
        ``NO_LIVER_VOI`` when no automatic position fits.

    Notes
    -----
    Automatic placement: candidate centres on a ~4 mm search grid whose sphere (plus
    one search voxel) lies inside the body, away from lesions, and (``organs``) inside
    the liver label, or (``ct``/``pet``) in the largest connected region of homogeneous
    PET uptake (local CV ≤ ``search_cv_max``, mean ≥ ``liver_min_ratio_to_body`` × the
    body median) on the patient's right, below the lungs when a CT shows them. Among
    those, the centre midway between the region's dome and inferior margin, deepest in
    the region, is chosen. ``suv_mean`` etc. as in :func:`measure_voi`.

    References
    ----------
    Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S-150S. Boellaard R et al. Eur J Nucl
    Med Mol Imaging 2015;42:328-354 (EANM liver SUVmean 1.3-3.0).
    """
    common = dict(lesions=lesions, ct=ct, cfg=config, diameter_mm=diameter_mm, length_mm=None)
    if center_mm is not None:
        return _measure_voi_with(
            suv, config, name="liver", center_mm=center_mm, diameter_mm=diameter_mm,
            method="override", lesions=lesions, ct=ct,
        )
    s = _prepare(suv, lesions, ct, organs, config)
    r = diameter_mm / 2.0
    margin = max(s.grid.spacing_mm)
    fits = s.fits((diameter_mm,) * 3, margin)
    x, z = s.x, s.z
    tried: list[str] = []
    if s.organs is not None:
        labels = _resolve_labels(organs, organ_labels)
        liver = s.organs == labels["liver"]
        if liver.any():
            depth = _depth_mm(liver, s.grid.spacing_mm)
            region = liver & (x <= np.median(x[liver]))  # right lobe (LPS: +x = patient left)
            cand = region & fits & (depth >= r + margin)
            res = _choose_mid(suv, s, cand, depth, region, "liver", "organs", common)
            if res is not None:
                return res
        tried.append(f"organ labels (liver label {labels['liver']})")
    m, sd = _local_stats(s.grid.array, _box_sizes(s.grid, (diameter_mm * 0.8,) * 3))
    cv = np.where(m > 0, sd / np.maximum(m, 1e-9), np.inf)
    body_median = float(np.median(s.grid.array[s.body])) if s.body.any() else 0.0
    bright = (m >= config.liver_min_ratio_to_body * body_median) & s.body
    homog = bright & (cv <= _cv_threshold(cv, bright, config))
    if s.body.any():
        cx = float(np.median(x[s.body]))
    else:
        cx = 0.0
    base = homog & (x <= cx)
    if s.hu is not None:
        # below the lungs' base on the right, soft tissue throughout
        lungs = _lungs(s, config)
        right_lung = lungs & (x <= cx)
        hu_m, hu_sd = _local_stats(s.hu, _box_sizes(s.grid, (diameter_mm * 0.8,) * 3))
        soft = (hu_m >= config.liver_hu_range[0]) & (hu_m <= config.liver_hu_range[1])
        soft &= hu_sd <= config.soft_tissue_hu_sd_max
        ct_base = base & soft
        if right_lung.sum() > 10:
            lung_bottom = float(np.percentile(z[right_lung], 2))
            ct_base &= z <= lung_bottom + r
        region = _largest_component(ct_base)
        if region.any():
            depth = _depth_mm(region, s.grid.spacing_mm)
            cand = region & fits & (x <= np.median(x[region]))  # right lobe
            res = _choose_mid(suv, s, cand, depth, region, "liver", "ct", common)
            if res is not None:
                return res
        tried.append("CT anatomy")
    region = _largest_component(base)
    if region.any():
        depth = _depth_mm(region, s.grid.spacing_mm)
        cand = region & fits & (x <= np.median(x[region]))  # right lobe
        res = _choose_mid(suv, s, cand, depth, region, "liver", "pet", common)
        if res is not None:
            if tried:
                res = _with_warning(
                    res, f"liver VOI placed from PET alone ({', '.join(tried)} failed)"
                )
            return res
    tried.append("PET homogeneity")
    raise InputError(
        f"could not place the liver VOI automatically (tried {', '.join(tried)}; grid {suv.shape}, "
        f"lesions {'given' if lesions is not None else 'none'}). Give its centre with --liver-voi X,Y,Z "
        "(LPS mm).",
        code="NO_LIVER_VOI",
    )


def _with_warning(region: ReferenceRegion, text: str) -> ReferenceRegion:
    warnings.warn(text, QualityWarning, stacklevel=3)
    return ReferenceRegion(**{**region.__dict__, "warnings": (*region.warnings, text)})


def _choose_mid(
    suv: Volume,
    s: _Search,
    cand: np.ndarray,
    depth: np.ndarray,
    region: np.ndarray,
    name: str,
    method: str,
    common: dict,
) -> ReferenceRegion | None:
    """Best centre: midway between top and bottom of ``region``, deepest inside it."""
    if not cand.any():
        return None
    z = s.z
    ztop, zbot = float(z[region].max()), float(z[region].min())
    zmid = 0.5 * (ztop + zbot)
    score = depth - 0.5 * np.abs(z - zmid)
    return _finish(suv, _pick(score, cand, s, 25), name=name, method=method, **common)


# ----------------------------------------------------------------------------- MBP


def place_mbp_voi(
    suv: Volume,
    *,
    organs: Volume | None = None,
    ct: Volume | None = None,
    lesions: Volume | None = None,
    center_mm: Sequence[float] | None = None,
    diameter_mm: float = _DEFAULTS.mbp_diameter_mm,
    length_mm: float = _DEFAULTS.mbp_length_mm,
    liver: ReferenceRegion | None = None,
    organ_labels: Mapping[str, int] | None = None,
    config: ReferenceConfig = _DEFAULTS,
) -> ReferenceRegion:
    """Place and measure the mediastinal blood-pool cylinder (descending thoracic aorta).

    Parameters
    ----------
    suv : Volume
        PET in SUV (g/mL).
    organs : Volume or None
        Organ labels; the aorta label is ``organ_labels["aorta"]`` (default 52,
        TotalSegmentator).
    ct : Volume or None
        CT in HU (any grid in the same frame of reference).
    lesions : Volume or None
        Lesion label map on the PET grid; the cylinder never touches a lesion.
    center_mm : sequence of 3 float or None
        Reader override of the centre, LPS mm.
    diameter_mm, length_mm : float
        Cylinder size, mm (PERCIST: 10 × 20); the axis is the patient S-I axis.
    liver : ReferenceRegion or None
        The liver VOI, when already placed: the search is then limited to the thorax
        above it, and blood pool must be below the liver uptake.
    organ_labels : mapping or None
        Organ name → label value overrides.
    config : ReferenceConfig
        Search and QC parameters.

    Returns
    -------
    ReferenceRegion

    Raises
    ------
    InputError
        For an override outside the FOV/body or in a lesion; ``NO_MBP_VOI`` when no
        automatic position fits.

    Notes
    -----
    Automatic placement looks for a homogeneous vertical tube (local CV ≤
    ``search_cv_max`` over a box of the cylinder's size) left of the midline
    (LPS ``x`` > body centre) in the posterior half, with uptake between
    ``mbp_min_ratio_to_body`` × body median and the liver mean; with a CT, the
    cylinder must be soft tissue (not bone) with lung within ``mbp_lung_distance_mm``
    and lie in the lungs' cranio-caudal range. The longest such tube (by S-I extent)
    is taken and the cylinder centred at its mid-height.

    References
    ----------
    Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S-150S (1 cm × 2 cm descending-aorta
    cylinder).
    """
    common = dict(lesions=lesions, ct=ct, cfg=config, diameter_mm=diameter_mm, length_mm=length_mm)
    if center_mm is not None:
        return _measure_voi_with(
            suv, config, name="mbp", center_mm=center_mm, diameter_mm=diameter_mm,
            length_mm=length_mm, method="override", lesions=lesions, ct=ct,
        )
    suv_s, lesions_s, ct_s, organs_s = suv, lesions, ct, organs
    if liver is not None:
        # the descending thoracic aorta lies above the liver: search that slab only
        zlo = liver.center_mm[2] + liver.diameter_mm / 2.0
        cropped = _z_slab(suv, zlo, zlo + config.mbp_search_height_mm, lesions, ct, organs)
        if cropped is not None:
            suv_s, (lesions_s, ct_s, organs_s) = cropped
    s = _prepare(suv_s, lesions_s, ct_s, organs_s, config, config.mbp_search_voxel_mm)
    r = diameter_mm / 2.0
    margin = max(s.grid.spacing_mm)
    fits = s.fits((diameter_mm, diameter_mm, length_mm), margin)
    x, y, z = s.x, s.y, s.z
    tried: list[str] = []
    if s.organs is not None:
        labels = _resolve_labels(organs, organ_labels)
        aorta = s.organs == labels["aorta"]
        if aorta.any():
            # the descending part: in each axial plane the most posterior aorta component,
            # below the arch
            post = np.zeros_like(aorta)
            for k in range(aorta.shape[0]):
                if aorta[k].any():
                    lab2, n2 = ndimage.label(aorta[k])
                    ys = ndimage.mean(y[k], lab2, index=np.arange(1, n2 + 1))
                    post[k] = lab2 == (int(np.argmax(ys)) + 1)
            ztop = float(z[aorta].max())
            region = post & (z <= ztop - 30.0)
            if liver is not None:
                region &= z >= liver.center_mm[2]
            depth2d = _depth_mm(region, s.grid.spacing_mm, planar=True)
            cand = region & fits & (depth2d >= r)
            res = _choose_tube(suv, s, cand, depth2d, region, common)
            if res is not None:
                return res
        tried.append(f"organ labels (aorta label {labels['aorta']})")
    box = _box_sizes(s.grid, (max(diameter_mm, s.grid.spacing_mm[1]),) * 2 + (length_mm,))
    m, sd = _local_stats(s.grid.array, box)
    cv = np.where(m > 0, sd / np.maximum(m, 1e-9), np.inf)
    body_median = float(np.median(s.grid.array[s.body])) if s.body.any() else 0.0
    hi = liver.suv_mean if liver is not None else np.inf
    cx = float(np.median(x[s.body])) if s.body.any() else 0.0
    cy = float(np.median(y[s.body])) if s.body.any() else 0.0
    bright = s.body & (m >= config.mbp_min_ratio_to_body * body_median) & (m < hi)
    base = (
        bright
        & (cv <= _cv_threshold(cv, bright, config))
        & (x > cx + config.mbp_min_left_of_midline_mm)
        & (x < cx + config.mbp_max_left_of_midline_mm)
        & (y >= cy - 10.0)
    )
    if liver is not None:
        base &= z > liver.center_mm[2] + liver.diameter_mm
    # blood pool borders lung (low uptake) within mbp_lung_distance_mm in the axial plane
    near = max(1, int(round(config.mbp_lung_distance_mm / min(s.grid.spacing_mm[1:]))))
    low = ndimage.minimum_filter(s.grid.array, size=(1, 2 * near + 1, 2 * near + 1))
    base &= low < config.mbp_lung_max_ratio * m
    if s.hu is not None:
        lungs = _lungs(s, config)
        if lungs.sum() > 10:
            reach = config.mbp_lung_distance_mm * 2
            near_lung = ndimage.maximum_filter(lungs, size=_box_sizes(s.grid, (reach, reach, 1.0)))
            zl = z[lungs]
            hu_m, _ = _local_stats(s.hu, box)
            soft = (hu_m >= config.blood_hu_range[0]) & (hu_m <= config.blood_hu_range[1])
            hu_max = ndimage.maximum_filter(s.hu, size=box)
            ct_base = base & soft & near_lung & (hu_max < config.bone_hu_threshold)
            ct_base &= (z >= np.percentile(zl, 10)) & (z <= np.percentile(zl, 90))
            res = _choose_tube(suv, s, ct_base & fits, None, ct_base, common, method="ct")
            if res is not None:
                return res
        tried.append("CT anatomy")
    res = _choose_tube(suv, s, base & fits, None, base, common, method="pet")
    if res is not None:
        if tried:
            res = _with_warning(res, f"MBP VOI placed from PET alone ({', '.join(tried)} failed)")
        return res
    tried.append("PET homogeneity")
    raise InputError(
        f"could not place the mediastinal blood-pool VOI automatically (tried {', '.join(tried)}; "
        f"grid {suv.shape}). Give its centre with --mbp-voi X,Y,Z (LPS mm).",
        code="NO_MBP_VOI",
    )


def _choose_tube(
    suv: Volume,
    s: _Search,
    cand: np.ndarray,
    depth2d: np.ndarray | None,
    region: np.ndarray,
    common: dict,
    *,
    method: str = "organs",
) -> ReferenceRegion | None:
    """Centre of the candidate component with the longest S-I extent, at its mid-height."""
    if not cand.any():
        return None
    lab, n = ndimage.label(cand, structure=np.ones((3, 3, 3)))
    z = s.z
    best = []
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        comp = lab[sl] == i
        zz = z[sl][comp]
        best.append((float(zz.max() - zz.min()), int(comp.sum()), i))
    best.sort(reverse=True)
    centres: list[np.ndarray] = []
    for _, _, i in best[:3]:
        comp = lab == i
        zmid = 0.5 * (float(z[comp].max()) + float(z[comp].min()))
        d2 = _depth_mm(comp, s.grid.spacing_mm, planar=True) if depth2d is None else depth2d
        score = d2 - 0.5 * np.abs(z - zmid)
        centres += _pick(score, comp, s, 10)
    return _finish(suv, centres, name="mbp", method=method, **common)


# ----------------------------------------------------------------------------- output


def reference_label_map(suv: Volume, regions: Sequence[ReferenceRegion]) -> Volume:
    """Label map of the reference VOIs on the PET grid (liver = 1, MBP = 2).

    Examples
    --------
    >>> import numpy as np
    >>> from carpet.core import Volume
    >>> from carpet.units import Unit
    >>> suv = Volume(np.full((12, 12, 12), 2.0), np.diag([4.0, 4.0, 4.0, 1.0]), unit=Unit.SUV_BW)
    >>> liver = place_liver_voi(suv, center_mm=(22.0, 22.0, 22.0), diameter_mm=20)
    >>> int((reference_label_map(suv, [liver]).array == 1).sum()) == liver.n_voxels
    True
    """
    out = np.zeros(suv.shape, dtype=np.uint8)
    for reg in regions:
        value = LIVER_LABEL if reg.name == "liver" else MBP_LABEL
        out[reg.mask(suv)] = value
    return suv.with_array(
        out, unit=Unit.LABEL, label_names={"liver": LIVER_LABEL, "mbp": MBP_LABEL}
    )
