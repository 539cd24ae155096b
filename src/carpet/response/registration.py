"""Rigid registration of a follow-up study onto its baseline (SimpleITK).

CT to CT when both studies have a CT, PET to PET otherwise. Both images are first
averaged down to a coarse isotropic grid (``registration_voxel_mm``, 6 mm by default)
so that a whole-body 2 mm pair registers in a few seconds on two cores; then a
multi-resolution (shrink factors ``registration_levels``) Mattes mutual-information
registration of an Euler (rotation + translation) transform, initialised by the
transverse centres of mass of the body outlines and the cranio-caudal offset that best
aligns the per-slice body-area and intensity profiles (scan ranges differ between
timepoints), so that shifts of several centimetres and rotations of a few degrees are
recovered.

The result's :attr:`Registration.matrix` is a 4 × 4 homogeneous matrix in LPS mm
that maps **follow-up** patient coordinates to **baseline** patient coordinates.
:attr:`Registration.residual_mm` is the mean distance from the follow-up's body surface,
mapped into the baseline, to the baseline's body surface (sub-voxel, within the common
cranio-caudal range): about 1 mm for a perfect alignment of identical anatomy.

References
----------
Lowekamp BC et al. The design of SimpleITK. Front Neuroinform 2013;7:45.
Mattes D et al. PET-CT image registration in the chest using free-form deformations.
IEEE Trans Med Imaging 2003;22:120-128.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from carpet.config import ResponseConfig
from carpet.core.volume import Volume
from carpet.errors import InputError

__all__ = ["Registration", "identity_registration", "register_rigid", "register_studies"]

_DEFAULTS = ResponseConfig()


@dataclass(frozen=True, eq=False)
class Registration:
    """A rigid transform between a follow-up and its baseline.

    Attributes
    ----------
    method : {"ct", "pet", "identity"}
        Which images were registered.
    matrix : ndarray of shape (4, 4)
        Maps follow-up LPS mm to baseline LPS mm.
    residual_mm : float or None
        Mean body-surface distance after registration, mm.
    rotation_deg : float
        Total rotation angle of the transform, degrees.
    translation_mm : tuple of 3 float
        Translation part of ``matrix``, mm.
    elapsed_s : float
        Wall time of the registration, s.
    metric : float or None
        Final Mattes mutual-information metric value (lower is better).
    """

    method: str
    matrix: np.ndarray
    residual_mm: float | None
    elapsed_s: float = 0.0
    metric: float | None = None

    @property
    def rotation_deg(self) -> float:
        """Rotation angle of the transform, degrees."""
        r = self.matrix[:3, :3]
        c = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
        return float(np.degrees(np.arccos(c)))

    @property
    def translation_mm(self) -> tuple[float, float, float]:
        """Translation part of :attr:`matrix`, mm."""
        return tuple(float(v) for v in self.matrix[:3, 3])  # type: ignore[return-value]

    def followup_to_baseline(self, points_mm: Any) -> np.ndarray:
        """Map follow-up LPS points (N×3) to baseline LPS."""
        p = np.atleast_2d(np.asarray(points_mm, dtype=float))
        return p @ self.matrix[:3, :3].T + self.matrix[:3, 3]

    def baseline_to_followup(self, points_mm: Any) -> np.ndarray:
        """Map baseline LPS points (N×3) to follow-up LPS."""
        inv = np.linalg.inv(self.matrix)
        p = np.atleast_2d(np.asarray(points_mm, dtype=float))
        return p @ inv[:3, :3].T + inv[:3, 3]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (``matrix`` as a nested list)."""
        return {
            "method": self.method,
            "matrix": [[round(float(v), 6) for v in row] for row in self.matrix],
            "direction": "followup_lps_to_baseline_lps",
            "residual_mm": None if self.residual_mm is None else round(float(self.residual_mm), 3),
            "rotation_deg": round(self.rotation_deg, 3),
            "translation_mm": [round(v, 3) for v in self.translation_mm],
            "elapsed_s": round(float(self.elapsed_s), 3),
        }


def identity_registration(method: str = "identity") -> Registration:
    """The identity transform (studies already aligned)."""
    return Registration(method=method, matrix=np.eye(4), residual_mm=0.0)


# ----------------------------------------------------------------------------- conversion


def _coarse(vol: Volume, voxel_mm: float, *, clip: tuple[float, float] | None) -> Volume:
    """Block-average ``vol`` to roughly ``voxel_mm`` (integer factors per axis)."""
    from carpet.measure.reference import _block_mean

    f = tuple(max(1, int(round(voxel_mm / s))) for s in vol.spacing_mm)
    if any(n < k for n, k in zip(vol.shape, f, strict=True)):
        f = (1, 1, 1)
    a = _block_mean(np.asarray(vol.array), f)  # float32
    if clip is not None:
        a = np.clip(a, *clip)
    aff = np.array(vol.affine, dtype=float)
    aff[:3, 3] = aff[:3, 3] + aff[:3, :3] @ ((np.array(f) - 1) / 2.0)
    aff[:3, :3] = aff[:3, :3] * np.array(f)
    return Volume(np.ascontiguousarray(a), aff, unit=vol.unit)


def _to_sitk(vol: Volume) -> Any:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(vol.array, dtype=np.float32))
    sp = vol.spacing_mm
    img.SetSpacing((sp[2], sp[1], sp[0]))
    d = vol.direction  # columns: k, j, i axes
    dir3 = np.stack([d[:, 2], d[:, 1], d[:, 0]], axis=1)  # columns: x(i), y(j), z(k)
    img.SetDirection(tuple(float(v) for v in dir3.ravel()))
    img.SetOrigin(tuple(float(v) for v in vol.affine[:3, 3]))
    return img


def _body(vol: Volume, threshold: float) -> np.ndarray:
    sm = ndimage.uniform_filter(np.asarray(vol.array, dtype=np.float32), size=3)
    m = sm > threshold
    lab, n = ndimage.label(m)
    if n > 1:
        sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        m = lab == (int(np.argmax(sizes)) + 1)
    return m


def _fraction(vol: Volume, threshold: float, voxel_mm: float) -> Volume:
    """Fraction of each coarse voxel inside the body (native-resolution threshold, block mean).

    A 3-voxel box filter widens the partial-volume band (it keeps the 0.5 level of a flat
    surface in place), so that a grid without downsampling still has one.
    """
    frac = _coarse(vol.with_array(np.asarray(vol.array) > threshold), voxel_mm, clip=None)
    return frac.with_array(ndimage.uniform_filter(np.asarray(frac.array, dtype=np.float32), size=3))


def _residual_mm(base: Volume, fol: Volume, matrix: np.ndarray) -> float | None:
    """Mean distance (mm) from the follow-up body surface, mapped, to the baseline body surface.

    ``base``/``fol`` hold the body fraction of each coarse voxel. Follow-up surface points
    are placed with sub-voxel accuracy on the 0.5 level of its fraction image; their
    distance to the baseline surface is ``|f_b(q) − 0.5| / |∇f_b(q)|`` (first order),
    or the distance to the nearest baseline surface voxel where ``q`` is off the
    baseline's partial-volume band. Points on the first and last slices (field-of-view
    caps) and outside the common cranio-caudal range are not used.
    """
    fb = np.asarray(base.array, dtype=np.float64)
    fm = np.asarray(fol.array, dtype=np.float64)
    gm = np.stack(np.gradient(fm), axis=-1)  # per index step
    band = (fm > 0.1) & (fm < 0.9)
    band[0] = band[-1] = False
    idx = np.argwhere(band)
    if len(idx) < 10:
        return None
    g = gm[band]
    g2 = np.einsum("ij,ij->i", g, g)
    ok = g2 > 1e-6
    idx, g, g2 = idx[ok], g[ok], g2[ok]
    sub = idx + (-(fm[band][ok] - 0.5) / g2)[:, None] * g
    pts = fol.index_to_world(sub)
    q = pts @ matrix[:3, :3].T + matrix[:3, 3]
    qi = base.world_to_index(q)
    zb = base.index_to_world(np.array([[0, 0, 0], [base.shape[0] - 1, 0, 0]], float))[:, 2]
    zlo, zhi = zb.min() + 10.0, zb.max() - 10.0
    inside = (
        np.all((qi >= 1) & (qi <= np.array(base.shape) - 2), axis=1)
        & (q[:, 2] >= zlo)
        & (q[:, 2] <= zhi)
    )
    if inside.sum() < 10:
        return None
    qi, q = qi[inside], q[inside]
    val = ndimage.map_coordinates(fb, qi.T, order=1, mode="nearest")
    gb = np.stack(np.gradient(fb), axis=-1)
    sp = np.array(base.spacing_mm)
    grad = np.stack(
        [ndimage.map_coordinates(gb[..., a], qi.T, order=1, mode="nearest") for a in range(3)],
        axis=1,
    )
    gnorm = np.linalg.norm(grad / sp, axis=1)  # per mm (orthogonal grids)
    d = np.full(len(q), np.nan)
    near = (val > 0.05) & (val < 0.95) & (gnorm > 1e-3)
    d[near] = np.abs(val[near] - 0.5) / gnorm[near]
    if (~near).any():
        bsurf = (fb > 0.1) & (fb < 0.9)
        pb = base.index_to_world(np.argwhere(bsurf))
        if len(pb) == 0:
            return None
        d[~near] = cKDTree(pb).query(q[~near])[0]
    return float(np.mean(d))


# ----------------------------------------------------------------------------- registration


def _z_profiles(vol: Volume, body: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Slice z (LPS mm, ascending) and per-slice body area and mean intensity (axial grids)."""
    if abs(vol.direction[2, 0]) < 0.9:
        return None
    k = np.arange(vol.shape[0])
    z = vol.index_to_world(np.stack([k, np.zeros_like(k), np.zeros_like(k)], axis=1))[:, 2]
    area = body.sum(axis=(1, 2)).astype(float)
    inten = np.where(body, vol.array, 0.0).sum(axis=(1, 2)) / np.maximum(area, 1.0)
    order = np.argsort(z)
    return z[order], np.stack([area[order], inten[order]], axis=0)


def _best_z_offset(
    fc: Volume,
    fbody: np.ndarray,
    mc: Volume,
    mbody: np.ndarray,
    default: float,
    *,
    min_overlap: float = 0.8,
) -> float:
    """Cranio-caudal translation (fixed → moving, mm) that best aligns the slice profiles.

    Scan ranges often differ between timepoints, so the centres of mass of the two bodies
    need not correspond. The per-slice body area and mean intensity profiles of the two
    studies are compared (mean Pearson correlation) for every offset, in 4 mm steps, that
    keeps at least ``min_overlap`` of the shorter scan inside the longer one.
    """
    pf, pm = _z_profiles(fc, fbody), _z_profiles(mc, mbody)
    if pf is None or pm is None:
        return default
    (zf, sf), (zm, sm) = pf, pm
    zf0, zf1, zm0, zm1 = zf[0], zf[-1], zm[0], zm[-1]
    need = min_overlap * min(zf1 - zf0, zm1 - zm0)
    best, best_t = -np.inf, default
    for t in np.arange(zm0 - zf1, zm1 - zf0 + 4.0, 4.0):
        lo, hi = max(zf0, zm0 - t), min(zf1, zm1 - t)
        if hi - lo < need:
            continue
        zz = np.arange(lo, hi, 4.0)
        if len(zz) < 5:
            continue
        score = 0.0
        for c in range(sf.shape[0]):
            a = np.interp(zz, zf, sf[c])
            b = np.interp(zz + t, zm, sm[c])
            sa, sb = a.std(), b.std()
            if sa > 0 and sb > 0:
                score += float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
        if score > best:
            best, best_t = score, float(t)
    return best_t


def register_rigid(
    fixed: Volume,
    moving: Volume,
    *,
    modality: str = "pet",
    voxel_mm: float = _DEFAULTS.registration_voxel_mm,
    levels: tuple[int, ...] = _DEFAULTS.registration_levels,
    iterations: int = _DEFAULTS.registration_iterations,
    sampling: float = _DEFAULTS.registration_sampling,
    seed: int = 20261201,
) -> Registration:
    """Rigidly register ``moving`` (follow-up) onto ``fixed`` (baseline).

    Parameters
    ----------
    fixed, moving : Volume
        Baseline and follow-up images of the same modality (SUV or HU).
    modality : {"pet", "ct"}
        Sets the intensity window (SUV clipped to 0-10; HU to -1000-1500) and the
        body-outline threshold (SUV 0.1; HU -500).
    voxel_mm : float
        Both images are block-averaged to about this voxel size first, mm.
    levels : tuple of int
        Shrink factors of the multi-resolution pyramid (smoothing sigma = factor / 2
        voxels).
    iterations : int
        Maximum optimiser iterations per level.
    sampling : float
        Fraction of the fixed-image voxels sampled by the metric.
    seed : int
        Seed of the metric's random sampling (results are reproducible).

    Returns
    -------
    Registration
        ``matrix`` maps follow-up LPS mm to baseline LPS mm.

    Raises
    ------
    InputError
        ``REGISTRATION_FAILED`` when SimpleITK fails (e.g. no overlap).

    Notes
    -----
    Euler 3-D transform, Mattes mutual information (32 bins, ``sampling`` random samples),
    regular-step gradient descent with scales from physical shift, initialised by the
    transverse centres of mass of the two body outlines and the cranio-caudal offset of
    best slice-profile correlation. ``matrix`` is the inverse of
    the fitted baseline → follow-up transform ``x ↦ R (x − c) + c + t``.

    References
    ----------
    Lowekamp BC et al. Front Neuroinform 2013;7:45 (SimpleITK). Mattes D et al. IEEE Trans
    Med Imaging 2003;22:120-128 (mutual information).
    """
    import SimpleITK as sitk

    t0 = time.perf_counter()
    if modality == "ct":
        clip, body_thr = (-1000.0, 1500.0), -500.0
    elif modality == "pet":
        clip, body_thr = (0.0, 10.0), 0.1
    else:
        raise InputError(
            f"register_rigid: modality must be 'pet' or 'ct'; got {modality!r}", code="BAD_MODALITY"
        )
    fc = _coarse(fixed, voxel_mm, clip=clip)
    mc = _coarse(moving, voxel_mm, clip=clip)
    fbody, mbody = _body(fc, body_thr), _body(mc, body_thr)
    if not fbody.any() or not mbody.any():
        raise InputError(
            f"registration ({modality}): no body found in the {'baseline' if not fbody.any() else 'follow-up'} "
            "image; cannot register.",
            code="REGISTRATION_FAILED",
        )
    f_img, m_img = _to_sitk(fc), _to_sitk(mc)
    # initialise: transverse centres of mass of the body outlines, and the cranio-caudal
    # offset (scan ranges often differ) that best aligns the slice profiles
    pf, pm = fc.index_to_world(np.argwhere(fbody)), mc.index_to_world(np.argwhere(mbody))
    cf, cm = pf.mean(axis=0), pm.mean(axis=0)
    tz = _best_z_offset(fc, fbody, mc, mbody, float(cm[2] - cf[2]))
    tx = sitk.Euler3DTransform()
    tx.SetCenter(tuple(float(v) for v in cf))
    tx.SetTranslation((float(cm[0] - cf[0]), float(cm[1] - cf[1]), float(tz)))  # fixed -> moving
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(float(sampling), seed)
    fmask = sitk.GetImageFromArray(ndimage.binary_dilation(fbody, iterations=2).astype(np.uint8))
    fmask.CopyInformation(f_img)
    reg.SetMetricFixedMask(fmask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0,
        minStep=1e-3,
        numberOfIterations=int(iterations),
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    lv = [int(v) for v in levels]
    reg.SetShrinkFactorsPerLevel(lv)
    reg.SetSmoothingSigmasPerLevel([v / 2.0 for v in lv])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(tx, inPlace=True)
    try:
        reg.Execute(f_img, m_img)
    except RuntimeError as exc:
        raise InputError(
            f"registration ({modality}) failed: {str(exc).strip().splitlines()[-1]}. The studies may not "
            "overlap; check that they cover the same body region.",
            code="REGISTRATION_FAILED",
        ) from exc
    # tx maps fixed (baseline) points to moving (follow-up) points; invert it
    r = np.array(tx.GetMatrix(), dtype=float).reshape(3, 3)
    c = np.array(tx.GetCenter(), dtype=float)
    t = np.array(tx.GetTranslation(), dtype=float)
    b2f = np.eye(4)
    b2f[:3, :3] = r
    b2f[:3, 3] = c + t - r @ c
    f2b = np.linalg.inv(b2f)
    residual = _residual_mm(
        _fraction(fixed, body_thr, voxel_mm), _fraction(moving, body_thr, voxel_mm), f2b
    )
    return Registration(
        method=modality,
        matrix=f2b,
        residual_mm=residual,
        elapsed_s=time.perf_counter() - t0,
        metric=float(reg.GetMetricValue()),
    )


def register_studies(
    baseline_suv: Volume,
    followup_suv: Volume,
    *,
    baseline_ct: Volume | None = None,
    followup_ct: Volume | None = None,
    config: ResponseConfig = _DEFAULTS,
) -> Registration:
    """Register a follow-up onto its baseline: CT to CT when both CTs exist, else PET to PET.

    Parameters
    ----------
    baseline_suv, followup_suv : Volume
        PET in SUV.
    baseline_ct, followup_ct : Volume or None
        CTs in HU (each in its PET's frame of reference).
    config : ResponseConfig
        ``registration_voxel_mm``, ``registration_levels``, ``registration_iterations``.

    Returns
    -------
    Registration
    """
    kw = dict(
        voxel_mm=config.registration_voxel_mm,
        levels=config.registration_levels,
        iterations=config.registration_iterations,
        sampling=config.registration_sampling,
    )
    if baseline_ct is not None and followup_ct is not None:
        return register_rigid(baseline_ct, followup_ct, modality="ct", **kw)
    return register_rigid(baseline_suv, followup_suv, modality="pet", **kw)
