"""RTSTRUCT contour export/rasterisation and the TID 1500 SR measurement report."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).parent)
)  # helper modules beside the tests (any --import-mode)

import math
import warnings

import numpy as np
import pydicom
import pytest
from interop_builders import dicom_validation_errors, small_case

from carpet.errors import ConfigError, GeometryMismatchError, HeaderWarning, InputError, QualityWarning
from carpet.export.rtstruct import labels_to_rtstruct, mask_slice_to_contours, write_rtstruct
from carpet.export.seg import labels_to_seg
from carpet.export.sr import SR_MEASUREMENTS, measurements_to_sr, write_sr
from carpet.ingest.rtstruct import rasterize_polygons, read_rtstruct
from carpet.ingest.seg import MaskReference, read_mask
from carpet.ingest.sr import read_sr_measurements
from carpet.measure import measure_lesions, patient_metrics
from carpet.units import Unit


@pytest.fixture
def case(rng):
    return small_case(rng)


def test_rtstruct_round_trip_is_voxel_exact_with_holes(case, tmp_path):
    dss, suv, lab = case
    assert lab.array[6, 14, 12] == 0 and lab.array[6, 14, 11] == 5  # the hole is there
    p = write_rtstruct(lab, dss, tmp_path / "rt.dcm")
    assert dicom_validation_errors(p) == []
    m = read_mask(p, suv)
    np.testing.assert_array_equal(m.labels.array, lab.array)
    assert [(s.label, s.name) for s in m.segments] == [
        (2, "Lesion 2"),
        (5, "Lesion 5"),
        (9, "Lesion 9"),
    ]
    a, b = measure_lesions(suv, lab), measure_lesions(suv, m.labels)
    assert a[["lesion_id", "volume_ml", "suv_max", "tlg"]].equals(
        b[["lesion_id", "volume_ml", "suv_max", "tlg"]]
    )
    ds = pydicom.dcmread(p)
    assert (
        ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == dss[0].FrameOfReferenceUID
    )
    rc = ds.ROIContourSequence[0].ContourSequence[0]
    assert rc.ContourGeometricType == "CLOSED_PLANAR" and rc.NumberOfContourPoints * 3 == len(
        rc.ContourData
    )


def test_rtstruct_random_masks_round_trip(tmp_path, rng):
    # Irregular shapes (diagonal contacts, saddles, holes, edges of the field of view).
    from interop_builders import make_pet_datasets, pet_volume

    dss = make_pet_datasets(rng.uniform(0, 1, (4, 16, 16)))
    suv = pet_volume(dss)
    arr = (rng.uniform(size=suv.shape) > 0.55).astype(np.int32) * 3
    arr[1, 0, :] = 7  # touches the edge of the field of view
    lab = suv.with_array(arr, unit=Unit.LABEL)
    m = read_rtstruct(write_rtstruct(lab, dss, tmp_path / "rt.dcm"), suv)
    np.testing.assert_array_equal(m.labels.array, arr)


def test_rasterisation_rule_even_odd_and_centres():
    outer = np.array([[0.5, 0.5], [0.5, 5.5], [5.5, 5.5], [5.5, 0.5]])
    inner = np.array([[1.5, 1.5], [1.5, 3.5], [3.5, 3.5], [3.5, 1.5]])
    got = rasterize_polygons([outer, inner], (7, 7))
    expected = np.zeros((7, 7), bool)
    expected[1:6, 1:6] = True
    expected[2:4, 2:4] = False
    np.testing.assert_array_equal(got, expected)
    m = np.zeros((5, 5), bool)
    m[1:4, 1:4] = True
    m[2, 2] = False
    np.testing.assert_array_equal(rasterize_polygons(mask_slice_to_contours(m), m.shape), m)


def test_rtstruct_contour_between_slices_is_refused(case, tmp_path):
    dss, suv, lab = case
    ds = labels_to_rtstruct(lab, dss)
    c = ds.ROIContourSequence[0].ContourSequence[0]
    pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
    pts[:, 2] += 1.5  # half a slice (3 mm spacing)
    c.ContourData = [f"{v:.4f}" for v in pts.ravel()]
    p = tmp_path / "between.dcm"
    ds.save_as(p, enforce_file_format=True)
    with pytest.raises(GeometryMismatchError, match="between PET slices") as ei:
        read_rtstruct(p, suv)
    assert ei.value.code == "MASK_GRID_MISMATCH"


def test_rtstruct_other_study_for_and_empty_roi(case, tmp_path):
    dss, suv, lab = case
    p = write_rtstruct(lab, dss, tmp_path / "rt.dcm")
    with pytest.raises(InputError, match="belongs to study"):
        read_rtstruct(p, suv, reference_uids=MaskReference("1.2.3"))
    other = type(suv)(suv.array, suv.affine, unit=suv.unit, frame_of_reference_uid="1.2.3")
    with pytest.raises(GeometryMismatchError, match="FrameOfReferenceUID"):
        read_rtstruct(p, other)
    with pytest.raises(InputError, match=r"no ROI\(s\) \[4\]"):
        read_rtstruct(p, suv, rois=[4])
    # an ROI far outside the field of view covers no voxel: warned and skipped
    ds = pydicom.dcmread(p)
    for c in ds.ROIContourSequence[0].ContourSequence:
        pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
        pts[:, 0] += 1000.0
        c.ContourData = [f"{v:.4f}" for v in pts.ravel()]
    ds.save_as(tmp_path / "out.dcm", enforce_file_format=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = read_rtstruct(tmp_path / "out.dcm", suv)
    msgs = [str(w.message) for w in caught if issubclass(w.category, QualityWarning)]
    assert any("ROI 2 ('Lesion 2') covers no PET voxel centre; skipped" in x for x in msgs)
    assert any("ROI 2 reaches outside the PET field of view" in x for x in msgs)
    assert [s.label for s in m.segments] == [5, 9]


def test_rtstruct_export_refuses_empty_and_float_labels(case):
    dss, _, lab = case
    with pytest.raises(ConfigError, match="no lesion"):
        labels_to_rtstruct(lab.with_array(np.zeros(lab.shape, np.int32)), dss)
    with pytest.raises(ConfigError, match="integer"):
        labels_to_rtstruct(lab.with_array(lab.array * 1.0), dss)


def _patient(lesions):
    return patient_metrics(lesions)


def test_sr_round_trip_codes_units_and_values(case, tmp_path):
    import highdicom as hd

    dss, suv, lab = case
    lesions = measure_lesions(suv, lab)
    patient = _patient(lesions)
    seg = labels_to_seg(lab, dss)
    p = write_sr(lesions, patient, seg, dss, tmp_path / "sr.dcm", suv_unit=Unit.SUV_BW)
    assert dicom_validation_errors(p) == []
    back, pat, segs = read_sr_measurements(p)
    assert back["lesion_id"].tolist() == [2, 5, 9]
    assert segs == {2: 1, 5: 2, 9: 3}
    for col in SR_MEASUREMENTS["lesion"]:
        np.testing.assert_allclose(back[col].to_numpy(), lesions[col].to_numpy(), rtol=1e-9)
    for key in ("tmtv_ml", "tlg", "suv_max", "dmax_mm"):
        assert math.isclose(pat[key], float(patient[key]), rel_tol=1e-9)
    sr = hd.sr.srread(p)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    group = sr.content.get_volumetric_roi_measurement_groups()[0]
    units = {m.name.meaning: m.unit.value for m in group.get_measurements()}
    assert (
        units["SUVbw"] == "{SUVbw}g/ml"
        and units["Volume"] == "ml"
        and units["Total Lesion Glycolysis"] == "g"
    )
    assert group.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"


def test_sr_refuses_lesion_without_segment_and_non_suv(case):
    dss, suv, lab = case
    lesions = measure_lesions(suv, lab)
    tumour_seg = labels_to_seg(lab, dss, mode="tumour")
    with pytest.raises(InputError, match="has no segment") as ei:
        measurements_to_sr(lesions, {}, tumour_seg, dss)
    assert ei.value.code == "SR_SEGMENT_MISSING"
    with pytest.raises(ConfigError, match="SUV unit"):
        measurements_to_sr(lesions, {}, labels_to_seg(lab, dss), dss, suv_unit=Unit.BQML)


def test_rtstruct_from_another_series_nearest_plane_rule(tmp_path, rng, cli):
    """Contours drawn on a parallel series with 2 mm slices (a CT) rasterised on a 3 mm PET.

    Truth: a ball of radius 7 mm; each PET slice takes the CT contour plane nearest its centre
    (within 1.5 mm), so the PET mask is the ball's cross-section at that CT plane.
    """
    from interop_builders import make_pet_datasets, pet_volume

    from carpet.ingest.seg import MaskReference

    pet_dss = make_pet_datasets(rng.uniform(0, 1, (12, 24, 24)), spacing_mm=(3.0, 2.0, 2.0),
                                origin_mm=(-24.0, -24.0, -18.0))
    pet = pet_volume(pet_dss)
    # CT grid: same frame of reference, 2 mm slices starting 1 mm off the PET planes, same pixels
    ct_dss = make_pet_datasets(np.zeros((17, 24, 24)), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(-24.0, -24.0, -17.0),
                               study_uid=str(pet_dss[0].StudyInstanceUID),
                               frame_of_reference_uid=str(pet_dss[0].FrameOfReferenceUID))
    ct = pet_volume(ct_dss)
    centre = np.array([-1.0, 1.0, 0.0])  # LPS mm
    pts = ct.index_to_world(np.indices(ct.shape).reshape(3, -1).T)
    ct_lab = (np.linalg.norm(pts - centre, axis=1) <= 7.0).reshape(ct.shape).astype(np.int32) * 4
    p = write_rtstruct(ct.with_array(ct_lab, unit=Unit.LABEL), ct_dss, tmp_path / "ct_rt.dcm")
    with pytest.raises(GeometryMismatchError, match="nearest-plane rule"):
        read_rtstruct(p, pet)
    with pytest.warns(HeaderWarning, match="nearest-plane rule"):
        m = read_rtstruct(p, pet, reference_uids=MaskReference.from_volume(pet), slice_planes="nearest")
    # expected: for each PET slice, the CT contour plane (a CT slice with contours: an RTSTRUCT
    # knows nothing of empty planes) nearest to it within 1.5 mm, ties -> lower z
    expected = np.zeros(pet.shape, np.int32)
    planes = [j for j in range(17) if ct_lab[j].any()]
    ct_z = ct.index_to_world(np.column_stack([planes, np.zeros(len(planes)), np.zeros(len(planes))]))[:, 2]
    for k in range(pet.shape[0]):
        z = pet.index_to_world([[k, 0, 0]])[0, 2]
        d = np.abs(ct_z - z)
        j = int(np.argmin(d))
        if d[j] <= 1.5 + 1e-9:
            expected[k] = ct_lab[planes[j]]
    np.testing.assert_array_equal(m.labels.array, expected)
    assert expected.sum() > 0
    with pytest.raises(ConfigError, match="slice_planes"):
        read_rtstruct(p, pet, slice_planes="closest")


@pytest.mark.parametrize(
    "module",
    ["carpet.dicomweb", "carpet.interop", "carpet.export.seg", "carpet.export.sr", "carpet.export.rtstruct",
     "carpet.ingest.seg", "carpet.ingest.rtstruct", "carpet.ingest.sr"],
)
def test_interop_public_surface_sorted_and_documented(module):
    import importlib

    mod = importlib.import_module(module)
    assert list(mod.__all__) == sorted(mod.__all__)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{module}.{name} has no docstring"
