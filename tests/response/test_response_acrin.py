"""ACRIN FDG PET/CT (../shared/data): compared with itself, and with a copy moved by a known transform."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

ACRIN = "acrin-nsclc-fdg-pet-042"

# known rigid motion of the copy: rotation about z then x, and a translation (LPS mm)
ANGLE_Z, ANGLE_X = np.radians(4.0), np.radians(-2.0)
RZ = np.array(
    [[np.cos(ANGLE_Z), -np.sin(ANGLE_Z), 0], [np.sin(ANGLE_Z), np.cos(ANGLE_Z), 0], [0, 0, 1]]
)
RX = np.array(
    [[1, 0, 0], [0, np.cos(ANGLE_X), -np.sin(ANGLE_X)], [0, np.sin(ANGLE_X), np.cos(ANGLE_X)]]
)
R = RZ @ RX
T = np.array([32.0, -21.0, 45.0])
C = np.array([0.0, 0.0, -150.0])  # centre of the rotation


def _moved_copy(src, dst):
    """Rewrite ImagePositionPatient/ImageOrientationPatient: patient point p -> R (p - C) + C + T."""
    import pydicom

    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        ds.ImagePositionPatient = [f"{v:.6f}" for v in R @ (ipp - C) + C + T]
        ds.ImageOrientationPatient = [
            f"{v:.8f}" for v in np.concatenate([R @ iop[:3], R @ iop[3:]])
        ]
        ds.save_as(dst / f.name)


@pytest.mark.slow
def test_response_acrin_moved_copy_registration_within_2mm(shared_data, tmp_path):
    from carpet.ingest.pet import read_pet
    from carpet.response.registration import register_studies

    src = shared_data / ACRIN / "pet_uncompressed" / "PT_1_PET_AC_081015"
    _moved_copy(src, tmp_path / "moved")
    base = read_pet(src)
    moved = read_pet(tmp_path / "moved")
    reg = register_studies(base.suv, moved.suv)
    assert reg.method == "pet" and reg.elapsed_s < 30
    body = np.argwhere(base.suv.array > 0.3)[::53]
    pts = base.suv.index_to_world(body)
    err = np.linalg.norm(reg.followup_to_baseline((pts - C) @ R.T + C + T) - pts, axis=1)
    assert err.mean() < 2.0 and np.percentile(err, 95) < 2.0, (err.mean(), err.max())


@pytest.mark.slow
def test_response_acrin_compared_with_itself_zero_delta(shared_data, tmp_path, cli):
    study = shared_data / ACRIN / "study_jpegls"
    out = tmp_path / "out"
    res = cli("response", study, study, "--out", out, "--json")
    assert res.exit_code == 0, res.stderr
    r = json.loads((out / "response.json").read_text())
    assert r["interval_days"] == 0
    assert r["delta"]["tmtv_ml"] == 0 and r["delta"]["tmtv_pct"] == 0
    assert (
        r["delta"]["suv_max_pct"] == 0
        and r["delta"]["suv_peak_pct"] == 0
        and r["delta"]["tlg_pct"] == 0
    )
    assert r["registration"]["method"] == "ct"
    assert np.abs(np.array(r["registration"]["translation_mm"])).max() < 1.0
    assert r["registration"]["rotation_deg"] < 0.2
    assert r["baseline"]["liver_suv_mean"] == r["followup"]["liver_suv_mean"]
    assert 1.3 <= r["baseline"]["liver_suv_mean"] <= 3.0
    m = pd.read_csv(out / "lesion_matches.csv")
    assert len(m) == r["baseline"]["lesion_count"] > 0
    assert (m["status"] == "matched").all() and (m["baseline_id"] == m["followup_id"]).all()
    assert (m["delta_suv_max_pct"] == 0).all() and (m["distance_mm"] < 1.0).all()
    assert r["new_lesion_count"] == 0
    # identical studies: the Lugano proxy cannot be a response
    assert r["lugano_proxy"] in ("NMR", "CMR")
    shutil.rmtree(out)
