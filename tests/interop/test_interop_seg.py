"""DICOM SEG export/import: round trips, validation, pairing rules and refusals."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).parent)
)  # helper modules beside the tests (any --import-mode)

import warnings

import numpy as np
import pydicom
import pytest
from interop_builders import dicom_validation_errors, make_pet_datasets, pet_volume, small_case

from carpet.errors import (
    ConfigError,
    GeometryMismatchError,
    HeaderWarning,
    InputError,
    QualityWarning,
)
from carpet.export.seg import labels_to_seg, write_seg
from carpet.ingest.seg import MaskReference, read_mask, read_seg
from carpet.measure import measure_lesions
from carpet.units import Unit


def _ref(dss) -> MaskReference:
    return MaskReference(
        str(dss[0].StudyInstanceUID),
        str(dss[0].SeriesInstanceUID),
        tuple(str(d.SOPInstanceUID) for d in dss),
    )


@pytest.fixture
def case(rng):
    return small_case(rng)


def test_seg_round_trip_lesions_identical_voxels_and_measurements(case, tmp_path):
    dss, suv, lab = case
    path = write_seg(lab, dss, tmp_path / "seg.dcm", method="SUV >= 4")
    assert dicom_validation_errors(path) == []
    m = read_seg(path, suv, reference_uids=_ref(dss))
    assert m.pairing == "sop_instance_uid"
    np.testing.assert_array_equal(m.labels.array, lab.array)
    assert [s.label for s in m.segments] == [2, 5, 9]
    assert m.labels.unit is Unit.LABEL
    a, b = measure_lesions(suv, lab), measure_lesions(suv, m.labels)
    cols = ["lesion_id", "volume_ml", "suv_max", "suv_peak", "suv_mean", "tlg"]
    assert a[cols].equals(b[cols])


def test_seg_header_content_codes_algorithm_and_references(case):
    import highdicom as hd

    dss, _, lab = case
    seg = labels_to_seg(lab, dss, method="SUV >= 4")
    s0 = seg.SegmentSequence[0]
    assert s0.SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"
    assert s0.SegmentedPropertyCategoryCodeSequence[0].CodingSchemeDesignator == "SCT"
    algo = s0.SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "carpet"
    from carpet._version import __version__

    assert algo.AlgorithmVersion == __version__
    assert "SUV >= 4" in algo.AlgorithmParameters
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == dss[0].SeriesInstanceUID
    assert seg.StudyInstanceUID == dss[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == dss[0].FrameOfReferenceUID
    assert [s.TrackingID for s in seg.SegmentSequence] == ["lesion 2", "lesion 5", "lesion 9"]
    assert all(len(s.RecommendedDisplayCIELabValue) == 3 for s in seg.SegmentSequence)
    # re-opens with highdicom as a Segmentation
    assert hd.seg.Segmentation.from_dataset(seg).number_of_segments == 3


def test_seg_tumour_mode_single_segment(case, tmp_path):
    dss, suv, lab = case
    path = write_seg(lab, dss, tmp_path / "seg.dcm", mode="tumour")
    m = read_seg(path, suv, reference_uids=_ref(dss))
    np.testing.assert_array_equal(m.labels.array, (lab.array > 0).astype(np.int32))
    assert len(m.segments) == 1 and m.segments[0].name == "Tumour"


def test_seg_paired_by_geometry_warns_when_uids_do_not_match(case, tmp_path):
    dss, suv, lab = case
    path = write_seg(lab, dss, tmp_path / "seg.dcm")
    other_uids = MaskReference(
        str(dss[0].StudyInstanceUID), "1.2.3", tuple(f"1.2.3.{k}" for k in range(len(dss)))
    )
    with pytest.warns(HeaderWarning, match="paired by frame of reference and geometry"):
        m = read_seg(path, suv, reference_uids=other_uids)
    assert m.pairing == "geometry"
    np.testing.assert_array_equal(m.labels.array, lab.array)
    assert any("geometry" in w for w in m.warnings)


def test_seg_of_another_study_is_refused(case, tmp_path):
    dss, suv, lab = case
    path = write_seg(lab, dss, tmp_path / "seg.dcm")
    ref = MaskReference("9.9.9", None, ())
    with pytest.raises(InputError, match="belongs to study") as ei:
        read_seg(path, suv, reference_uids=ref)
    assert ei.value.code == "SEG_OTHER_STUDY"


def test_seg_other_frame_of_reference_is_refused(case, tmp_path):
    dss, suv, lab = case
    path = write_seg(lab, dss, tmp_path / "seg.dcm")
    other = suv.with_array(suv.array)
    other = type(suv)(other.array, other.affine, unit=other.unit, frame_of_reference_uid="1.2.3.4")
    with pytest.raises(GeometryMismatchError, match="FrameOfReferenceUID") as ei:
        read_seg(path, other)
    assert ei.value.code == "FRAME_OF_REFERENCE_MISMATCH"


def test_seg_on_a_shifted_grid_is_refused_not_shifted(case, tmp_path, rng):
    dss, suv, lab = case
    path = write_seg(lab, dss, tmp_path / "seg.dcm")
    # Same FoR and study, PET grid shifted by half a voxel along z
    shifted = make_pet_datasets(
        rng.uniform(0, 1, suv.shape),
        origin_mm=(-100.0, -80.0, -298.5),
        study_uid=str(dss[0].StudyInstanceUID),
        frame_of_reference_uid=str(dss[0].FrameOfReferenceUID),
    )
    with pytest.raises(GeometryMismatchError, match="not on the PET grid") as ei:
        read_seg(path, pet_volume(shifted))
    assert ei.value.code == "MASK_GRID_MISMATCH"
    # and another pixel spacing
    coarse = make_pet_datasets(
        rng.uniform(0, 1, suv.shape),
        spacing_mm=(3.0, 5.0, 5.0),
        study_uid=str(dss[0].StudyInstanceUID),
        frame_of_reference_uid=str(dss[0].FrameOfReferenceUID),
    )
    with pytest.raises(GeometryMismatchError, match="another grid"):
        read_seg(path, pet_volume(coarse))


def test_seg_empty_segment_warns_and_all_empty_is_an_error(case, tmp_path):
    dss, suv, lab = case
    seg = labels_to_seg(lab, dss)
    # Blank the frames of segment 2 (lesion 5) — an "empty segment" from another tool.
    arr = seg.pixel_array.copy()
    seg_of_frame = [
        int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        for f in seg.PerFrameFunctionalGroupsSequence
    ]
    for f, s in enumerate(seg_of_frame):
        if s == 2:
            arr[f] = 0
    seg.PixelData = pydicom.pixels.pack_bits(arr.ravel())
    p = tmp_path / "empty.dcm"
    seg.save_as(p, enforce_file_format=True)
    with pytest.warns(QualityWarning, match="segment 2 .* is empty"):
        m = read_seg(p, suv, reference_uids=_ref(dss))
    assert [s.label for s in m.segments] == [2, 9]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="empty") as ei:
            read_seg(p, suv, segments=[2], reference_uids=_ref(dss))
    assert ei.value.code == "EMPTY_MASK"


def test_seg_unknown_segment_and_not_a_seg(case, tmp_path):
    dss, suv, lab = case
    p = write_seg(lab, dss, tmp_path / "seg.dcm")
    with pytest.raises(InputError, match=r"no segment\(s\) \[7\]") as ei:
        read_seg(p, suv, segments=[7])
    assert ei.value.code == "UNKNOWN_SEGMENT"
    pet = tmp_path / "pet.dcm"
    dss[0].save_as(pet, enforce_file_format=True)
    with pytest.raises(InputError, match="not a DICOM SEG") as ei:
        read_seg(pet, suv)
    with pytest.raises(InputError, match="not a SEG or RTSTRUCT") as ei:
        read_mask(pet, suv)
    assert ei.value.code == "MASK_UNSUPPORTED"
    (tmp_path / "junk.txt").write_text("hello")
    with pytest.raises(InputError, match="neither NIfTI"):
        read_mask(tmp_path / "junk.txt", suv)
    with pytest.raises(InputError, match="not found"):
        read_mask(tmp_path / "missing.dcm", suv)


def test_seg_overlapping_segments_refused_unless_selected(case, tmp_path):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    dss, suv, lab = case
    a = lab.array > 0
    b = np.zeros_like(a)
    b[3:6, 4:9, 4:9] = True  # overlaps lesion 2
    descs = [
        hd.seg.SegmentDescription(n, f"s{n}", codes.SCT.Tissue, codes.SCT.Tissue, "MANUAL")
        for n in (1, 2)
    ]
    seg = hd.seg.Segmentation(
        dss,
        np.stack([a, b], axis=-1).astype(np.uint8),
        "BINARY",
        descs,
        hd.UID(),
        1,
        hd.UID(),
        1,
        "other",
        "tool",
        "1",
        "1",
    )
    p = tmp_path / "ov.dcm"
    seg.save_as(p)
    with pytest.raises(InputError, match="overlaps") as ei:
        read_seg(p, suv, reference_uids=_ref(dss))
    assert ei.value.code == "OVERLAPPING_SEGMENTS"
    m = read_seg(p, suv, segments=[2], reference_uids=_ref(dss))
    assert m.pairing == "sop_instance_uid"
    assert m.segments[0].n_voxels == int(b.sum())


def test_seg_export_refuses_bad_labels_and_foreign_sources(case, rng):
    dss, suv, lab = case
    with pytest.raises(ConfigError, match="no lesion"):
        labels_to_seg(lab.with_array(np.zeros(lab.shape, np.int32)), dss)
    with pytest.raises(ConfigError, match="integer"):
        labels_to_seg(lab.with_array(lab.array.astype(float)), dss)
    with pytest.raises(ConfigError, match="mode"):
        labels_to_seg(lab, dss, mode="organs")
    other = make_pet_datasets(rng.uniform(0, 1, lab.shape), origin_mm=(-100.0, -80.0, -250.0))
    with pytest.raises(GeometryMismatchError, match="is not a slice of the label grid"):
        labels_to_seg(lab, other)
    with pytest.raises(GeometryMismatchError, match="no source PET instance"):
        labels_to_seg(lab, dss[:-1])


def test_nifti_mask_round_trip_and_refusals(case, tmp_path):
    from carpet.core.volume import Volume
    from carpet.ingest.nifti import write_nifti

    dss, suv, lab = case
    p = tmp_path / "mask.nii.gz"
    write_nifti(lab, p)
    m = read_mask(p, suv)
    np.testing.assert_array_equal(m.labels.array, lab.array)
    assert m.pairing == "grid"
    a, b = measure_lesions(suv, lab), measure_lesions(suv, m.labels)
    assert a[["lesion_id", "volume_ml", "suv_max", "suv_peak", "tlg"]].equals(
        b[["lesion_id", "volume_ml", "suv_max", "suv_peak", "tlg"]]
    )
    # shifted by one voxel: refused, never measured shifted
    aff = np.array(lab.affine)
    aff[:3, 3] += aff[:3, 0]
    write_nifti(Volume(lab.array, aff, unit=Unit.LABEL), tmp_path / "shifted.nii.gz")
    with pytest.raises(GeometryMismatchError, match="not on the reference grid"):
        read_mask(tmp_path / "shifted.nii.gz", suv)
    write_nifti(lab.with_array(lab.array * 0.5, unit=Unit.UNKNOWN), tmp_path / "frac.nii.gz")
    with pytest.raises(InputError, match="non-integer") as ei:
        read_mask(tmp_path / "frac.nii.gz", suv)
    assert ei.value.code == "MASK_NOT_LABELS"
    write_nifti(lab.with_array(np.zeros(lab.shape, np.int32)), tmp_path / "empty.nii.gz")
    with pytest.raises(InputError, match="empty") as ei:
        read_mask(tmp_path / "empty.nii.gz", suv)
    assert ei.value.code == "EMPTY_MASK"


def test_seg_export_with_deidentified_sources_missing_type2(case):
    dss, suv, lab = case
    stripped = []
    for d in dss:
        c = pydicom.Dataset()
        c.update(d)
        c.file_meta = d.file_meta
        del c.PatientSex, c.StudyID, c.AccessionNumber
        stripped.append(c)
    seg = labels_to_seg(lab, stripped)
    assert seg.PatientSex == "" and seg.StudyID == ""
    assert all("PatientSex" not in d for d in stripped)  # inputs untouched


def test_seg_sparse_large_lesion_ids_round_trip(case, tmp_path):
    dss, suv, lab = case
    big = np.where(lab.array == 9, 1_000_000_007, lab.array).astype(np.int64)
    p = write_seg(lab.with_array(big), dss, tmp_path / "seg.dcm")
    m = read_seg(p, suv, reference_uids=_ref(dss))
    np.testing.assert_array_equal(m.labels.array, big)
    assert [s.label for s in m.segments] == [2, 5, 1_000_000_007]
