"""Analytic whole-body FDG PET/CT phantom (the demo study and the test phantom of every stage).

The anatomy is piecewise constant: ellipsoids, elliptic cylinders and spherical
lesions defined in *patient* millimetres (LPS: +x patient left, +y posterior,
+z superior; the vertex is at z = 0 and the feet at z ≈ −height). Every voxel
takes the value of the last shape (in painting order) whose analytic interior
contains the voxel centre, so the truth (organ labels, lesion ids, voxel counts)
is exact on the grid.

Grid convention: the volumes are exactly what :func:`carpet.ingest.read_series_volume`
returns for a head-first-supine axial series: ImageOrientationPatient
(1, 0, 0, 0, 1, 0), slice ``k`` increasing towards the head (ascending along the
slice normal), row ``j`` towards posterior, column ``i`` towards patient left.

A :class:`RigidPose` moves the patient in the scanner: a point ``a`` of the
anatomy appears at scanner position ``R @ (a - c) + c + t`` where ``c`` is the
anatomical centre of rotation (:data:`POSE_CENTRE_MM`), so two studies of the
same patient in different poses are related by an exactly known rigid transform.

Examples
--------
>>> s = make_whole_body_study(fov="head_neck", spacing_mm=(6.0, 8.0, 8.0), n_lesions=1, seed=1)
>>> s.suv.unit.value, s.suv.array.dtype.name
('SUVbw', 'float32')
>>> int(ORGAN_LABELS["brain"]) in set(s.organs.array.ravel().tolist())
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import ConfigError
from carpet.units import Unit

__all__ = [
    "FOV_CHOICES",
    "ORGAN_CT_HU",
    "ORGAN_LABELS",
    "ORGAN_SUV",
    "POSE_CENTRE_MM",
    "LesionSpec",
    "PatientSpec",
    "RigidPose",
    "SyntheticLesion",
    "SyntheticStudy",
    "make_whole_body_study",
]

#: Organ label values of :attr:`SyntheticStudy.organs` (0 = outside the body).
ORGAN_LABELS: dict[str, int] = {
    "body": 1,
    "brain": 2,
    "myocardium": 3,
    "blood_pool": 4,
    "liver": 5,
    "spleen": 6,
    "kidney_left": 7,
    "kidney_right": 8,
    "bladder": 9,
    "lungs": 10,
    "bone": 11,
    "marrow": 12,
}

#: Uniform SUVbw of each organ (g/mL). ``body`` is generic soft tissue.
ORGAN_SUV: dict[str, float] = {
    "body": 0.7,
    "brain": 8.0,
    "myocardium": 5.0,  # clearly above the SUV 4 threshold so the whole shell is segmented and removed
    "blood_pool": 1.6,
    "liver": 2.2,
    "spleen": 1.8,
    "kidney_left": 5.0,
    "kidney_right": 5.0,
    "bladder": 20.0,
    "lungs": 0.4,
    "bone": 0.9,
    "marrow": 1.2,
}

#: CT attenuation of each organ (HU); outside the body is air (−1000 HU).
ORGAN_CT_HU: dict[str, float] = {
    "body": 40.0,
    "brain": 35.0,
    "myocardium": 45.0,
    "blood_pool": 40.0,
    "liver": 55.0,
    "spleen": 45.0,
    "kidney_left": 30.0,
    "kidney_right": 30.0,
    "bladder": 5.0,
    "lungs": -820.0,
    "bone": 700.0,
    "marrow": 220.0,
}

#: CT value of lesions (HU, soft tissue).
LESION_CT_HU = 45.0

#: Reference height (m) of the anatomy; z is scaled by height / 1.75.
REFERENCE_HEIGHT_M = 1.75

#: Anatomical centre of rotation for :class:`RigidPose` (LPS mm, mid-chest).
POSE_CENTRE_MM = (0.0, 0.0, -500.0)

#: Field-of-view presets: (z_top, z_bottom) in reference anatomy mm and transverse FOV mm.
FOV_CHOICES: dict[str, tuple[float, float, float]] = {
    "whole_body": (10.0, -1790.0, 700.0),
    "thorax": (-240.0, -660.0, 600.0),
    "head_neck": (10.0, -330.0, 400.0),
}


# ---------------------------------------------------------------- specifications
@dataclass(frozen=True)
class PatientSpec:
    """Patient facts of a synthetic study (written into the DICOM header).

    Parameters
    ----------
    weight_kg : float
        Body weight, kg.
    height_m : float
        Height, m (also scales the anatomy along z).
    sex : {"M", "F", "O"}
    age_years : int
    """

    weight_kg: float = 75.0
    height_m: float = 1.75
    sex: str = "M"
    age_years: int = 60

    def __post_init__(self) -> None:
        if not (20.0 <= self.weight_kg <= 300.0):
            raise ConfigError(f"PatientSpec.weight_kg must be 20-300 kg; got {self.weight_kg}")
        if not (1.2 <= self.height_m <= 2.3):
            raise ConfigError(f"PatientSpec.height_m must be 1.2-2.3 m; got {self.height_m}")
        if self.sex not in ("M", "F", "O"):
            raise ConfigError(f"PatientSpec.sex must be 'M', 'F' or 'O'; got {self.sex!r}")


@dataclass(frozen=True)
class LesionSpec:
    """One spherical lesion.

    Parameters
    ----------
    center_mm : (x, y, z)
        Centre in *anatomical* LPS mm (before any :class:`RigidPose`).
    radius_mm : float
        Radius, mm.
    suv : float
        Uniform SUVbw inside the sphere (g/mL).
    site : str
        Free text, e.g. ``"mediastinal"``, ``"liver"``, ``"iliac_left"``.
    """

    center_mm: tuple[float, float, float]
    radius_mm: float
    suv: float
    site: str = "nodal"

    def __post_init__(self) -> None:
        if len(self.center_mm) != 3:
            raise ConfigError(f"LesionSpec.center_mm must have 3 values; got {self.center_mm}")
        if not self.radius_mm > 0:
            raise ConfigError(f"LesionSpec.radius_mm must be > 0 mm; got {self.radius_mm}")
        if not self.suv >= 0:
            raise ConfigError(f"LesionSpec.suv must be >= 0; got {self.suv}")


@dataclass(frozen=True)
class RigidPose:
    """Rigid placement of the patient in the scanner.

    Parameters
    ----------
    rotation_deg : (rx, ry, rz)
        Rotations about the x, y and z axes (degrees), applied in that order
        (``R = Rz @ Ry @ Rx``) about :data:`POSE_CENTRE_MM`.
    translation_mm : (tx, ty, tz)
        Translation, LPS mm.
    """

    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rotation_matrix(self) -> np.ndarray:
        """3×3 rotation matrix R (scanner = R @ (anatomy − c) + c + t)."""
        rx, ry, rz = (math.radians(a) for a in self.rotation_deg)
        cx, sx, cy, sy, cz, sz = (
            math.cos(rx),
            math.sin(rx),
            math.cos(ry),
            math.sin(ry),
            math.cos(rz),
            math.sin(rz),
        )
        mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        return mz @ my @ mx

    def anatomy_to_scanner(self, points_mm: np.ndarray) -> np.ndarray:
        """Map anatomical points (N×3, LPS mm) to scanner positions (N×3)."""
        c = np.asarray(POSE_CENTRE_MM)
        pts = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        return (
            (pts - c) @ self.rotation_matrix.T
            + c
            + np.asarray(self.translation_mm, dtype=np.float64)
        )

    def scanner_to_anatomy(self, points_mm: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`anatomy_to_scanner`."""
        c = np.asarray(POSE_CENTRE_MM)
        pts = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        return (
            pts - c - np.asarray(self.translation_mm, dtype=np.float64)
        ) @ self.rotation_matrix + c

    @property
    def matrix(self) -> np.ndarray:
        """4×4 homogeneous matrix of :meth:`anatomy_to_scanner`."""
        m = np.eye(4)
        r = self.rotation_matrix
        c = np.asarray(POSE_CENTRE_MM)
        m[:3, :3] = r
        m[:3, 3] = c - r @ c + np.asarray(self.translation_mm, dtype=np.float64)
        return m


@dataclass(frozen=True)
class SyntheticLesion:
    """Truth for one lesion of a synthetic study.

    ``center_mm`` is the centre in *scanner* LPS mm (after the pose);
    ``n_voxels`` / ``volume_ml`` count the voxels carrying ``lesion_id`` in
    :attr:`SyntheticStudy.lesion_truth` (voxel centres inside the sphere and not
    overwritten by a later lesion).
    """

    lesion_id: int
    center_mm: tuple[float, float, float]
    radius_mm: float
    suv: float
    site: str
    n_voxels: int
    volume_ml: float


@dataclass(frozen=True, eq=False)
class SyntheticStudy:
    """A generated PET/CT study with its exact truth.

    Attributes
    ----------
    suv : Volume
        SUVbw (g/mL), float32.
    ct : Volume or None
        CT in HU (float32) on the same grid.
    organs : Volume
        uint8 organ labels (:data:`ORGAN_LABELS`), 0 outside the body.
    lesion_truth : Volume
        int16 lesion ids (1..n), 0 elsewhere.
    lesions : list of SyntheticLesion
    patient : PatientSpec
    pose : RigidPose
    seed : int
    fov : str
    """

    suv: Volume
    ct: Volume | None
    organs: Volume
    lesion_truth: Volume
    lesions: list[SyntheticLesion]
    patient: PatientSpec
    pose: RigidPose = field(default_factory=RigidPose)
    seed: int = 0
    fov: str = "whole_body"

    @property
    def organ_labels(self) -> dict[str, int]:
        """:data:`ORGAN_LABELS`."""
        return dict(ORGAN_LABELS)


# ---------------------------------------------------------------- analytic shapes
class _Shape:
    label: int
    value_index: int  # index into the value tables (label or lesion)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclass
class _Ellipsoid(_Shape):
    center: tuple[float, float, float]
    radii: tuple[float, float, float]
    label: int
    x_max: float | None = None  # optional half-space clip (x <= x_max)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        c, r = np.asarray(self.center), np.asarray(self.radii)
        return c - r, c + r

    def contains(self, x, y, z):
        cx, cy, cz = self.center
        rx, ry, rz = self.radii
        m = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0
        if self.x_max is not None:
            m &= x <= self.x_max
        return m


@dataclass
class _Cylinder(_Shape):
    """Elliptic cylinder along z from z0 to z1 (z0 < z1)."""

    center_xy: tuple[float, float]
    radii_xy: tuple[float, float]
    z0: float
    z1: float
    label: int

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        (cx, cy), (rx, ry) = self.center_xy, self.radii_xy
        return np.array([cx - rx, cy - ry, self.z0]), np.array([cx + rx, cy + ry, self.z1])

    def contains(self, x, y, z):
        (cx, cy), (rx, ry) = self.center_xy, self.radii_xy
        return (
            (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0) & (z >= self.z0) & (z <= self.z1)
        )


def _anatomy(zs: float) -> list[_Shape]:
    """Organs in painting order (later shapes win). ``zs`` scales z (height / 1.75)."""
    L = ORGAN_LABELS

    def e(c, r, lab, x_max=None):
        return _Ellipsoid((c[0], c[1], c[2] * zs), (r[0], r[1], r[2] * zs), lab, x_max)

    def cyl(cxy, rxy, z0, z1, lab):
        return _Cylinder(cxy, rxy, z0 * zs, z1 * zs, lab)

    shapes: list[_Shape] = [
        # body outline: head, neck, trunk (with shoulders), two legs
        e((0, 0, -105), (78, 98, 112), L["body"]),
        cyl((0, 10), (58, 62), -250, -185, L["body"]),
        cyl((0, 5), (175, 112), -905, -245, L["body"]),
        e((0, 5, -905), (175, 112, 60), L["body"]),
        cyl((-90, 10), (72, 78), -1745, -900, L["body"]),
        cyl((90, 10), (72, 78), -1745, -900, L["body"]),
        # skull (bone) and brain
        e((0, 2, -100), (72, 92, 104), L["bone"]),
        e((0, 5, -95), (64, 82, 90), L["brain"]),
        # lungs
        e((-78, 15, -410), (62, 78, 125), L["lungs"]),
        e((78, 15, -410), (62, 78, 125), L["lungs"]),
        # heart: myocardium shell with blood-pool cavity, left-anterior chest
        e((35, -38, -465), (55, 48, 58), L["myocardium"]),
        e((38, -40, -465), (38, 32, 42), L["blood_pool"]),
        # descending aorta, left paravertebral, and aortic arch segment
        cyl((24, 48), (13, 13), -860, -330, L["blood_pool"]),
        e((10, 0, -330), (30, 50, 14), L["blood_pool"]),
        # liver (right upper abdomen), spleen (left), kidneys (paravertebral)
        e((-78, 0, -585), (100, 88, 85), L["liver"], x_max=45.0),
        e((100, 45, -575), (40, 48, 55), L["spleen"]),
        e((78, 62, -690), (30, 32, 58), L["kidney_left"]),
        e((-78, 62, -700), (30, 32, 58), L["kidney_right"]),
        # bladder, low pelvis midline
        e((0, -38, -880), (45, 40, 35), L["bladder"]),
        # skeleton: spine, iliac wings, femurs (cortex = bone, inside = marrow)
        cyl((0, 82), (21, 21), -885, -200, L["bone"]),
        cyl((0, 82), (14, 14), -880, -205, L["marrow"]),
        e((-112, 45, -835), (42, 26, 62), L["bone"]),
        e((-112, 45, -835), (33, 18, 52), L["marrow"]),
        e((112, 45, -835), (42, 26, 62), L["bone"]),
        e((112, 45, -835), (33, 18, 52), L["marrow"]),
        cyl((-92, 10), (15, 15), -1300, -895, L["bone"]),
        cyl((-92, 10), (9, 9), -1290, -905, L["marrow"]),
        cyl((92, 10), (15, 15), -1300, -895, L["bone"]),
        cyl((92, 10), (9, 9), -1290, -905, L["marrow"]),
    ]
    return shapes


#: Candidate lesion sites (anatomical LPS mm at height 1.75 m; z scaled later) and
#: their radius range (mm).
_LESION_SITES: list[tuple[str, tuple[float, float, float], tuple[float, float]]] = [
    ("mediastinal", (-5.0, -35.0, -370.0), (10.0, 18.0)),
    ("iliac_left", (62.0, -20.0, -870.0), (8.0, 14.0)),
    ("liver", (-95.0, 10.0, -590.0), (10.0, 16.0)),
    ("cervical_right", (-32.0, 5.0, -225.0), (7.0, 12.0)),
    ("axillary_left", (135.0, 10.0, -340.0), (8.0, 14.0)),
    ("para_aortic", (-22.0, 50.0, -720.0), (9.0, 15.0)),
    ("iliac_right", (-62.0, -20.0, -875.0), (8.0, 13.0)),
    ("inguinal_left", (85.0, -40.0, -960.0), (7.0, 12.0)),
    ("spleen", (105.0, 45.0, -575.0), (8.0, 12.0)),
    ("axillary_right", (-135.0, 10.0, -345.0), (7.0, 12.0)),
    ("hilar_right", (-55.0, 20.0, -430.0), (8.0, 13.0)),
    ("mesenteric", (30.0, -50.0, -740.0), (10.0, 18.0)),
    ("bone_iliac", (-118.0, 45.0, -830.0), (8.0, 12.0)),
    ("inguinal_right", (-85.0, -40.0, -965.0), (7.0, 11.0)),
    ("supraclavicular_left", (55.0, 0.0, -255.0), (7.0, 11.0)),
    ("retroperitoneal", (20.0, 20.0, -800.0), (9.0, 14.0)),
]


def _default_lesions(n: int, rng: np.random.Generator, zs: float) -> list[LesionSpec]:
    if n > len(_LESION_SITES):
        raise ConfigError(
            f"n_lesions must be <= {len(_LESION_SITES)} (the number of built-in sites); got {n}. "
            "Pass an explicit lesions=[LesionSpec(...)] list for more."
        )
    out = []
    for site, (x, y, z), (r0, r1) in _LESION_SITES[:n]:
        radius = float(np.round(rng.uniform(r0, r1), 1))
        suv = float(np.round(rng.uniform(5.0, 25.0), 2))
        jitter = rng.uniform(-3.0, 3.0, size=3)
        out.append(
            LesionSpec((x + jitter[0], y + jitter[1], z * zs + jitter[2]), radius, suv, site)
        )
    return out


# ---------------------------------------------------------------- rendering
def _grid(
    spacing_mm: Sequence[float], fov: str, zs: float
) -> tuple[np.ndarray, tuple[int, int, int]]:
    z_top, z_bottom, fov_xy = FOV_CHOICES[fov]
    ds, dr, dc = (float(s) for s in spacing_mm)
    n_s = int(round((z_top - z_bottom) * zs / ds))
    n_r = int(round(fov_xy / dr))
    n_c = int(round(fov_xy / dc))
    aff = np.eye(4)
    aff[:3, 0] = (0.0, 0.0, ds)  # slices towards the head
    aff[:3, 1] = (0.0, dr, 0.0)  # rows towards posterior
    aff[:3, 2] = (dc, 0.0, 0.0)  # columns towards patient left
    # centre the transverse FOV on the patient axis (x = 0, y = 0); the first slice is the lowest
    aff[:3, 3] = (-(n_c - 1) * dc / 2.0, -(n_r - 1) * dr / 2.0, z_bottom * zs + ds / 2.0)
    return aff, (n_s, n_r, n_c)


def _paint(
    target: np.ndarray,
    value: int,
    contains,
    bbox: tuple[np.ndarray, np.ndarray],
    affine: np.ndarray,
    pose: RigidPose,
    *,
    counter: list | None = None,
) -> None:
    """Set ``target`` to ``value`` at voxels whose centre (mapped to anatomy) is inside."""
    lo, hi = bbox
    corners = np.array(
        [[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])]
    )
    scanner = pose.anatomy_to_scanner(corners)
    inv = np.linalg.inv(affine)
    idx = scanner @ inv[:3, :3].T + inv[:3, 3]
    start = np.maximum(np.floor(idx.min(axis=0)).astype(int) - 1, 0)
    stop = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 2, np.asarray(target.shape))
    if np.any(stop <= start):
        return
    k = np.arange(start[0], stop[0], dtype=np.float64)[:, None, None]
    j = np.arange(start[1], stop[1], dtype=np.float64)[None, :, None]
    i = np.arange(start[2], stop[2], dtype=np.float64)[None, None, :]
    # world = affine @ (k, j, i); anatomy = R^T (world - c - t) + c
    r = pose.rotation_matrix
    c = np.asarray(POSE_CENTRE_MM)
    t = np.asarray(pose.translation_mm, dtype=np.float64)
    off = affine[:3, 3] - c - t
    a_k = r.T @ affine[:3, 0]
    a_j = r.T @ affine[:3, 1]
    a_i = r.T @ affine[:3, 2]
    a_0 = r.T @ off + c
    coords = []
    for d in range(3):
        coords.append((k * a_k[d] + j * a_j[d] + i * a_i[d] + a_0[d]).astype(np.float32))
    inside = contains(*coords)
    sub = target[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
    sub[inside] = value


def make_whole_body_study(
    *,
    spacing_mm: Sequence[float] = (3.0, 4.0, 4.0),
    fov: str = "whole_body",
    n_lesions: int = 8,
    lesions: Sequence[LesionSpec] | None = None,
    seed: int = 0,
    with_ct: bool = True,
    pose: RigidPose | None = None,
    patient: PatientSpec | None = None,
    noise_sd: float = 0.0,
    fwhm_mm: float = 0.0,
) -> SyntheticStudy:
    """Generate a deterministic synthetic whole-body FDG PET/CT study with exact truth.

    Parameters
    ----------
    spacing_mm : (slice, row, column) spacing, mm
        Grid spacing. ``(2, 2, 2)`` gives the ~350×350×900 whole-body case.
    fov : {"whole_body", "thorax", "head_neck"}
        Axial and transverse extent (see :data:`FOV_CHOICES`).
    n_lesions : int
        Number of lesions drawn from the built-in nodal/extranodal sites (ignored
        when ``lesions`` is given). Radii and SUVs (5–25) are drawn from ``seed``.
    lesions : list of LesionSpec, optional
        Explicit lesions (anatomical mm, before the pose).
    seed : int
        Seed of every random choice (lesion sizes/SUVs, noise).
    with_ct : bool
        Also render the CT (HU).
    pose : RigidPose, optional
        Patient placement in the scanner; the analytic anatomy is rendered
        through it, so follow-up studies of the same patient are exact.
    patient : PatientSpec, optional
        Weight/height/sex/age (height scales the anatomy along z).
    noise_sd : float
        Relative Gaussian noise: each voxel is multiplied by ``1 + noise_sd·N(0,1)``
        (clipped at 0). 0 gives the exact piecewise-constant image.
    fwhm_mm : float
        Isotropic Gaussian blur of the SUV image (scanner resolution / partial
        volume), FWHM in mm, applied before the noise. 0 (default) keeps the
        piecewise-constant image. Truth volumes are never blurred.

    Returns
    -------
    SyntheticStudy

    Notes
    -----
    Organ SUVs are :data:`ORGAN_SUV`, CT values :data:`ORGAN_CT_HU`. Lesions are
    painted last, so a lesion overrides the organ it sits in; a later lesion
    overrides an earlier one where they overlap. ``SyntheticLesion.n_voxels``
    counts the voxels finally carrying each id.

    Examples
    --------
    >>> s = make_whole_body_study(fov="thorax", spacing_mm=(6, 8, 8), n_lesions=2, with_ct=False)
    >>> [les.site for les in s.lesions]
    ['mediastinal', 'iliac_left']
    >>> s.ct is None
    True
    """
    if fov not in FOV_CHOICES:
        raise ConfigError(f"fov must be one of {sorted(FOV_CHOICES)}; got {fov!r}")
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ConfigError(
            f"spacing_mm must be three positive numbers (slice, row, col); got {spacing_mm}"
        )
    if noise_sd < 0:
        raise ConfigError(f"noise_sd must be >= 0; got {noise_sd}")
    if fwhm_mm < 0:
        raise ConfigError(f"fwhm_mm must be >= 0 mm; got {fwhm_mm}")
    patient = patient or PatientSpec()
    pose = pose or RigidPose()
    rng = np.random.default_rng(seed)
    zs = patient.height_m / REFERENCE_HEIGHT_M

    affine, shape = _grid(spacing, fov, zs)
    n_vox = shape[0] * shape[1] * shape[2]
    if n_vox > 400_000_000:
        raise ConfigError(f"grid of {shape} voxels is too large; use a coarser spacing_mm")

    organs = np.zeros(shape, dtype=np.uint8)
    for sh in _anatomy(zs):
        _paint(organs, sh.label, sh.contains, sh.bbox(), affine, pose)

    specs = list(lesions) if lesions is not None else _default_lesions(n_lesions, rng, zs)
    truth = np.zeros(shape, dtype=np.int16)
    for n, spec in enumerate(specs, start=1):
        ball = _Ellipsoid(tuple(spec.center_mm), (spec.radius_mm,) * 3, 0)
        _paint(truth, n, ball.contains, ball.bbox(), affine, pose)

    # SUV by lookup (organs), then lesions on top
    lut = np.zeros(256, dtype=np.float32)
    for name, lab in ORGAN_LABELS.items():
        lut[lab] = ORGAN_SUV[name]
    suv = lut[organs]
    les_lut = np.zeros(len(specs) + 1, dtype=np.float32)
    for n, spec in enumerate(specs, start=1):
        les_lut[n] = spec.suv
    lesion_mask = truth > 0
    suv[lesion_mask] = les_lut[truth[lesion_mask]]
    if fwhm_mm > 0:
        from scipy import ndimage

        sigma = [fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / sp for sp in spacing]
        ndimage.gaussian_filter(suv, sigma=sigma, output=suv, mode="constant", cval=0.0)
    if noise_sd > 0:
        for k in range(shape[0]):  # slab-wise: memory-lean
            sl = suv[k]
            sl *= 1.0 + noise_sd * rng.standard_normal(sl.shape, dtype=np.float32)
            np.maximum(sl, 0.0, out=sl)

    ct_vol = None
    if with_ct:
        hu = np.full(256, -1000.0, dtype=np.float32)
        for name, lab in ORGAN_LABELS.items():
            hu[lab] = ORGAN_CT_HU[name]
        ct = hu[organs]
        ct[lesion_mask] = LESION_CT_HU
        ct_vol = Volume(
            ct,
            affine,
            unit=Unit.HU,
            frame_of_reference_uid=None,
            meta={"synthetic": True, "seed": seed},
        )

    counts = (
        np.bincount(truth[lesion_mask].ravel(), minlength=len(specs) + 1)
        if specs
        else np.zeros(1, int)
    )
    vox_ml = abs(np.linalg.det(affine[:3, :3])) / 1000.0
    les_out = []
    for n, spec in enumerate(specs, start=1):
        c = tuple(float(v) for v in pose.anatomy_to_scanner(np.asarray(spec.center_mm))[0])
        les_out.append(
            SyntheticLesion(
                n,
                c,
                float(spec.radius_mm),
                float(spec.suv),
                spec.site,
                int(counts[n]),
                float(counts[n] * vox_ml),
            )
        )

    meta = {"synthetic": True, "seed": seed, "fov": fov, "fwhm_mm": fwhm_mm, "noise_sd": noise_sd}
    return SyntheticStudy(
        suv=Volume(suv, affine, unit=Unit.SUV_BW, meta=dict(meta)),
        ct=ct_vol,
        organs=Volume(organs, affine, unit=Unit.LABEL, meta={**meta, "labels": dict(ORGAN_LABELS)}),
        lesion_truth=Volume(truth, affine, unit=Unit.LABEL, meta=dict(meta)),
        lesions=les_out,
        patient=patient,
        pose=pose,
        seed=seed,
        fov=fov,
    )
