"""Lesion label maps as DICOM Segmentation (SEG) objects, written with highdicom.

The SEG references the source PET series (every frame derives from the PET
instance at the same position), uses SNOMED CT codes for the segmented property
("Morphologically Abnormal Structure" / "Neoplasm", as dcmqi and OHIF do) and
identifies the algorithm (name ``carpet``, carpet's version, the segmentation
method as an algorithm parameter). Segmentation type is BINARY, the type every
viewer (OHIF, 3D Slicer, MIM) reads.

Two layouts (``mode``):

``"lesions"``
    One segment per lesion. Segment numbers are 1..N in increasing lesion id;
    the lesion id is kept in each segment's TrackingID (``"lesion <id>"``) so
    :func:`carpet.ingest.seg.read_seg` gives back the same label values.
``"tumour"``
    One segment holding every lesion voxel (label 1 on import).

The patient and study attributes of the SEG are those of the source PET (a SEG
must belong to the patient and study it segments); nothing else about the
patient is added.

Examples
--------
>>> import numpy as np
>>> lesion_ids_to_segments(np.array([[[0, 7, 3]]]))
[3, 7]
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydicom.dataset import Dataset

from carpet._io import atomic_write_bytes
from carpet.core.volume import Volume
from carpet.errors import ConfigError, GeometryMismatchError, InputError

__all__ = [
    "SEG_TRACKING_PREFIX",
    "complete_type2",
    "drop_invalid_clinical_trial_subject",
    "labels_to_seg",
    "lesion_ids_to_segments",
    "order_source_datasets",
    "write_seg",
]

logger = logging.getLogger(__name__)

#: Prefix of the TrackingID that carries carpet's lesion id in each segment.
SEG_TRACKING_PREFIX = "lesion "

#: Distinct display colours (RGB) cycled over segments (RecommendedDisplayCIELabValue, used by OHIF/Slicer).
_DISPLAY_RGB = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
]

#: Tolerance (in voxels) when matching a source instance to a slice of the grid.
_POSITION_TOL_VOXELS = 1e-2


def lesion_ids_to_segments(labels: np.ndarray) -> list[int]:
    """Sorted lesion ids present in an integer label array (0 = background).

    Parameters
    ----------
    labels : ndarray of int
        Label map; 0 is background, every other value a lesion id.

    Returns
    -------
    list of int
        The ids in increasing order; segment ``n`` (1-based) of a
        ``mode="lesions"`` SEG holds lesion ``ids[n - 1]``.
    """
    ids = np.unique(np.asarray(labels))
    return [int(v) for v in ids if v != 0]


def order_source_datasets(labels: Volume, source_datasets: Sequence[Dataset]) -> list[Dataset]:
    """Return the source PET instances in the slice order of ``labels``.

    Each instance's ImagePositionPatient is mapped to the label grid; it must
    fall on a slice centre (in-plane offset 0) with the same orientation and
    pixel spacing, and every slice must have exactly one instance.

    Parameters
    ----------
    labels : Volume
        Label map on the PET grid.
    source_datasets : sequence of pydicom Dataset
        The PET instances (pixel data not needed).

    Returns
    -------
    list of Dataset
        ``out[k]`` is the instance of slice ``k``.

    Raises
    ------
    GeometryMismatchError
        If the instances do not tile the label grid exactly.
    """
    n_slices, n_rows, n_cols = labels.shape
    out: list[Dataset | None] = [None] * n_slices
    for ds in source_datasets:
        try:
            ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
            iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
            ps = np.asarray(ds.PixelSpacing, dtype=float)
        except AttributeError as exc:
            raise InputError(
                f"source instance {ds.get('SOPInstanceUID', '?')} lacks geometry ({exc}); "
                "SEG export needs the PET instances with ImagePositionPatient, "
                "ImageOrientationPatient and PixelSpacing",
                code="SEG_SOURCE_GEOMETRY",
            ) from exc
        expected_rows = labels.affine[:3, 1]
        expected_cols = labels.affine[:3, 2]
        if (
            int(ds.Rows) != n_rows
            or int(ds.Columns) != n_cols
            or not np.allclose(iop[3:] * ps[0], expected_rows, atol=1e-3)
            or not np.allclose(iop[:3] * ps[1], expected_cols, atol=1e-3)
        ):
            raise GeometryMismatchError(
                f"source instance {ds.SOPInstanceUID}: {ds.Rows}x{ds.Columns} pixels, orientation "
                f"{iop.tolist()}, spacing {ps.tolist()} mm does not match the label grid "
                f"{n_rows}x{n_cols}, spacing {labels.spacing_mm[1:]} mm. Pass the instances of the "
                "PET series the labels were computed on.",
                code="SEG_SOURCE_MISMATCH",
            )
        k, j, i = labels.world_to_index(ipp)[0]
        kr = int(round(k))
        if (
            abs(k - kr) > _POSITION_TOL_VOXELS
            or abs(j) > _POSITION_TOL_VOXELS
            or abs(i) > _POSITION_TOL_VOXELS
        ):
            raise GeometryMismatchError(
                f"source instance {ds.SOPInstanceUID} at {ipp.tolist()} mm is not a slice of the label "
                f"grid (fractional index {k:.3f}, {j:.3f}, {i:.3f}). Pass the instances of the PET "
                "series the labels were computed on.",
                code="SEG_SOURCE_MISMATCH",
            )
        if not 0 <= kr < n_slices:
            continue  # an instance outside the labelled range is simply not referenced
        if out[kr] is not None:
            raise GeometryMismatchError(
                f"two source instances at slice {kr}: {out[kr].SOPInstanceUID} and {ds.SOPInstanceUID}",
                code="SEG_SOURCE_MISMATCH",
            )
        out[kr] = ds
    missing = [k for k, d in enumerate(out) if d is None]
    if missing:
        raise GeometryMismatchError(
            f"no source PET instance for {len(missing)} of {n_slices} label slices (first: {missing[:5]}); "
            "pass every instance of the PET series",
            code="SEG_SOURCE_MISMATCH",
        )
    return out  # type: ignore[return-value]


#: Type 2 patient/study attributes that derived objects copy from their source; when the
#: source lacks one (it happens after de-identification) it is added empty, as DICOM allows.
_TYPE2_COPIED = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyID", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "AccessionNumber",
)  # fmt: skip


def complete_type2(datasets: Sequence[Dataset]) -> list[Dataset]:
    """Shallow copies of ``datasets`` with missing Type 2 patient/study attributes added empty.

    The inputs are not modified.

    Examples
    --------
    >>> ds = Dataset(); ds.PatientID = "X"
    >>> out = complete_type2([ds])[0]
    >>> out.PatientSex, "PatientSex" in ds
    ('', False)
    """
    out = []
    for ds in datasets:
        missing = [kw for kw in _TYPE2_COPIED if kw not in ds]
        if missing:
            copy = Dataset()
            copy.update(ds)  # a new element dict: the input stays untouched
            if hasattr(ds, "file_meta"):
                copy.file_meta = ds.file_meta
            for kw in missing:
                setattr(copy, kw, "")
            ds = copy
        out.append(ds)
    return out


#: Attributes of the Clinical Trial Subject module (PS3.3 C.7.1.3).
_CLINICAL_TRIAL_SUBJECT = (
    "ClinicalTrialSponsorName", "ClinicalTrialProtocolID", "ClinicalTrialProtocolName",
    "ClinicalTrialSiteID", "ClinicalTrialSiteName", "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID", "ClinicalTrialProtocolEthicsCommitteeName",
    "ClinicalTrialProtocolEthicsCommitteeApprovalNumber",
)  # fmt: skip


def drop_invalid_clinical_trial_subject(ds: Dataset) -> bool:
    """Remove a Clinical Trial Subject module copied incomplete from the source (in place).

    De-identified archives (e.g. TCIA) often carry the module with an empty
    ClinicalTrialSponsorName and no subject ID, which makes every derived object
    invalid. The module is optional: an incomplete one is dropped from the new
    object (the source is not touched). Returns True when something was removed.

    Examples
    --------
    >>> d = Dataset(); d.ClinicalTrialSponsorName = ""; d.ClinicalTrialProtocolID = "6668"
    >>> drop_invalid_clinical_trial_subject(d), "ClinicalTrialProtocolID" in d
    (True, False)
    """
    present = [kw for kw in _CLINICAL_TRIAL_SUBJECT if kw in ds]
    if not present:
        return False
    valid = (
        bool(ds.get("ClinicalTrialSponsorName"))
        and bool(ds.get("ClinicalTrialProtocolID"))
        and (
            bool(ds.get("ClinicalTrialSubjectID")) or bool(ds.get("ClinicalTrialSubjectReadingID"))
        )
    )
    if valid:
        return False
    for kw in present:
        delattr(ds, kw)
    return True


def labels_to_seg(
    labels: Volume,
    source_datasets: Sequence[Dataset],
    *,
    mode: Literal["lesions", "tumour"] = "lesions",
    method: str = "carpet lesion segmentation",
    series_description: str = "carpet lesions",
    series_number: int = 9001,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """Build a DICOM SEG (highdicom ``Segmentation``) from a lesion label map.

    Parameters
    ----------
    labels : Volume
        Integer lesion-id map on the PET grid (0 = background).
    source_datasets : sequence of pydicom Dataset
        Every instance of the source PET series (headers suffice).
    mode : {"lesions", "tumour"}
        One segment per lesion, or one "tumour" segment (see module docstring).
    method : str
        Short description of how the labels were made (e.g. ``"SUV >= 4.0,
        min 0.1 mL"``), stored as AlgorithmParameters.
    series_description, series_number : str, int
        Of the new SEG series.
    series_instance_uid, sop_instance_uid : str, optional
        UIDs of the new SEG; generated when omitted.

    Returns
    -------
    highdicom.seg.Segmentation
        A pydicom Dataset subclass, ready for ``save_as``.

    Raises
    ------
    ConfigError
        Unknown ``mode``, non-integer labels or no lesion at all.
    GeometryMismatchError
        The source instances do not tile the label grid.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from carpet._version import __version__

    if mode not in ("lesions", "tumour"):
        raise ConfigError(
            f"SEG mode must be 'lesions' or 'tumour'; got {mode!r}", code="BAD_SEG_MODE"
        )
    arr = np.asarray(labels.array)
    if not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
        raise ConfigError(
            f"labels must be an integer lesion-id map; got dtype {arr.dtype}", code="BAD_LABELS"
        )
    ids = lesion_ids_to_segments(arr)
    if not ids:
        raise ConfigError(
            "the label map has no lesion (all voxels 0); a DICOM SEG needs at least one segment",
            code="EMPTY_LABELS",
        )
    if min(ids) < 0:
        raise ConfigError(f"lesion ids must be positive; got {min(ids)}", code="BAD_LABELS")
    sources = complete_type2(order_source_datasets(labels, source_datasets))

    algo = hd.AlgorithmIdentificationSequence(
        name="carpet",
        family=codes.cid7162.NeighborhoodAnalysis,
        version=__version__,
        parameters={"method": method[:64]},
    )
    category = codes.SCT.MorphologicallyAbnormalStructure
    prop_type = codes.SCT.Neoplasm
    if mode == "lesions":
        if len(ids) > 65535:
            raise ConfigError(
                f"a DICOM SEG holds at most 65535 segments; got {len(ids)} lesions",
                code="TOO_MANY_SEGMENTS",
            )
        # segment number n holds lesion ids[n - 1] (ids may be sparse and large)
        pixel = np.zeros(arr.shape, dtype=np.uint16)
        nz = arr != 0
        pixel[nz] = np.searchsorted(np.asarray(ids), arr[nz]) + 1
        descriptions = [
            hd.seg.SegmentDescription(
                segment_number=n,
                segment_label=f"Lesion {lid}",
                segmented_property_category=category,
                segmented_property_type=prop_type,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algo,
                tracking_id=f"{SEG_TRACKING_PREFIX}{lid}",
                tracking_uid=hd.UID(),
                display_color=hd.color.CIELabColor.from_rgb(
                    *_DISPLAY_RGB[(n - 1) % len(_DISPLAY_RGB)]
                ),
            )
            for n, lid in enumerate(ids, start=1)
        ]
    else:
        pixel = (arr != 0).astype(np.uint8)
        descriptions = [
            hd.seg.SegmentDescription(
                segment_number=1,
                segment_label="Tumour",
                segmented_property_category=category,
                segmented_property_type=prop_type,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algo,
                tracking_id="tumour",
                tracking_uid=hd.UID(),
                display_color=hd.color.CIELabColor.from_rgb(*_DISPLAY_RGB[0]),
            )
        ]
    with warnings.catch_warnings():
        # single-component patient names (common after de-identification) are valid DICOM
        warnings.filterwarnings(
            "ignore", message=".*unlikely to represent the intended person name"
        )
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=pixel,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=series_instance_uid or hd.UID(),
            series_number=series_number,
            sop_instance_uid=sop_instance_uid or hd.UID(),
            instance_number=1,
            manufacturer="carpet",
            manufacturer_model_name="carpet",
            software_versions=__version__,
            device_serial_number="carpet",
            content_description=series_description[:64],
            content_label="LESIONS" if mode == "lesions" else "TUMOUR",
            series_description=series_description[:64],
        )
    if drop_invalid_clinical_trial_subject(seg):
        logger.info(
            "incomplete Clinical Trial Subject module of the source not copied into the SEG"
        )
    logger.info("SEG with %d segment(s), %d frame(s)", len(descriptions), int(seg.NumberOfFrames))
    return seg


def write_seg(
    labels: Volume,
    source_datasets: Sequence[Dataset],
    path: str | os.PathLike[str],
    **options: object,
) -> Path:
    """Write ``labels`` as a DICOM SEG file (atomically).

    Parameters
    ----------
    labels : Volume
        Integer lesion-id map on the PET grid.
    source_datasets : sequence of pydicom Dataset
        The source PET instances.
    path : path
        Output file (``.dcm``).
    **options
        Keyword options of :func:`labels_to_seg` (``mode``, ``method``, ...).

    Returns
    -------
    Path
        The written file.
    """
    from io import BytesIO

    seg = labels_to_seg(labels, source_datasets, **options)  # type: ignore[arg-type]
    buf = BytesIO()
    seg.save_as(buf, enforce_file_format=True)
    return atomic_write_bytes(path, buf.getvalue())
