"""The one geometry type of carpet: :class:`Volume`.

Convention (decided once, see ``docs/architecture.md``):

* ``array`` is indexed **(slice, row, column)** = (k, j, i). For a DICOM series,
  slice ``k`` is the k-th image in order along the slice normal, row ``j`` and
  column ``i`` are the DICOM row and column of that image.
* ``affine`` is a 4×4 matrix mapping homogeneous **(k, j, i, 1)** indices to
  **DICOM patient coordinates (LPS) in millimetres**::

      [x, y, z, 1]ᵀ = affine @ [k, j, i, 1]ᵀ

  so ``affine[:3, 0]`` is the step between slices, ``affine[:3, 1]`` the step
  between rows (DICOM column-direction cosine × PixelSpacing[0]),
  ``affine[:3, 2]`` the step between columns (row-direction cosine ×
  PixelSpacing[1]) and ``affine[:3, 3]`` the centre of the first voxel
  (ImagePositionPatient of the first slice).

NIfTI's RAS convention is converted at the file edge (``carpet.ingest.nifti``)
and nowhere else.

Examples
--------
>>> import numpy as np
>>> aff = np.array([[0, 0, 2.0, 0], [0, 2.0, 0, 0], [3.0, 0, 0, 0], [0, 0, 0, 1]])
>>> v = Volume(np.zeros((2, 3, 4), np.float32), aff)  # axial slices 3 mm apart, 2 mm pixels
>>> v.spacing_mm
(3.0, 2.0, 2.0)
>>> v.orientation
'SPL'
>>> round(v.voxel_volume_ml, 6)
0.012
>>> v.index_to_world([[1, 0, 0]]).tolist()
[[0.0, 0.0, 3.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from carpet.errors import ConfigError, GeometryMismatchError
from carpet.units import Unit

__all__ = ["Volume", "affine_from_dicom", "GRID_ATOL_MM"]

#: Default tolerance (mm) when comparing two grids' positions.
GRID_ATOL_MM = 1e-3


def affine_from_dicom(
    image_position_patient: Any,
    image_orientation_patient: Any,
    pixel_spacing: Any,
    slice_step: Any,
) -> np.ndarray:
    """Build the (k, j, i) → LPS affine from DICOM attributes.

    Parameters
    ----------
    image_position_patient : sequence of 3 float
        ImagePositionPatient (0020,0032) of the first slice, mm.
    image_orientation_patient : sequence of 6 float
        ImageOrientationPatient (0020,0037): row direction cosine then column
        direction cosine.
    pixel_spacing : sequence of 2 float
        PixelSpacing (0028,0030): (between rows, between columns), mm.
    slice_step : sequence of 3 float
        Vector from the first slice's position to the second's, mm (LPS).

    Returns
    -------
    ndarray of shape (4, 4)
    """
    iop = np.asarray(image_orientation_patient, dtype=np.float64)
    row_cos, col_cos = iop[:3], iop[3:]
    ps = np.asarray(pixel_spacing, dtype=np.float64)
    aff = np.eye(4)
    aff[:3, 0] = np.asarray(slice_step, dtype=np.float64)
    aff[:3, 1] = col_cos * ps[0]
    aff[:3, 2] = row_cos * ps[1]
    aff[:3, 3] = np.asarray(image_position_patient, dtype=np.float64)
    return aff


@dataclass(frozen=True, eq=False, repr=False)
class Volume:
    """A 3-D image on a grid in DICOM patient space.

    Parameters
    ----------
    array : ndarray of shape (S, R, C)
        Voxel values in (slice, row, column) order.
    affine : ndarray of shape (4, 4)
        Maps (k, j, i, 1) indices to LPS millimetres (see module docstring).
    unit : Unit
        Unit of the voxel values.
    frame_of_reference_uid : str or None
        DICOM FrameOfReferenceUID, when known.
    meta : dict
        Free-form provenance (series UID, source path, ...). Not used in maths.

    Raises
    ------
    ConfigError
        If the array is not 3-D or the affine is not a finite, invertible 4×4
        matrix with last row (0, 0, 0, 1).
    """

    array: np.ndarray
    affine: np.ndarray
    unit: Unit = Unit.UNKNOWN
    frame_of_reference_uid: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise ConfigError(
                f"Volume array must be 3-D (slice, row, col); got shape {arr.shape}",
                code="BAD_VOLUME",
            )
        aff = np.array(self.affine, dtype=np.float64)
        if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
            raise ConfigError(
                f"Volume affine must be a finite 4x4 matrix; got {aff!r}", code="BAD_AFFINE"
            )
        if not np.allclose(aff[3], [0, 0, 0, 1]):
            raise ConfigError(
                f"Volume affine last row must be [0, 0, 0, 1]; got {aff[3]}", code="BAD_AFFINE"
            )
        if abs(np.linalg.det(aff[:3, :3])) < 1e-12:
            raise ConfigError("Volume affine is singular (zero voxel size)", code="BAD_AFFINE")
        aff.setflags(write=False)
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "affine", aff)
        object.__setattr__(self, "unit", Unit(self.unit))

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (S, R, C)."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel spacing along (slice, row, column), mm."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel, mL (|det| of the 3×3 part / 1000)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    @property
    def direction(self) -> np.ndarray:
        """3×3 matrix of unit direction vectors (columns: slice, row, column axes)."""
        return self.affine[:3, :3] / np.array(self.spacing_mm)

    @property
    def orientation(self) -> str:
        """Three-letter LPS code of the (slice, row, column) axes, e.g. ``'SPL'``.

        Each letter is the patient direction the index increases towards
        (L/R, P/A, S/I), from the dominant component of the axis.
        """
        letters = (("L", "R"), ("P", "A"), ("S", "I"))
        out = []
        for axis in self.direction.T:
            d = int(np.argmax(np.abs(axis)))
            out.append(letters[d][0] if axis[d] > 0 else letters[d][1])
        return "".join(out)

    @property
    def nbytes(self) -> int:
        """Memory of the array, bytes."""
        return int(self.array.nbytes)

    def index_to_world(self, indices: Any) -> np.ndarray:
        """Map (k, j, i) indices (N×3, may be fractional) to LPS mm (N×3)."""
        idx = np.atleast_2d(np.asarray(indices, dtype=np.float64))
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_index(self, points_mm: Any) -> np.ndarray:
        """Map LPS mm points (N×3) to fractional (k, j, i) indices (N×3)."""
        pts = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        return (pts - self.affine[:3, 3]) @ np.linalg.inv(self.affine[:3, :3]).T

    def same_grid_as(self, other: Volume, *, atol_mm: float = GRID_ATOL_MM) -> bool:
        """True if ``other`` has the same shape and voxel positions (within ``atol_mm``)."""
        if self.shape != other.shape:
            return False
        corners = np.array(
            [[0, 0, 0], [s - 1 for s in self.shape], [self.shape[0] - 1, 0, 0], [0, 0, 1], [0, 1, 0]],
            dtype=float,
        )
        return bool(
            np.allclose(self.index_to_world(corners), other.index_to_world(corners), atol=atol_mm)
        )

    def check_same_grid(self, other: Volume, *, what: str = "volume", atol_mm: float = GRID_ATOL_MM) -> None:
        """Raise :class:`GeometryMismatchError` unless ``other`` is on this grid."""
        if not self.same_grid_as(other, atol_mm=atol_mm):
            raise GeometryMismatchError(
                f"{what} is not on the reference grid: got shape {other.shape}, spacing "
                f"{_fmt(other.spacing_mm)} mm, origin {_fmt(other.affine[:3, 3])}; expected shape "
                f"{self.shape}, spacing {_fmt(self.spacing_mm)} mm, origin "
                f"{_fmt(self.affine[:3, 3])}. Resample it onto the PET grid first.",
                grids=(self.shape, other.shape),
            )

    def with_array(self, array: np.ndarray, *, unit: Unit | None = None, **meta: Any) -> Volume:
        """A new Volume on the same grid with another array (same shape required)."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise GeometryMismatchError(
                f"with_array: shape {array.shape} differs from the grid's {self.array.shape}"
            )
        return Volume(
            array,
            self.affine,
            unit=self.unit if unit is None else unit,
            frame_of_reference_uid=self.frame_of_reference_uid,
            meta={**self.meta, **meta},
        )

    def __repr__(self) -> str:
        mib = self.nbytes / 2**20
        return (
            f"Volume(shape={self.shape}, spacing_mm={_fmt(self.spacing_mm)}, "
            f"orientation={self.orientation}, unit={self.unit.value}, "
            f"dtype={self.array.dtype}, memory={mib:.1f} MiB)"
        )


def _fmt(values: Any) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in values) + ")"
