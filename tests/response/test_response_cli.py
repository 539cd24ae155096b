"""`carpet response` end to end on DICOM phantom studies written with different headers and poses."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from carpet.synthetic import (
    LesionSpec,
    PatientSpec,
    PetHeaderSpec,
    RigidPose,
    make_whole_body_study,
    write_pet_dicom,
    write_study_dicom,
)
from carpet.synthetic.phantom import ORGAN_SUV

SP = (4.0, 4.0, 4.0)
BASE = [
    LesionSpec((-5.0, -35.0, -370.0), 14.0, 12.0, "mediastinal"),
    LesionSpec((-55.0, 20.0, -430.0), 11.0, 9.0, "hilar_right"),
    LesionSpec((-80.0, 0.0, -560.0), 12.0, 9.0, "liver"),
]
FU = [
    LesionSpec((-5.0, -35.0, -370.0), 11.0, 6.0, "mediastinal"),
    LesionSpec((-55.0, 20.0, -430.0), 11.0, 14.0, "hilar_right"),
]
M3 = [
    LesionSpec((-5.0, -35.0, -370.0), 12.0, 8.0, "mediastinal"),
    LesionSpec((130.0, 10.0, -330.0), 12.0, 9.0, "new"),
]


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("resp")
    a = make_whole_body_study(fov="thorax", spacing_mm=SP, lesions=BASE, seed=4)
    b = make_whole_body_study(
        fov="thorax",
        spacing_mm=SP,
        lesions=FU,
        seed=4,
        patient=PatientSpec(weight_kg=69.0),
        pose=RigidPose((1.0, -1.5, 3.0), (30.0, -18.0, 40.0)),
    )
    c = make_whole_body_study(
        fov="thorax",
        spacing_mm=SP,
        lesions=M3,
        seed=4,
        with_ct=False,
        pose=RigidPose((0, 0, -2.0), (-20.0, 10.0, -25.0)),
    )
    write_study_dicom(
        a, root / "bl", header=PetHeaderSpec(injection_datetime=datetime(2024, 1, 5, 8, 0))
    )
    write_study_dicom(
        b,
        root / "fu",
        vendor="SIEMENS",
        header=PetHeaderSpec(
            injection_datetime=datetime(2024, 2, 28, 10, 30),
            injected_dose_bq=300e6,
            uptake_s=4200,
            uid_seed="fu",
        ),
    )
    write_pet_dicom(
        c,
        root / "m3",
        vendor="PHILIPS",
        header=PetHeaderSpec(
            injection_datetime=datetime(2024, 4, 29, 9, 0), injected_dose_bq=250e6, uid_seed="m3"
        ),
    )
    write_pet_dicom(
        b,
        root / "other",
        header=PetHeaderSpec(
            injection_datetime=datetime(2024, 2, 28, 10, 0), patient_id="SYNTH-9", uid_seed="other"
        ),
    )
    return root, a, b, c


@pytest.mark.slow
def test_response_cli_contract(studies, tmp_path, cli):
    root, a, b, _ = studies
    out = tmp_path / "out"
    res = cli("response", root / "bl", root / "fu", "--out", out, "--infusion-date", "2024-01-29")
    assert res.exit_code == 0, res.stderr
    assert "proposed Deauville" in res.stdout
    for sub in ("baseline", "followup"):
        for f in ("patient.json", "lesions.csv", "mask.nii.gz", "mip.png", "reference_vois.nii.gz"):
            assert (out / sub / f).is_file(), (sub, f)
    assert (out / "response_mip.png").stat().st_size > 10_000
    r = json.loads((out / "response.json").read_text())
    keys = [
        "tmtv_ml",
        "tlg",
        "suv_max",
        "suv_peak",
        "lesion_count",
        "study_date",
        "role",
        "liver_suv_mean",
        "mbp_suv_mean",
        "liver_voi_center_mm",
        "mbp_voi_center_mm",
    ]
    for tp in ("baseline", "followup"):
        assert set(keys) <= set(r[tp])
    assert set(
        ["tmtv_ml", "tmtv_pct", "tlg_pct", "suv_max_pct", "suv_peak_pct", "tmtv_growth_per_day"]
    ) <= set(r["delta"])
    assert set(["method", "matrix", "residual_mm"]) <= set(r["registration"])
    assert r["registration"]["method"] == "ct" and np.array(r["registration"]["matrix"]).shape == (
        4,
        4,
    )
    assert isinstance(r["deauville_proxy"], int) and 1 <= r["deauville_proxy"] <= 5
    assert r["lugano_proxy"] in ("CMR", "PMR", "NMR", "PMD")
    assert "parameters" in r and "warnings" in r and "versions" in r
    assert (
        r["baseline"]["role"] == "TT" and r["followup"]["role"] == "M1" and r["interval_days"] == 54
    )
    assert r["followup"]["day_from_infusion"] == 30
    # exact truth of each timepoint (different header values, same SUV). The analysis may also
    # keep physiological fragments (the phantom's myocardium sits exactly at SUV 4), so the truth
    # lesions are found by position and checked one by one.
    bl = pd.read_csv(out / "baseline" / "lesions.csv")
    fl = pd.read_csv(out / "followup" / "lesions.csv")
    m = pd.read_csv(out / "lesion_matches.csv")
    assert list(m.columns[:8]) == [
        "baseline_id",
        "followup_id",
        "status",
        "distance_mm",
        "suv_max_baseline",
        "suv_max_followup",
        "volume_ml_baseline",
        "volume_ml_followup",
    ]

    def lesion_id(table, truth):
        d = np.linalg.norm(
            table[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy() - truth.center_mm,
            axis=1,
        )
        assert d.min() < 2.0
        row = table.iloc[int(np.argmin(d))]
        assert row["volume_ml"] == pytest.approx(truth.volume_ml, rel=1e-6)
        assert row["suv_max"] == pytest.approx(truth.suv, rel=1e-3)
        return int(row["lesion_id"])

    site_b = {t.site: lesion_id(bl, t) for t in a.lesions}
    site_f = {t.site: lesion_id(fl, t) for t in b.lesions}
    for site in ("mediastinal", "hilar_right"):
        row = m[m["baseline_id"] == site_b[site]].iloc[0]
        assert row["status"] == "matched" and int(row["followup_id"]) == site_f[site]
        tb = next(t for t in a.lesions if t.site == site)
        tf = next(t for t in b.lesions if t.site == site)
        assert row["delta_volume_ml"] == pytest.approx(tf.volume_ml - tb.volume_ml, rel=1e-5)
        assert row["delta_suv_max_pct"] == pytest.approx((tf.suv - tb.suv) / tb.suv * 100, rel=1e-3)
    gone = m[m["baseline_id"] == site_b["liver"]].iloc[0]
    assert gone["status"] == "disappeared" and pd.isna(gone["followup_id"])
    assert gone["residual_suv_max_followup"] == pytest.approx(ORGAN_SUV["liver"], rel=1e-3)
    # patient-level Δ = difference of the two patient.json values
    pb = json.loads((out / "baseline" / "patient.json").read_text())
    pf = json.loads((out / "followup" / "patient.json").read_text())
    assert r["baseline"]["tmtv_ml"] == pb["tmtv_ml"] and r["followup"]["tmtv_ml"] == pf["tmtv_ml"]
    assert r["delta"]["tmtv_ml"] == pytest.approx(pf["tmtv_ml"] - pb["tmtv_ml"])
    assert r["delta"]["tmtv_pct"] == pytest.approx(
        (pf["tmtv_ml"] - pb["tmtv_ml"]) / pb["tmtv_ml"] * 100
    )
    assert r["delta"]["suv_max_pct"] == pytest.approx((14 - 12) / 12 * 100, rel=1e-3)
    for tp in ("baseline", "followup"):
        assert r[tp]["liver_suv_mean"] == pytest.approx(ORGAN_SUV["liver"], rel=1e-3)
        assert r[tp]["mbp_suv_mean"] == pytest.approx(ORGAN_SUV["blood_pool"], rel=1e-3)
    # ids are those of the two lesions.csv
    assert set(m["baseline_id"].dropna().astype(int)) == set(bl["lesion_id"])
    assert set(m["followup_id"].dropna().astype(int)) == set(fl["lesion_id"])


def test_response_cli_three_studies_timeline_and_voi_override(studies, tmp_path, cli):
    root, a, _, _ = studies
    out = tmp_path / "out3"
    liver_idx = np.argwhere(a.organs.array == 5)
    centre = a.suv.index_to_world(liver_idx).mean(axis=0) + [-30.0, 0.0, 0.0]
    text = ",".join(f"{v:.1f}" for v in centre)
    res = cli(
        "response",
        root / "bl",
        root / "fu",
        root / "m3",
        "--out",
        out,
        "--infusion-date",
        "2024-01-29",
        "--liver-voi",
        text,
    )
    assert res.exit_code == 0, res.stderr
    r = json.loads((out / "response.json").read_text())
    assert [t["role"] for t in r["timepoints"]] == ["TT", "M1", "M3"]
    assert [(c["baseline_index"], c["followup_index"]) for c in r["comparisons"]] == [
        (0, 1),
        (0, 2),
        (1, 2),
    ]
    assert r["comparisons"][1]["registration"]["method"] == "pet"  # m3 has no CT
    assert r["baseline"]["liver_voi_method"] == "override"
    assert r["baseline"]["liver_voi_center_mm"] == pytest.approx(
        [float(v) for v in text.split(",")], abs=1e-3
    )
    # the override is mapped into each follow-up through its registration: same anatomical point, same mean
    for c in r["comparisons"][:2]:
        assert c["followup"]["liver_voi_method"] == "override"
        assert c["followup"]["liver_suv_mean"] == pytest.approx(ORGAN_SUV["liver"], rel=1e-3)
    tl = pd.read_csv(out / "timeline.csv")
    assert list(tl["role"]) == ["TT", "M1", "M3"] and list(tl["day_from_infusion"]) == [-24, 30, 91]
    assert (out / "kinetics.png").is_file() and (out / "lesion_matches_3_vs_2.csv").is_file()
    m3 = r["comparisons"][1]
    assert (
        m3["new_lesion_count"] == 1 and m3["lugano_proxy"] == "PMD" and m3["deauville_proxy"] == 5
    )


def test_response_cli_refusals_leave_no_output(studies, tmp_path, cli):
    root = studies[0]
    out = tmp_path / "never"
    res = cli("response", root / "bl", root / "other", "--out", out)
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"carpet: error [DIFFERENT_PATIENTS] studies of different patients: {root / 'bl'} and {root / 'other'} have "
        "different PatientID. Pass --allow-different-patients if this is intended."
    )
    assert not out.exists()
    res = cli("response", root / "fu", root / "bl", "--out", out)
    assert res.exit_code == 2 and "[FOLLOWUP_BEFORE_BASELINE]" in res.stderr
    assert (
        f"follow-up {root / 'bl'} is dated 2024-01-05, before its baseline {root / 'fu'} (2024-02-28)"
        in res.stderr
    )
    assert not out.exists()
    for args, code in [
        ((root / "bl",), "TOO_FEW_STUDIES"),
        ((root / "bl", root / "missing"), "NOT_FOUND"),
        ((root / "bl", root / "fu", "--liver-voi", "1,2"), "BAD_POINT"),
        ((root / "bl", root / "fu", "--infusion-date", "29/01/2024"), "BAD_DATE"),
        ((root / "bl", root / "fu", "--roles", "TT,XX"), "BAD_ROLES"),
    ]:
        res = cli("response", *args, "--out", out)
        assert res.exit_code == 2 and f"[{code}]" in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_response_cli_allow_different_patients(studies, tmp_path, cli):
    root = studies[0]
    out = tmp_path / "allowed"
    res = cli(
        "response",
        root / "bl",
        root / "other",
        "--out",
        out,
        "--allow-different-patients",
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    r = json.loads((out / "response.json").read_text())
    assert (
        "baseline and followup have different PatientID (allowed by --allow-different-patients)"
        in r["warnings"]
    )
    assert str(root) not in (out / "response.json").read_text()  # no input paths in the output
    assert r["registration"]["method"] == "pet"
