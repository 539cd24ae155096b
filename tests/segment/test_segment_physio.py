"""Physiological uptake removal on the synthetic whole-body phantom (anatomy known exactly)."""

from __future__ import annotations

import numpy as np
import pytest

from carpet.config import AnalysisConfig
from carpet.pipeline import analyze
from carpet.segment.organs import organ_names_for
from carpet.segment.physio import classify_regions, organ_code_for_name
from carpet.synthetic import ORGAN_LABELS, LesionSpec, make_whole_body_study

SPACING = (4.0, 4.0, 4.0)
FAST = AnalysisConfig(reference_regions=False, write_mip=False)


def _dominant_organ(study, mask):
    names = {v: k for k, v in ORGAN_LABELS.items()}
    return names[int(np.bincount(study.organs.array[mask]).argmax())]


def _truth_hits(study, labels):
    """Lesion ids of the truth that overlap the found labels."""
    t = study.lesion_truth.array
    return set(np.unique(t[(labels > 0) & (t > 0)]).tolist())


@pytest.fixture(scope="module")
def whole_body():
    # a lesion just beside the bladder and one inside the liver (issue §5)
    lesions = [
        LesionSpec((62.0, -30.0, -880.0 * 1.0), 10.0, 9.0, "iliac_left"),
        LesionSpec((-95.0, 10.0, -590.0), 13.0, 12.0, "liver"),
        LesionSpec((-5.0, -35.0, -370.0), 15.0, 15.0, "mediastinal"),
        LesionSpec((-22.0, 50.0, -720.0), 12.0, 8.0, "para_aortic"),
    ]
    s = make_whole_body_study(spacing_mm=SPACING, lesions=lesions, with_ct=False)
    return s, analyze(s, config=FAST)


def test_brain_bladder_kidneys_myocardium_removed_lesions_kept(whole_body):
    s, r = whole_body
    removed = sorted(x["organ"] for x in r.patient["physiological_excluded"]["regions"])
    assert removed == ["bladder", "brain", "kidney", "kidney", "myocardium"]
    exc = r.excluded.array
    for code, organ in ((1, "brain"), (2, "bladder"), (4, "myocardium")):
        assert _dominant_organ(s, exc == code) == organ
    assert {_dominant_organ(s, exc == 3)} <= {"kidney_left", "kidney_right"}
    # every truth lesion is found, nothing else is
    assert r.patient["lesion_count"] == 4
    assert _truth_hits(s, r.labels.array) == {1, 2, 3, 4}
    assert not np.any((r.labels.array > 0) & (s.lesion_truth.array == 0))


def test_no_exclusion_counts_organs(whole_body):
    s, _ = whole_body
    r = analyze(s, config=AnalysisConfig(physio_exclusion=False, reference_regions=False))
    assert r.patient["lesion_count"] == 4 + 5
    assert not r.excluded.array.any()


@pytest.mark.parametrize("fov", ["thorax", "head_neck"])
def test_partial_fov_never_loses_tumours(fov):
    lesions = [
        LesionSpec((-5.0, -35.0, -300.0), 14.0, 10.0, "mediastinal_top"),
        LesionSpec((-32.0, 5.0, -225.0), 10.0, 9.0, "cervical_right"),
        LesionSpec((-55.0, 20.0, -430.0), 11.0, 7.0, "hilar_right"),
    ]
    s = make_whole_body_study(spacing_mm=SPACING, fov=fov, lesions=lesions, with_ct=False)
    r = analyze(s, config=FAST)
    in_fov = {le.lesion_id for le in s.lesions if le.volume_ml >= 3.0}
    assert in_fov and _truth_hits(s, r.labels.array) == in_fov
    removed = {x["organ"] for x in r.patient["physiological_excluded"]["regions"]}
    if fov == "head_neck":
        assert removed == {"brain"}  # the vertex is in view
    else:
        assert "brain" not in removed and "bladder" not in removed


def test_organ_label_map_route(whole_body):
    s, _ = whole_body
    from carpet.segment.components import preselect_regions

    regions, n = preselect_regions(s.suv.array, min_voxels=int(3 / s.suv.voxel_volume_ml))
    names, source = organ_names_for(s.organs)
    assert source == "volume metadata"
    out, notes = classify_regions(s.suv, regions, organs=s.organs, organ_names=names)
    assert sorted(out.values()) == ["bladder", "brain", "kidney", "kidney", "myocardium"]
    r = analyze(s, organs=s.organs, config=FAST)
    assert r.patient["lesion_count"] == 4


def test_organ_names():
    assert organ_code_for_name("urinary_bladder") == "bladder"
    assert organ_code_for_name("heart") == "myocardium"
    assert organ_code_for_name("spleen") is None


def test_ct_gives_the_same_frame_and_removals():
    s = make_whole_body_study(spacing_mm=(6.0, 6.0, 6.0), n_lesions=4, with_ct=True)
    a = analyze(s, config=FAST)
    b = analyze(s, ct=s.ct, config=FAST)
    fa, fb = a.provenance["body_frame"], b.provenance["body_frame"]
    assert fb["lung_bottom_z_mm"] == pytest.approx(fa["lung_bottom_z_mm"], abs=13)
    assert sorted(x["organ"] for x in b.patient["physiological_excluded"]["regions"]) == sorted(
        x["organ"] for x in a.patient["physiological_excluded"]["regions"]
    )
    assert b.patient["lesion_count"] == a.patient["lesion_count"]


def test_only_one_bladder_a_second_hot_midline_pelvic_lesion_is_kept():
    lesions = [LesionSpec((0.0, -30.0, -800.0), 15.0, 15.0, "presacral_midline")]  # 14 mL
    s = make_whole_body_study(spacing_mm=SPACING, lesions=lesions, with_ct=False)
    r = analyze(s, config=FAST)
    organs = [x["organ"] for x in r.patient["physiological_excluded"]["regions"]]
    assert organs.count("bladder") == 1
    assert _truth_hits(s, r.labels.array) == {1}
    assert any("bladder zone kept" in n for n in r.patient["physiological_excluded"]["notes"])


def test_organ_map_nifti_with_sidecar_names(tmp_path, whole_body, cli):
    import json

    from carpet.ingest.nifti import write_nifti

    s, _ = whole_body
    organs = tmp_path / "organs.nii.gz"
    write_nifti(s.organs, organs)
    (tmp_path / "organs.json").write_text(json.dumps({str(v): k for k, v in ORGAN_LABELS.items()}))
    pet = tmp_path / "pet.nii.gz"
    write_nifti(s.suv, pet)
    out = tmp_path / "out"
    res = cli(
        "analyze",
        pet,
        "--units",
        "suv",
        "--out",
        out,
        "--organs",
        organs,
        "--no-mip",
        "--no-reference-regions",
    )
    assert res.exit_code == 0, res.stderr
    p = json.loads((out / "patient.json").read_text())
    assert p["lesion_count"] == 4
    assert "organs.json" in p["provenance"]["organs"]
    bad = tmp_path / "bad.nii.gz"
    write_nifti(s.organs, bad)
    (tmp_path / "bad.json").write_text("[1, 2")
    res = cli(
        "analyze",
        pet,
        "--units",
        "suv",
        "--out",
        tmp_path / "o2",
        "--organs",
        bad,
        "--no-reference-regions",
    )
    assert res.exit_code == 2 and "ORGAN_NAMES_INVALID" in res.stderr


def test_solid_mass_in_the_heart_zone_is_not_myocardium():
    """A solid left-anterior lower-mediastinal mass, heart without uptake >= 4: kept (shape rule)."""
    s = make_whole_body_study(
        spacing_mm=SPACING,
        fov="thorax",
        with_ct=False,
        lesions=[LesionSpec((35.0, -45.0, -470.0), 16.0, 9.0, "pericardial")],
    )
    cold_heart = s.suv.array.copy()
    cold_heart[s.organs.array == ORGAN_LABELS["myocardium"]] = 2.5
    cold_heart[s.lesion_truth.array > 0] = 9.0
    r = analyze(s.suv.with_array(cold_heart), config=FAST)
    assert r.patient["lesion_count"] == 1
    assert "myocardium" not in {x["organ"] for x in r.patient["physiological_excluded"]["regions"]}
    assert _truth_hits(s, r.labels.array) == {1}


def test_organ_map_as_dicom_seg(tmp_path):
    """Organ segments named in a DICOM SEG on the PET grid (carpet.ingest.seg) drive exclusion."""
    import pydicom

    from carpet.core.geometry import resample_to
    from carpet.core.volume import Volume
    from carpet.errors import HeaderWarning
    from carpet.export.seg import labels_to_seg
    from carpet.ingest import read_pet
    from carpet.synthetic import write_pet_dicom
    from carpet.units import Unit

    s = make_whole_body_study(
        spacing_mm=SPACING,
        fov="thorax",
        with_ct=False,
        lesions=[LesionSpec((-55.0, 20.0, -430.0), 11.0, 7.0, "hilar_right")],
    )
    files = write_pet_dicom(s, tmp_path / "pet")
    pet = read_pet(tmp_path / "pet")
    org = resample_to(s.organs, pet.suv, order=0).array
    names = {
        "heart_myocardium": "myocardium",
        "kidney_left": "kidney_left",
        "kidney_right": "kidney_right",
    }
    lab = np.zeros(org.shape, np.int32)
    for value, organ in enumerate(names.values(), start=1):
        lab[org == ORGAN_LABELS[organ]] = value
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    seg = labels_to_seg(Volume(lab, pet.suv.affine, unit=Unit.LABEL), headers, method="organs")
    for item, name in zip(seg.SegmentSequence, names, strict=False):
        item.SegmentLabel = name
    seg.save_as(tmp_path / "organs.dcm")
    with pytest.warns(HeaderWarning):
        r = analyze(pet, organs=tmp_path / "organs.dcm", config=FAST)
    assert sorted(x["organ"] for x in r.patient["physiological_excluded"]["regions"]) == [
        "kidney",
        "kidney",
        "myocardium",
    ]
    assert r.patient["lesion_count"] == 1 and _truth_hits(s, r.labels.array) == {1}
    assert r.provenance["organs"] == "DICOM SEG segment labels (organs.dcm)"


def test_pelvic_ureter_removed_round_node_kept():
    """A thin cranio-caudal tube of urine beside the bladder is a ureter; a round node there is not."""
    s = make_whole_body_study(
        spacing_mm=SPACING,
        with_ct=False,
        lesions=[LesionSpec((-60.0, 20.0, -800.0), 11.0, 9.0, "iliac_right")],
    )
    a = s.suv.array.copy()
    k, j, i = np.ogrid[: a.shape[0], : a.shape[1], : a.shape[2]]
    x = s.suv.affine[0, 2] * i + s.suv.affine[0, 3]
    y = s.suv.affine[1, 1] * j + s.suv.affine[1, 3]
    z = s.suv.affine[2, 0] * k + s.suv.affine[2, 3]
    tube = ((x - 45.0) ** 2 + (y - 20.0) ** 2 <= 5.0**2) & (z <= -770.0) & (z >= -860.0)
    a[tube] = 12.0
    r = analyze(s.suv.with_array(a), config=FAST)
    removed = sorted(x["organ"] for x in r.patient["physiological_excluded"]["regions"])
    assert "ureter" in removed
    assert (r.excluded.array[tube] == 5).all()
    assert _truth_hits(s, r.labels.array) == {1} and r.patient["lesion_count"] == 1


def test_organ_map_keeps_a_lesion_touching_the_kidney():
    """With an organ map only the organ's voxels are removed from a merged SUV >= 4 region."""
    s = make_whole_body_study(
        spacing_mm=SPACING,
        with_ct=False,
        lesions=[LesionSpec((118.0, 62.0, -690.0), 12.0, 10.0, "perirenal_left")],
    )
    truth = s.lesion_truth.array == 1
    kidney = s.organs.array == ORGAN_LABELS["kidney_left"]
    assert not (truth & kidney).any()
    # the lesion touches the kidney: one preselected region without the organ map
    from carpet.segment.components import preselect_regions

    regions, _ = preselect_regions(s.suv.array, min_voxels=0)
    assert len(np.unique(regions[truth])) == 1 and np.unique(regions[truth])[0] in np.unique(
        regions[kidney]
    )
    r = analyze(s, organs=s.organs, config=FAST)
    assert r.patient["lesion_count"] == 1
    np.testing.assert_array_equal(r.labels.array > 0, truth)
    assert (r.excluded.array[kidney] == 3).all()
