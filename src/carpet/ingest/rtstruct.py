"""Read RTSTRUCT contours onto the PET grid (rasterisation rule below).

Pairing and identity checks are those of DICOM SEG (:mod:`carpet.ingest.seg`):
another study or another frame of reference is refused.

Rasterisation rule (documented, and the exact inverse of
:mod:`carpet.export.rtstruct`):

1. Only CLOSED_PLANAR contours are used (POINT/OPEN contours are skipped with a
   HeaderWarning).
2. A contour belongs to PET slice ``k`` when all its vertices lie on that
   slice's plane: their fractional slice index is within
   ``POSITION_TOL_VOXELS`` (0.05) of the integer ``k``. By default
   (``slice_planes="exact"``) a contour between slices (drawn on a CT with
   another spacing) is refused with a ``GeometryMismatchError``: carpet does
   not guess which slice was meant. With ``slice_planes="nearest"`` (CLI
   ``--rtstruct-planes nearest``) each PET slice takes the polygons of the
   contour plane nearest to its centre, if one lies within half a PET slice
   (ties: the lower plane), with a HeaderWarning. Oblique contours (not
   parallel to the PET slices) are always refused.
3. On a slice, a voxel belongs to the ROI when its **centre** is inside an
   **odd** number of the ROI's polygons on that slice (even-odd rule: a polygon
   inside another is a hole). Points exactly on an edge count as outside.
4. Each ROI is one lesion, labelled with its ROI Number. Empty ROIs are skipped
   with a QualityWarning; overlapping ROIs are refused (select with ``rois``).
   Polygons reaching outside the PET field of view are clipped to it with a
   QualityWarning.

Tolerance of the round trip label map → RTSTRUCT → label map: identical voxels
for carpet's own RTSTRUCTs (tested). Contours from other tools agree with their
own rasterisation up to the boundary voxels whose centres lie within rounding
distance of an edge (tools differ on centre-vs-area rules).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import (
    ConfigError,
    GeometryMismatchError,
    HeaderWarning,
    InputError,
    QualityWarning,
)
from carpet.ingest.seg import (
    POSITION_TOL_VOXELS,
    ImportedMask,
    MaskReference,
    SegmentInfo,
    _check_identity,
    _warn,
)
from carpet.units import Unit

__all__ = ["rasterize_polygons", "read_rtstruct"]

logger = logging.getLogger(__name__)


def rasterize_polygons(polygons: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Even-odd rasterisation of polygons at voxel centres.

    Parameters
    ----------
    polygons : sequence of ndarray of shape (N, 2)
        Vertices as (row, column) fractional voxel indices.
    shape : (R, C)
        Slice shape.

    Returns
    -------
    ndarray of bool, shape (R, C)
        True where the voxel centre is inside an odd number of polygons.

    Examples
    --------
    >>> sq = np.array([[0.5, 0.5], [0.5, 2.5], [2.5, 2.5], [2.5, 0.5]])
    >>> rasterize_polygons([sq], (4, 4)).astype(int).tolist()
    [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    from matplotlib.path import Path as MplPath

    out = np.zeros(shape, dtype=bool)
    for poly in polygons:
        r_lo = max(int(np.ceil(poly[:, 0].min())), 0)
        r_hi = min(int(np.floor(poly[:, 0].max())), shape[0] - 1)
        c_lo = max(int(np.ceil(poly[:, 1].min())), 0)
        c_hi = min(int(np.floor(poly[:, 1].max())), shape[1] - 1)
        if r_hi < r_lo or c_hi < c_lo:
            continue
        rr, cc = np.mgrid[r_lo : r_hi + 1, c_lo : c_hi + 1]
        pts = np.column_stack([rr.ravel(), cc.ravel()]).astype(np.float64)
        inside = MplPath(poly, closed=False).contains_points(pts, radius=0.0)
        out[r_lo : r_hi + 1, c_lo : c_hi + 1] ^= inside.reshape(rr.shape)
    return out


def read_rtstruct(
    path: str | os.PathLike[str],
    reference: Volume,
    *,
    reference_uids: MaskReference | None = None,
    rois: Sequence[int] | None = None,
    slice_planes: str = "exact",
) -> ImportedMask:
    """Rasterise an RTSTRUCT's ROIs on the PET grid (rule in the module docstring).

    Parameters
    ----------
    path : path
        The RTSTRUCT file.
    reference : Volume
        The PET volume.
    reference_uids : MaskReference, optional
        UIDs of the PET (study check).
    rois : sequence of int, optional
        ROI numbers to import (default: all).
    slice_planes : {"exact", "nearest"}
        Rule for contours not on a PET slice plane (module docstring, rule 2).

    Returns
    -------
    ImportedMask
        ``pairing`` is ``"geometry"`` (contours are in patient coordinates).

    Raises
    ------
    InputError
        Not an RTSTRUCT, another study, unknown ROI numbers, overlapping ROIs,
        or nothing inside the PET field of view.
    GeometryMismatchError
        Another frame of reference, or a contour not on a PET slice plane.
    """
    import pydicom

    path = str(path)
    ref = reference_uids or MaskReference()
    msgs: list[str] = []
    try:
        ds = pydicom.dcmread(path)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(f"cannot read RTSTRUCT {path}: {exc}", code="RTSTRUCT_UNREADABLE") from exc
    if str(ds.get("Modality", "")) != "RTSTRUCT" or "ROIContourSequence" not in ds:
        raise InputError(
            f"{path} is not an RTSTRUCT (Modality {ds.get('Modality', '?')})",
            code="NOT_AN_RTSTRUCT",
        )
    _check_identity(ds, reference, ref, path, "RTSTRUCT", msgs)
    names = {
        int(r.ROINumber): str(r.get("ROIName", "")) for r in ds.get("StructureSetROISequence", [])
    }
    for r in ds.get("StructureSetROISequence", []):
        rfor = str(r.get("ReferencedFrameOfReferenceUID", "") or "")
        if reference.frame_of_reference_uid and rfor and rfor != reference.frame_of_reference_uid:
            raise GeometryMismatchError(
                f"RTSTRUCT {path} ROI {int(r.ROINumber)} ({names[int(r.ROINumber)]!r}) is in frame of "
                f"reference {rfor}, the PET in {reference.frame_of_reference_uid}",
                code="FRAME_OF_REFERENCE_MISMATCH",
            )
    contours_by_roi = {
        int(rc.ReferencedROINumber): rc.get("ContourSequence", []) for rc in ds.ROIContourSequence
    }
    available = sorted(contours_by_roi)
    wanted = available if rois is None else [int(r) for r in rois]
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise InputError(
            f"RTSTRUCT {path} has no ROI(s) {unknown}; it has "
            + ", ".join(f"{n}={names.get(n, '')!r}" for n in available),
            code="UNKNOWN_SEGMENT",
        )

    n_slices, n_rows, n_cols = reference.shape
    labels = np.zeros(reference.shape, dtype=np.int32)
    infos: list[SegmentInfo] = []
    clipped: list[int] = []
    off_plane_rois: set[int] = set()
    if slice_planes not in ("exact", "nearest"):
        raise ConfigError(
            f"slice_planes must be 'exact' or 'nearest'; got {slice_planes!r}", code="BAD_OPTION"
        )
    for roi in wanted:
        planes: dict[float, list[np.ndarray]] = {}
        for c in contours_by_roi[roi]:
            kind = str(c.get("ContourGeometricType", "CLOSED_PLANAR"))
            if kind != "CLOSED_PLANAR":
                _warn(
                    msgs,
                    f"RTSTRUCT {path} ROI {roi}: {kind} contour skipped (only CLOSED_PLANAR is rasterised)",
                    HeaderWarning,
                )
                continue
            pts = np.asarray(c.ContourData, dtype=np.float64).reshape(-1, 3)
            idx = reference.world_to_index(pts)
            k = float(np.median(idx[:, 0]))
            kr = int(round(k))
            spread = float(np.ptp(idx[:, 0]))
            off_plane = np.max(np.abs(idx[:, 0] - kr)) > POSITION_TOL_VOXELS
            if spread > 2 * POSITION_TOL_VOXELS or (off_plane and slice_planes == "exact"):
                raise GeometryMismatchError(
                    f"RTSTRUCT {path} ROI {roi} ({names.get(roi, '')!r}): a contour at z≈{pts[:, 2].mean():.2f} mm "
                    f"lies between PET slices or is not parallel to them (fractional slice index "
                    f"{idx[:, 0].min():.3f}..{idx[:, 0].max():.3f}, tolerance {POSITION_TOL_VOXELS}). "
                    "Contours must be drawn on the PET slices (or, for contours drawn on another "
                    "parallel series such as the CT, use the nearest-plane rule: --rtstruct-planes nearest).",
                    code="MASK_GRID_MISMATCH",
                )
            if off_plane:
                off_plane_rois.add(roi)
            poly = idx[:, 1:]
            if (
                poly[:, 0].min() < -0.5
                or poly[:, 1].min() < -0.5
                or poly[:, 0].max() > n_rows - 0.5
                or poly[:, 1].max() > n_cols - 0.5
            ):
                clipped.append(roi)
            plane_k = float(kr) if not off_plane else round(k, 3)
            planes.setdefault(plane_k, []).append(poly)
        by_slice: dict[int, list[np.ndarray]] = {}
        if planes:
            keys = np.array(sorted(planes))
            for s_idx in range(n_slices):
                d = np.abs(keys - s_idx)
                # nearest plane; ties (equal within the 1e-3 grouping precision) go to the lower one
                j = int(np.nonzero(d <= d.min() + 2e-3)[0][0])
                if d[j] <= 0.5 + 2e-3:
                    by_slice[s_idx] = planes[float(keys[j])]
            if any(k < -0.5 or k > n_slices - 0.5 for k in planes):
                clipped.append(roi)
        m = np.zeros(reference.shape, dtype=bool)
        for k, polys in by_slice.items():
            m[k] = rasterize_polygons(polys, (n_rows, n_cols))
        count = int(m.sum())
        if count == 0:
            _warn(
                msgs,
                f"RTSTRUCT {path}: ROI {roi} ({names.get(roi, '')!r}) covers no PET voxel centre; skipped",
                QualityWarning,
            )
            continue
        overlap = labels[m] != 0
        if overlap.any():
            other = sorted({int(v) for v in labels[m][overlap]})
            raise InputError(
                f"RTSTRUCT {path}: ROI {roi} ({names.get(roi, '')!r}) overlaps ROI(s) {other} in "
                f"{int(overlap.sum())} voxels; a lesion label map cannot hold overlapping ROIs. Select "
                "non-overlapping ROIs (--segment N).",
                code="OVERLAPPING_SEGMENTS",
            )
        labels[m] = roi
        infos.append(SegmentInfo(label=roi, number=roi, name=names.get(roi, ""), n_voxels=count))
    if off_plane_rois:
        _warn(
            msgs,
            f"RTSTRUCT {path}: ROI(s) {sorted(off_plane_rois)} are drawn between PET slices; each PET slice "
            "took the contours of the nearest contour plane within half a slice (nearest-plane rule)",
            HeaderWarning,
        )
    for roi in sorted(set(clipped)):
        _warn(
            msgs,
            f"RTSTRUCT {path}: ROI {roi} reaches outside the PET field of view; clipped to it",
            QualityWarning,
        )
    if not infos:
        raise InputError(
            f"RTSTRUCT {path}: no selected ROI ({wanted}) covers a PET voxel; nothing to measure",
            code="EMPTY_MASK",
        )
    return ImportedMask(
        labels=reference.with_array(labels, unit=Unit.LABEL),
        segments=sorted(infos, key=lambda s: s.label),
        pairing="geometry",
        source=path,
        warnings=msgs,
    )
