"""Read lesion masks made elsewhere (DICOM SEG, RTSTRUCT, NIfTI) onto the PET grid.

Pairing rule for DICOM SEG (the order matters):

1. **Study.** A SEG whose StudyInstanceUID differs from the PET's is refused
   (``SEG_OTHER_STUDY``): it segments another examination.
2. **Frame of reference.** Different FrameOfReferenceUIDs are refused
   (``FRAME_OF_REFERENCE_MISMATCH``): the coordinates are not comparable.
3. **SOP Instance UIDs.** When every frame's source image (DerivationImage /
   SourceImageSequence) is one of the PET's instances, frames are placed by UID
   and their ImagePositionPatient must agree with that slice.
4. **Series and geometry.** Otherwise (the ACRIN SEG objects reference UIDs of
   another copy of the PET) each frame is placed by its ImagePositionPatient on
   the PET grid: orientation, pixel spacing and matrix must match and the frame
   must fall on a slice centre with no in-plane offset (tolerance
   ``POSITION_TOL_VOXELS`` of a voxel). A :class:`~carpet.errors.HeaderWarning`
   says so. Anything else is a ``GeometryMismatchError``: a mask is never
   shifted or resampled silently.

Segments become lesions: label value = the lesion id carpet stored in the
segment's TrackingID (``"lesion <id>"``, see :mod:`carpet.export.seg`), else the
segment number. Empty segments are dropped with a QualityWarning; overlapping
segments are refused (a label map cannot hold them) unless ``segments`` selects
non-overlapping ones. FRACTIONAL segments are binarised at half their maximum
value (``>= 0.5``).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import GeometryMismatchError, HeaderWarning, InputError, QualityWarning
from carpet.units import Unit

__all__ = [
    "ImportedMask",
    "MaskReference",
    "POSITION_TOL_VOXELS",
    "SegmentInfo",
    "read_mask",
    "read_seg",
]

logger = logging.getLogger(__name__)

#: Largest offset (fraction of a voxel) accepted when placing a frame on the PET grid.
POSITION_TOL_VOXELS = 0.05

_SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


@dataclass(frozen=True)
class MaskReference:
    """Identity of the PET series a mask is paired with.

    Parameters
    ----------
    study_instance_uid, series_instance_uid : str or None
        Of the PET series (``None``: not checked).
    sop_instance_uids : sequence of str
        SOP Instance UID of each PET slice, in slice (k) order; empty when
        unknown (pairing by geometry only).
    """

    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uids: tuple[str, ...] = ()

    @classmethod
    def from_volume(cls, volume: Volume) -> MaskReference:
        """The UIDs :func:`carpet.ingest.dicom.read_series_volume` records in ``volume.meta``."""
        meta = volume.meta or {}
        return cls(
            study_instance_uid=meta.get("study_instance_uid") or None,
            series_instance_uid=meta.get("series_instance_uid") or None,
            sop_instance_uids=tuple(str(u) for u in meta.get("sop_instance_uids") or ()),
        )


@dataclass(frozen=True)
class SegmentInfo:
    """One imported segment or ROI.

    Attributes
    ----------
    label : int
        Value of its voxels in the imported label map (the lesion id).
    number : int
        Segment number (SEG) or ROI number (RTSTRUCT) in the source object.
    name : str
        Segment label / ROI name.
    n_voxels : int
        Voxels on the PET grid.
    """

    label: int
    number: int
    name: str
    n_voxels: int


@dataclass(frozen=True)
class ImportedMask:
    """A mask made by another tool, placed on the PET grid.

    Attributes
    ----------
    labels : Volume
        int32 lesion-id map on the PET grid (0 = background).
    segments : list of SegmentInfo
        The segments kept, in label order.
    pairing : str
        How the mask was paired with the PET: ``"sop_instance_uid"``,
        ``"geometry"`` or ``"grid"`` (NIfTI on the same grid).
    source : str
        Path of the mask file.
    warnings : list of str
        Messages of the warnings issued while reading (for provenance).
    """

    labels: Volume
    segments: list[SegmentInfo]
    pairing: str
    source: str
    warnings: list[str] = field(default_factory=list)


def _warn(msgs: list[str], message: str, category: type[Warning]) -> None:
    msgs.append(message)
    warnings.warn(message, category, stacklevel=3)


def _check_identity(
    ds, reference: Volume, ref: MaskReference, path: str, what: str, msgs: list[str]
) -> None:
    study = str(ds.get("StudyInstanceUID", "") or "")
    if ref.study_instance_uid and study and study != ref.study_instance_uid:
        raise InputError(
            f"{what} {path} belongs to study {study}, the PET to study {ref.study_instance_uid}; "
            "a mask of another study cannot be measured on this PET. Pass the mask of this study.",
            code="SEG_OTHER_STUDY",
        )
    for_uid = str(ds.get("FrameOfReferenceUID", "") or "")
    if not for_uid and "ReferencedFrameOfReferenceSequence" in ds:
        for_uid = str(ds.ReferencedFrameOfReferenceSequence[0].get("FrameOfReferenceUID", ""))
    if reference.frame_of_reference_uid and for_uid and for_uid != reference.frame_of_reference_uid:
        raise GeometryMismatchError(
            f"{what} {path} has FrameOfReferenceUID {for_uid}, the PET "
            f"{reference.frame_of_reference_uid}: their coordinates are not comparable. Register "
            "the mask to the PET first.",
            code="FRAME_OF_REFERENCE_MISMATCH",
        )
    if not reference.frame_of_reference_uid or not for_uid:
        _warn(msgs, f"{what} {path}: frame of reference not checked (UID missing)", HeaderWarning)


def _lesion_label(tracking_id: str | None, number: int) -> int:
    from carpet.export.seg import SEG_TRACKING_PREFIX

    if tracking_id:
        m = re.fullmatch(re.escape(SEG_TRACKING_PREFIX) + r"(\d+)", str(tracking_id).strip())
        if m:
            return int(m.group(1))
    return number


def read_seg(
    path: str | os.PathLike[str],
    reference: Volume,
    *,
    reference_uids: MaskReference | None = None,
    segments: Sequence[int] | None = None,
) -> ImportedMask:
    """Read a DICOM SEG onto the PET grid (see the module docstring for the rule).

    Parameters
    ----------
    path : path
        The SEG file.
    reference : Volume
        The PET volume (its grid and frame of reference are the target).
    reference_uids : MaskReference, optional
        Study/series/instance UIDs of the PET, for pairing by UID and the
        study check.
    segments : sequence of int, optional
        Segment numbers to import (default: all).

    Returns
    -------
    ImportedMask

    Raises
    ------
    InputError
        Not a SEG, another study, unknown segment numbers, overlapping segments,
        or no non-empty segment.
    GeometryMismatchError
        Another frame of reference, orientation, spacing or an off-grid frame.
    """
    import pydicom

    path = str(path)
    ref = reference_uids or MaskReference()
    msgs: list[str] = []
    try:
        ds = pydicom.dcmread(path)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(f"cannot read DICOM SEG {path}: {exc}", code="SEG_UNREADABLE") from exc
    if str(ds.get("SOPClassUID", "")) != _SEG_SOP_CLASS:
        raise InputError(
            f"{path} is not a DICOM SEG (SOPClassUID {ds.get('SOPClassUID', 'missing')}, Modality "
            f"{ds.get('Modality', '?')})",
            code="NOT_A_SEG",
        )
    _check_identity(ds, reference, ref, path, "SEG", msgs)

    seg_numbers = [int(s.SegmentNumber) for s in ds.SegmentSequence]
    names = {int(s.SegmentNumber): str(s.get("SegmentLabel", "")) for s in ds.SegmentSequence}
    tracking = {int(s.SegmentNumber): s.get("TrackingID") for s in ds.SegmentSequence}
    wanted = list(seg_numbers) if segments is None else [int(s) for s in segments]
    unknown = sorted(set(wanted) - set(seg_numbers))
    if unknown:
        raise InputError(
            f"SEG {path} has no segment(s) {unknown}; it has {seg_numbers} "
            f"({', '.join(f'{n}={names[n]!r}' for n in seg_numbers)})",
            code="UNKNOWN_SEGMENT",
        )

    n_slices, n_rows, n_cols = reference.shape
    pixels = ds.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[None]
    n_frames = int(ds.get("NumberOfFrames", 1))
    shared = (
        ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    )
    per_frame = ds.PerFrameFunctionalGroupsSequence

    def _item(fg, name):
        if name in fg:
            return fg[name].value[0]
        if shared is not None and name in shared:
            return shared[name].value[0]
        return None

    is_fractional = str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL"
    max_frac = float(ds.get("MaximumFractionalValue", 255) or 255)
    sop_index = {uid: k for k, uid in enumerate(ref.sop_instance_uids)}

    # Frame -> (segment number, slice index), checking geometry of every frame.
    placements: list[tuple[int, int]] = []
    by_uid = bool(sop_index)
    frame_uids: list[str | None] = []
    for f in range(n_frames):
        fg = per_frame[f]
        sid = _item(fg, "SegmentIdentificationSequence")
        frame_uid = None
        der = _item(fg, "DerivationImageSequence")
        if der is not None and "SourceImageSequence" in der and len(der.SourceImageSequence):
            frame_uid = str(der.SourceImageSequence[0].ReferencedSOPInstanceUID)
        frame_uids.append(frame_uid)
        if frame_uid is None or frame_uid not in sop_index:
            by_uid = False
        placements.append((int(sid.ReferencedSegmentNumber), -1))

    pixel_measures = _item(per_frame[0], "PixelMeasuresSequence")
    orient = _item(per_frame[0], "PlaneOrientationSequence")
    if pixel_measures is None or orient is None:
        raise InputError(f"SEG {path} lacks PixelMeasures or PlaneOrientation", code="SEG_GEOMETRY")
    ps = np.asarray(pixel_measures.PixelSpacing, dtype=float)
    iop = np.asarray(orient.ImageOrientationPatient, dtype=float)
    if (
        int(ds.Rows) != n_rows
        or int(ds.Columns) != n_cols
        or not np.allclose(iop[3:] * ps[0], reference.affine[:3, 1], atol=1e-3 * max(ps[0], 1))
        or not np.allclose(iop[:3] * ps[1], reference.affine[:3, 2], atol=1e-3 * max(ps[1], 1))
    ):
        raise GeometryMismatchError(
            f"SEG {path} is on another grid: {ds.Rows}x{ds.Columns} pixels of {ps.tolist()} mm, "
            f"orientation {iop.tolist()}; the PET has {n_rows}x{n_cols} pixels of "
            f"{list(reference.spacing_mm[1:])} mm. Resample the mask onto the PET grid first "
            "(carpet never measures a shifted or resampled mask silently).",
            code="MASK_GRID_MISMATCH",
        )

    positions = []
    for f in range(n_frames):
        pos = _item(per_frame[f], "PlanePositionSequence")
        if pos is None:
            raise InputError(
                f"SEG {path} frame {f + 1} has no ImagePositionPatient", code="SEG_GEOMETRY"
            )
        positions.append([float(v) for v in pos.ImagePositionPatient])
        if "PlaneOrientationSequence" in per_frame[f]:  # per-frame orientation: all must match
            o = per_frame[f].PlaneOrientationSequence[0].ImageOrientationPatient
            if not np.allclose(np.asarray(o, dtype=float), iop, atol=1e-4):
                raise GeometryMismatchError(
                    f"SEG {path} frame {f + 1} has orientation {list(o)}, frame 1 {iop.tolist()}; "
                    "frames of one SEG must share the PET's orientation",
                    code="MASK_GRID_MISMATCH",
                )
    frac = reference.world_to_index(np.asarray(positions, dtype=float).reshape(-1, 3))
    for f in range(n_frames):
        k, j, i = frac[f]
        kr = int(round(k))
        off = max(abs(k - kr), abs(j), abs(i))
        if by_uid:
            k_uid = sop_index[frame_uids[f]]
            if k_uid != kr or off > POSITION_TOL_VOXELS:
                raise GeometryMismatchError(
                    f"SEG {path} frame {f + 1} references PET slice {k_uid} by UID but lies at "
                    f"fractional index ({k:.3f}, {j:.3f}, {i:.3f})",
                    code="MASK_GRID_MISMATCH",
                )
        elif off > POSITION_TOL_VOXELS or not 0 <= kr < n_slices:
            raise GeometryMismatchError(
                f"SEG {path} frame {f + 1} at {positions[f]} mm is not on the PET grid "
                f"(fractional index {k:.3f}, {j:.3f}, {i:.3f}; tolerance {POSITION_TOL_VOXELS} voxel). "
                "Resample the mask onto the PET grid first.",
                code="MASK_GRID_MISMATCH",
            )
        placements[f] = (placements[f][0], kr)

    if not by_uid:
        ref_series = [str(s.SeriesInstanceUID) for s in ds.get("ReferencedSeriesSequence", [])]
        series_note = (
            "its referenced series is the PET series"
            if ref.series_instance_uid and ref.series_instance_uid in ref_series
            else f"its referenced series {ref_series or 'unknown'} is not the PET series "
            f"{ref.series_instance_uid or 'unknown'}"
        )
        why = (
            "referenced SOP Instance UIDs do not match the PET instances"
            if sop_index
            else "the PET's SOP Instance UIDs are unknown (not read from DICOM)"
        )
        _warn(
            msgs,
            f"SEG {path}: {why}; paired by frame of reference and geometry instead ({series_note}; "
            "every frame lies on a PET slice).",
            HeaderWarning,
        )

    # Lesion label of each selected segment (the TrackingID's lesion id when unique).
    seg_label: dict[int, int] = {}
    for snum in wanted:
        lab = _lesion_label(tracking.get(snum), snum)
        if lab in seg_label.values():
            lab = snum if snum not in seg_label.values() else max(seg_label.values()) + 1
        seg_label[snum] = lab
    # Frames are written straight into one label map (memory: one int32 volume, whatever
    # the number of segments); a voxel claimed by two segments is an overlap.
    labels = np.zeros(reference.shape, dtype=np.int32)
    counts = dict.fromkeys(wanted, 0)
    for f, (snum, k) in enumerate(placements):
        lab = seg_label.get(snum)
        if lab is None:
            continue
        frame = pixels[f]
        on = frame >= 0.5 * max_frac if is_fractional else frame != 0
        if not on.any():
            continue
        plane = labels[k]
        prev = plane[on]
        clash = (prev != 0) & (prev != lab)
        if clash.any():
            other = sorted({int(v) for v in prev[clash]})
            raise InputError(
                f"SEG {path}: segment {snum} ({names[snum]!r}) overlaps segment(s) labelled {other} in "
                f"{int(clash.sum())} voxels of slice {k}; a lesion label map cannot hold overlapping segments. "
                "Select non-overlapping segments (--segment N).",
                code="OVERLAPPING_SEGMENTS",
            )
        counts[snum] += int(np.count_nonzero(prev == 0))
        plane[on] = lab

    infos: list[SegmentInfo] = []
    for snum in wanted:
        if counts[snum] == 0:
            _warn(
                msgs,
                f"SEG {path}: segment {snum} ({names[snum]!r}) is empty on the PET grid; skipped",
                QualityWarning,
            )
            continue
        infos.append(
            SegmentInfo(label=seg_label[snum], number=snum, name=names[snum], n_voxels=counts[snum])
        )
    if not infos:
        raise InputError(
            f"SEG {path}: every selected segment ({wanted}) is empty on the PET grid; nothing to measure",
            code="EMPTY_MASK",
        )
    infos.sort(key=lambda s: s.label)
    vol = reference.with_array(labels, unit=Unit.LABEL)
    return ImportedMask(
        labels=vol,
        segments=infos,
        pairing="sop_instance_uid" if by_uid else "geometry",
        source=path,
        warnings=msgs,
    )


def read_mask(
    path: str | os.PathLike[str],
    reference: Volume,
    *,
    reference_uids: MaskReference | None = None,
    segments: Sequence[int] | None = None,
    rtstruct_planes: str = "exact",
) -> ImportedMask:
    """Read a DICOM SEG, an RTSTRUCT or a NIfTI label map onto the PET grid.

    The kind is recognised from the content (SOP Class UID for DICOM, the
    ``.nii``/``.nii.gz`` suffix for NIfTI). NIfTI label maps must already be on
    the PET grid (``GeometryMismatchError`` otherwise); their non-zero integer
    values are the lesion ids.

    Parameters
    ----------
    path : path
        Mask file (a folder holding exactly one SEG/RTSTRUCT file is accepted).
    reference : Volume
        The PET volume.
    reference_uids : MaskReference, optional
        UIDs of the PET for pairing.
    segments : sequence of int, optional
        Segment / ROI numbers to import (default: all).
    rtstruct_planes : {"exact", "nearest"}
        RTSTRUCT contours off the PET slice planes: refused, or the nearest-plane
        rule (see :mod:`carpet.ingest.rtstruct`).

    Returns
    -------
    ImportedMask
    """
    import pydicom

    p = Path(path)
    if not p.exists():
        raise InputError(f"mask not found: {p}", code="MASK_NOT_FOUND")
    if p.is_dir():
        files = [f for f in sorted(p.rglob("*")) if f.is_file()]
        if len(files) != 1:
            raise InputError(
                f"mask folder {p} holds {len(files)} files; pass the SEG or RTSTRUCT file itself",
                code="MASK_AMBIGUOUS",
            )
        p = files[0]
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return _read_nifti_mask(p, reference, segments)
    try:
        head = pydicom.dcmread(
            p, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"]
        )
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(
            f"mask {p} is neither NIfTI (.nii/.nii.gz) nor readable DICOM: {exc}",
            code="MASK_UNREADABLE",
        ) from exc
    sop = str(head.get("SOPClassUID", ""))
    if sop == _SEG_SOP_CLASS:
        return read_seg(p, reference, reference_uids=reference_uids, segments=segments)
    if sop == _RTSTRUCT_SOP_CLASS:
        from carpet.ingest.rtstruct import read_rtstruct

        return read_rtstruct(
            p, reference, reference_uids=reference_uids, rois=segments, slice_planes=rtstruct_planes
        )
    raise InputError(
        f"mask {p} is DICOM {head.get('Modality', '?')} (SOP class {sop}), not a SEG or RTSTRUCT",
        code="MASK_UNSUPPORTED",
    )


def _read_nifti_mask(p: Path, reference: Volume, segments: Sequence[int] | None) -> ImportedMask:
    from carpet.ingest.nifti import read_nifti

    vol = read_nifti(p)
    reference.check_same_grid(
        vol, what=f"NIfTI mask {p}", atol_mm=POSITION_TOL_VOXELS * min(reference.spacing_mm)
    )
    arr = np.asarray(vol.array)
    if not np.issubdtype(arr.dtype, np.integer):
        rounded = np.rint(arr)
        if not np.allclose(arr, rounded):
            raise InputError(
                f"NIfTI mask {p} holds non-integer values (e.g. {arr[arr != rounded].flat[0]}); expected a "
                "label map (0 = background, lesion ids > 0)",
                code="MASK_NOT_LABELS",
            )
        arr = rounded
    arr = arr.astype(np.int32)
    if segments is not None:
        arr = np.where(np.isin(arr, list(segments)), arr, 0).astype(np.int32)
    msgs: list[str] = []
    ids = [int(v) for v in np.unique(arr) if v > 0]
    if (arr < 0).any():
        raise InputError(f"NIfTI mask {p} has negative labels", code="MASK_NOT_LABELS")
    if not ids:
        raise InputError(
            f"NIfTI mask {p} is empty (no non-zero voxel){' for the selected labels' if segments else ''}",
            code="EMPTY_MASK",
        )
    counts = np.bincount(arr.ravel())
    infos = [
        SegmentInfo(label=i, number=i, name=f"label {i}", n_voxels=int(counts[i])) for i in ids
    ]
    return ImportedMask(
        labels=reference.with_array(arr),
        segments=infos,
        pairing="grid",
        source=str(p),
        warnings=msgs,
    )
