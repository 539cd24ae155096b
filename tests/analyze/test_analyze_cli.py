"""``carpet analyze``: the output contract, bad input, edits, NIfTI input, ACRIN end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from carpet.config import AnalysisConfig
from carpet.pipeline import analyze, write_analysis
from carpet.synthetic import LesionSpec, make_whole_body_study, write_pet_dicom

LESIONS = [
    LesionSpec((-5.0, -35.0, -370.0), 14.0, 15.0, "mediastinal"),
    LesionSpec((135.0, 10.0, -340.0), 11.0, 10.0, "axillary_left"),
    LesionSpec((-55.0, 20.0, -430.0), 10.0, 7.0, "hilar_right"),
]
CSV_COLUMNS = [
    "lesion_id",
    "volume_ml",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "tlg",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
]
PATIENT_KEYS = [
    "tmtv_ml",
    "tlg",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "lesion_count",
    "dmax_mm",
    "sdmax_per_m",
    "dbulk_mm",
    "method",
    "parameters",
    "provenance",
    "warnings",
]


@pytest.fixture(scope="module")
def study():
    return make_whole_body_study(
        spacing_mm=(4.0, 4.0, 4.0), fov="thorax", lesions=LESIONS, with_ct=False
    )


@pytest.fixture(scope="module")
def dicom_dir(study, tmp_path_factory):
    d = tmp_path_factory.mktemp("pet")
    write_pet_dicom(study, d, orientation="FFS")
    return d


def test_cli_writes_the_contract(cli, dicom_dir, tmp_path, study):
    out = tmp_path / "out"
    res = cli("analyze", dicom_dir, "--out", out)
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "analysis_state.npz",  # automatic edit state, for `carpet review` (no re-segmenting)
        "lesions.csv",
        "mask.nii.gz",
        "mip.png",
        "patient.json",
        "source.json",
    ]
    # where the PET was read (for `carpet review DIR`), only in the sidecar, never in patient.json
    assert json.loads((out / "source.json").read_text()) == {
        "pet_path": str(dicom_dir),
        "series_instance_uid": json.loads((out / "patient.json").read_text())["provenance"][
            "series_instance_uid"
        ],
        "units": None,
    }
    assert str(dicom_dir) not in (out / "patient.json").read_text()
    patient = json.loads((out / "patient.json").read_text())
    for key in PATIENT_KEYS:
        assert key in patient
    table = pd.read_csv(out / "lesions.csv")
    assert list(table.columns[: len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert patient["lesion_count"] == len(table) == 3
    # truth: piecewise-constant lesions, exact volumes and SUVmax
    truth = sorted(study.lesions, key=lambda le: -le.suv)
    np.testing.assert_allclose(table.volume_ml, [le.volume_ml for le in truth], rtol=1e-6)
    np.testing.assert_allclose(table.suv_max, [le.suv for le in truth], rtol=1e-4)
    assert patient["tmtv_ml"] == pytest.approx(sum(le.volume_ml for le in truth))
    # SDmax from the DICOM weight/height (BSA DuBois)
    assert patient["sdmax_per_m"] == pytest.approx(
        patient["dmax_mm"] / 1000 / patient["patient"]["bsa_m2"]["dubois"]
    )
    # the mask: label values are lesion ids, on the PET grid
    from carpet.core.geometry import resample_to
    from carpet.ingest import read_pet
    from carpet.ingest.nifti import read_nifti

    mask = read_nifti(out / "mask.nii.gz")
    pet = read_pet(dicom_dir)
    assert pet.suv.orientation == "IPR"  # feet-first series: slices stored from the feet
    assert mask.same_grid_as(pet.suv, atol_mm=1e-3)
    assert sorted(np.unique(mask.array).tolist()) == [0, *table.lesion_id.tolist()]
    ids = np.rint(mask.array).astype(int)
    t = resample_to(study.lesion_truth, pet.suv, order=0).array
    for lid, le in zip(table.lesion_id, truth, strict=False):
        np.testing.assert_array_equal(ids == lid, t == le.lesion_id)
    # privacy: no patient name or id in any output
    text = (out / "patient.json").read_text() + (out / "lesions.csv").read_text()
    assert "SYNTHETIC" not in text.upper() and "ANONYMOUS" not in text.upper()


def test_json_output_and_edits(cli, dicom_dir, tmp_path):
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps({"version": 1, "actions": [{"action": "remove", "lesion_id": 2}]}))
    out = tmp_path / "out"
    res = cli("analyze", dicom_dir, "--out", out, "--edits", edits, "--json", "--no-mip")
    assert res.exit_code == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["lesion_count"] == 2
    patient = json.loads((out / "patient.json").read_text())
    assert patient["edits"]["removed_lesion_ids"] == [2]
    assert json.loads((out / "edits.json").read_text())["actions"][0]["lesion_id"] == 2
    assert not (out / "mip.png").exists()


@pytest.mark.parametrize(
    "args, code",
    [
        (["--method", "otsu"], "UNKNOWN_METHOD"),
        (["--min-volume-ml", "-1"], "BAD_PARAMETER"),
        (["--connectivity", "7"], "BAD_CONNECTIVITY"),
        (["--edits", "missing.json"], "EDITS_NOT_FOUND"),
        (["--liver-voi", "1,2"], "BAD_POINT"),
    ],
)
def test_bad_options_fail_cleanly(cli, dicom_dir, tmp_path, args, code):
    out = tmp_path / "out"
    res = cli("analyze", dicom_dir, "--out", out, *args)
    assert res.exit_code == 2
    assert f"[{code}]" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_input_fails_cleanly(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    res = cli("analyze", empty, "--out", out)
    assert res.exit_code == 2 and str(empty) in res.stderr
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b not really gzip")
    res = cli("analyze", corrupt, "--out", out, "--units", "suv")
    assert res.exit_code != 0 and "corrupt.nii.gz" in res.stderr
    res = cli("analyze", tmp_path / "nothing-here", "--out", out)
    assert res.exit_code == 2 and "no such file" in res.stderr
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_nifti_input_needs_units(cli, study, tmp_path):
    from carpet.ingest.nifti import write_nifti

    nii = tmp_path / "suv.nii.gz"
    write_nifti(study.suv, nii)
    res = cli("analyze", nii, "--out", tmp_path / "o1")
    assert res.exit_code == 2 and "NIFTI_UNITS_REQUIRED" in res.stderr
    res = cli("analyze", nii, "--out", tmp_path / "o2", "--units", "suv", "--no-mip")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "o2" / "patient.json").read_text())["lesion_count"] == 3


def test_zero_lesions_is_valid(tmp_path):
    s = make_whole_body_study(spacing_mm=(6.0, 6.0, 6.0), fov="thorax", n_lesions=0, with_ct=False)
    r = analyze(s.suv, config=AnalysisConfig(reference_regions=False))
    assert (
        r.patient["lesion_count"] == 0
        and r.patient["tmtv_ml"] == 0.0
        and r.patient["dmax_mm"] == 0.0
    )
    write_analysis(r, tmp_path / "o")
    assert pd.read_csv(tmp_path / "o" / "lesions.csv").empty


def test_acrin_end_to_end(shared_data, tmp_path, cli):
    pet = shared_data / "acrin-nsclc-fdg-pet-042" / "pet_uncompressed"
    out = tmp_path / "acrin"
    res = cli("analyze", pet, "--out", out)
    assert res.exit_code == 0, res.stderr
    table = pd.read_csv(out / "lesions.csv")
    patient = json.loads((out / "patient.json").read_text())
    top = table.iloc[0]
    assert top.suv_max == pytest.approx(42.2, abs=0.1)
    assert top.centroid_x_mm < 0  # patient's right
    # the hot urinary activity at the caudal end of the field of view is not counted
    assert (table.centroid_z_mm > -250).all()
    organs = [x["organ"] for x in patient["physiological_excluded"]["regions"]]
    assert "kidney" in organs and "myocardium" in organs
    assert patient["lesion_count"] == len(table) >= 1
    assert str(pet) not in (out / "patient.json").read_text()  # input paths are not recorded


def test_acrin_nac_series_is_refused(shared_data, tmp_path, cli):
    nac = shared_data / "acrin-nsclc-fdg-pet-042" / "pet_uncompressed" / "PT_2_PET_NAC_462754"
    out = tmp_path / "nac"
    res = cli("analyze", nac, "--out", out)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "PT_2_PET_NAC_462754" in res.stderr
    assert not out.exists()


def test_percist_with_liver_override_matches_truth(study):
    # uniform liver 2.2 (SD 0) -> threshold 1.5 x 2.2 = 3.3: uniform lesions are exactly their spheres
    r = analyze(
        study,
        config=AnalysisConfig(method="percist", write_mip=False),
        liver_center_mm=(-78.0, 0.0, -585.0),
    )
    assert r.patient["liver_suv_mean"] == pytest.approx(2.2, abs=1e-5)
    assert r.patient["parameters"]["percist_threshold_suv"] == pytest.approx(3.3, abs=1e-4)
    assert r.patient["tlr"] == pytest.approx(r.patient["suv_peak"] / 2.2, rel=1e-5)
    truth = sorted(study.lesions, key=lambda le: -le.suv)
    np.testing.assert_allclose(r.lesions.volume_ml, [le.volume_ml for le in truth], rtol=1e-6)


def test_nan_voxels_are_treated_as_zero_with_a_warning(study):
    from carpet.errors import QualityWarning

    a = study.suv.array.copy()
    a[:, :10, :] = np.nan  # e.g. outside the reconstructed field of view
    with pytest.warns(QualityWarning, match="NaN"):
        r = analyze(study.suv.with_array(a), config=AnalysisConfig(reference_regions=False))
    assert r.patient["lesion_count"] == 3
    assert np.isfinite(r.lesions.suv_peak).all()
    assert any("NaN" in w for w in r.warnings)
