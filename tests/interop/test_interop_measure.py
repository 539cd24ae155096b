"""``carpet measure`` / ``carpet export-seg``: ACRIN acceptance and analyze → DICOM → import round trips."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).parent)
)  # helper modules beside the tests (any --import-mode)

import json
import warnings

import numpy as np
import pandas as pd
import pydicom
import pytest

from carpet.errors import ConfigError, InputError
from carpet.interop import export_dicom_objects, measure_mask, parse_export_formats

ACRIN = "acrin-nsclc-fdg-pet-042/study_jpegls"
MEASURED = [
    "lesion_id",
    "volume_ml",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "tlg",
    "n_voxels",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A synthetic PET study on disk and its ``carpet analyze`` result."""
    from carpet.pipeline import analyze, write_analysis
    from carpet.synthetic import make_whole_body_study, write_pet_dicom

    s = make_whole_body_study(
        fov="thorax", spacing_mm=(6, 6, 6), n_lesions=3, with_ct=False, seed=3
    )
    folder = tmp_path_factory.mktemp("pet")
    write_pet_dicom(s, folder)
    result = analyze(folder)
    out = tmp_path_factory.mktemp("analysis") / "a"
    write_analysis(result, out, mip=False)
    return folder, result, out


def test_acrin_pt_segmentation_segment_1(shared_data):
    """Issue acceptance: segment 1 of "PT-Segmentation" on PT AC: SUVmax ≈ 42.2, volume ≈ 183 mL."""
    pet = shared_data / ACRIN / "PT_1_PET_AC_081015"
    seg = shared_data / ACRIN / "SEG_100_PT_Segmentation_504365"
    r = measure_mask(pet, seg, segments=[1])
    row = r.lesions.iloc[0]
    assert len(r.lesions) == 1 and int(row["lesion_id"]) == 1
    assert abs(row["suv_max"] - 42.2) < 0.1
    assert abs(row["volume_ml"] - 183.0) < 1.0
    assert int(row["n_voxels"]) == 2548  # voxels of the SEG's segment 1 (4.6875² × 3.27 mm voxels)
    assert r.patient["mask"]["segments"][0]["name"] == "pt_segment_1"
    assert r.patient["mask"]["pairing"] in ("sop_instance_uid", "geometry")


def test_acrin_ct_grid_seg_is_refused_by_the_cli(shared_data, tmp_path, cli):
    pet = shared_data / ACRIN / "PT_1_PET_AC_081015"
    seg = shared_data / ACRIN / "SEG_100_Segmentation_760111"  # drawn on the 512² CT
    res = cli("measure", str(pet), "--mask", str(seg), "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert "carpet: error [MASK_GRID_MISMATCH]" in res.stderr and "Resample the mask" in res.stderr
    assert not (tmp_path / "out").exists()


def test_measure_cli_outputs_like_analyze(shared_data, tmp_path, cli):
    pet = shared_data / ACRIN / "PT_1_PET_AC_081015"
    seg = shared_data / ACRIN / "SEG_100_PT_Segmentation_504365"
    out = tmp_path / "m"
    res = cli("measure", str(pet), "--mask", str(seg), "--out", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    assert {"patient.json", "lesions.csv", "mask.nii.gz"} <= {p.name for p in out.iterdir()}
    pj = json.loads((out / "patient.json").read_text())
    assert pj["lesion_count"] == 2 and pj["method"] == "external mask"
    lesions = pd.read_csv(out / "lesions.csv")
    assert lesions["lesion_id"].tolist() == [1, 2]
    assert json.loads(res.stdout)["lesion_count"] == 2


@pytest.mark.parametrize("fmt", ["seg", "rtstruct", "nifti"])
def test_analyze_export_import_gives_identical_measurements(analysed, tmp_path, fmt):
    folder, result, out = analysed
    assert len(result.lesions) >= 2
    if fmt == "nifti":
        mask = out / "mask.nii.gz"
    else:
        mask = export_dicom_objects(result, tmp_path / "dcm", formats=[fmt])[fmt]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exact pairing: no warning at all
        again = measure_mask(folder, mask)
    np.testing.assert_array_equal(again.labels.array, result.labels.array)
    a = result.lesions[MEASURED].reset_index(drop=True)
    b = again.lesions[MEASURED].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for key in ("tmtv_ml", "tlg", "suv_max", "suv_peak", "dmax_mm", "lesion_count"):
        assert again.patient[key] == result.patient[key], key


def test_export_seg_cli_from_an_analysis_folder(analysed, tmp_path, cli):
    import highdicom as hd

    folder, result, out = analysed
    dst = tmp_path / "dicom"
    res = cli(
        "export-seg", str(folder), "--mask", str(out), "--out", str(dst), "--format", "seg,sr"
    )
    assert res.exit_code == 0, res.stderr
    seg = hd.seg.segread(dst / "seg.dcm")
    assert seg.number_of_segments == len(result.lesions)
    sr = pydicom.dcmread(dst / "sr.dcm")
    assert sr.Modality == "SR" and sr.StudyInstanceUID == seg.StudyInstanceUID
    res = cli(
        "export-seg",
        str(folder),
        "--mask",
        str(out),
        "--out",
        str(tmp_path / "t"),
        "--mode",
        "tumour",
    )
    assert res.exit_code == 0, res.stderr
    assert hd.seg.segread(tmp_path / "t" / "seg.dcm").number_of_segments == 1
    res = cli(
        "export-seg",
        str(folder),
        "--mask",
        str(out),
        "--out",
        str(tmp_path / "bad"),
        "--format",
        "png",
    )
    assert res.exit_code == 2 and "[BAD_EXPORT_FORMAT]" in res.stderr
    res = cli(
        "export-seg",
        str(folder),
        "--mask",
        str(out),
        "--out",
        str(tmp_path / "bad"),
        "--format",
        "sr",
        "--mode",
        "tumour",
    )
    assert res.exit_code == 2 and "one segment per lesion" in res.stderr
    assert not (tmp_path / "bad").exists()


def test_export_needs_a_dicom_pet(analysed, tmp_path):
    from carpet.ingest import write_nifti

    _, result, out = analysed
    nii = tmp_path / "suv.nii.gz"
    write_nifti(result.suv, nii)
    r = measure_mask(nii, out / "mask.nii.gz", units="suv")
    with pytest.raises(InputError, match="needs the PET as DICOM") as ei:
        export_dicom_objects(r, tmp_path / "x")
    assert ei.value.code == "NO_DICOM_SOURCE"
    with pytest.raises(ConfigError, match="unknown export format"):
        parse_export_formats("seg,pdf")


def test_measure_cli_export_failure_leaves_no_output(analysed, tmp_path, cli):
    from carpet.ingest import write_nifti

    _, result, out = analysed
    nii = tmp_path / "suv.nii.gz"
    write_nifti(result.suv, nii)
    dst = tmp_path / "m"
    res = cli(
        "measure",
        str(nii),
        "--units",
        "suv",
        "--mask",
        str(out),
        "--out",
        str(dst),
        "--export",
        "seg",
    )
    assert res.exit_code == 2 and "[NO_DICOM_SOURCE]" in res.stderr
    assert not dst.exists()
    res = cli("measure", str(nii), "--units", "suv", "--mask", str(out), "--out", str(dst))
    assert res.exit_code == 0, res.stderr
    assert (
        pd.read_csv(dst / "lesions.csv")["lesion_id"].tolist()
        == result.lesions["lesion_id"].tolist()
    )


def test_acrin_seg_paired_by_geometry_when_uids_differ(shared_data):
    """A PET copy whose SOP Instance UIDs differ from the SEG's references: measured, with a warning."""
    from carpet.errors import HeaderWarning
    from carpet.ingest import read_pet
    from carpet.ingest.seg import MaskReference, read_mask

    pet = read_pet(shared_data / ACRIN / "PT_1_PET_AC_081015")
    seg = shared_data / ACRIN / "SEG_100_PT_Segmentation_504365"
    exact = read_mask(seg, pet.suv, reference_uids=MaskReference.from_volume(pet.suv), segments=[1])
    assert exact.pairing == "sop_instance_uid"
    ref = MaskReference.from_volume(pet.suv)
    other_copy = MaskReference(ref.study_instance_uid, ref.series_instance_uid,
                               tuple(f"2.25.{k}" for k in range(len(ref.sop_instance_uids))))
    with pytest.warns(HeaderWarning, match="do not match the PET instances; paired by frame of reference"):
        by_geometry = read_mask(seg, pet.suv, reference_uids=other_copy, segments=[1])
    assert by_geometry.pairing == "geometry"
    np.testing.assert_array_equal(by_geometry.labels.array, exact.labels.array)


def test_acrin_exports_validate(shared_data, tmp_path):
    """SEG/RTSTRUCT/SR made from the real (TCIA de-identified) study: no dciodvfy error, re-open."""
    import highdicom as hd
    from interop_builders import dicom_validation_errors

    from carpet.ingest.sr import read_sr_measurements

    pet = shared_data / ACRIN / "PT_1_PET_AC_081015"
    r = measure_mask(pet, shared_data / ACRIN / "SEG_100_PT_Segmentation_504365")
    written = export_dicom_objects(r, tmp_path / "dcm")
    for path in written.values():
        assert dicom_validation_errors(path) == [], path
    assert hd.seg.segread(written["seg"]).number_of_segments == 2
    lesions, patient, _ = read_sr_measurements(written["sr"])
    np.testing.assert_allclose(lesions["suv_max"], r.lesions["suv_max"], rtol=1e-9)
    assert abs(patient["tmtv_ml"] - r.patient["tmtv_ml"]) < 1e-9 * r.patient["tmtv_ml"]
