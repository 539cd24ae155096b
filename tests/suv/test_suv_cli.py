"""``carpet suv``: factors with provenance, coded refusals (exit 2), overrides from options and CSV."""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest


@pytest.fixture
def dro_without_weight(dro_root, tmp_path):
    out = tmp_path / "pt"
    shutil.copytree(dro_root / "DRO_0_0" / "PT", out)
    for p in out.iterdir():
        ds = pydicom.dcmread(p)
        del ds.PatientWeight
        ds.save_as(p)
    return out


def test_cli_suv_json(cli, dro_root):
    res = cli("suv", dro_root / "DRO_0_0" / "PT", "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    # D_ref = 368.08 MBq * 2^(-3600/6586.2); factor = 70 kg * 1000 / D_ref
    assert doc["bw_factor"] == pytest.approx(70000 / (368.08e6 * 2 ** (-3600 / 6586.2)), rel=1e-12)
    assert doc["reference_time_source"] == "series_datetime"
    assert doc["overrides_applied"] == []


def test_cli_suv_table(cli, dro_root):
    res = cli("suv", dro_root / "DRO_3_4" / "PT")
    assert res.exit_code == 0, res.stderr
    assert "per_frame (DecayCorrection NONE)" in res.stdout and "SUVbw" in res.stdout


def test_cli_suv_refusal_and_weight_override(cli, dro_without_weight):
    res = cli("suv", dro_without_weight, "--json")
    assert res.exit_code == 2
    assert "carpet: error [MISSING_WEIGHT]" in res.stderr and "--weight-kg" in res.stderr
    res = cli("suv", dro_without_weight, "--json", "--weight-kg", "70")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["overrides_applied"] == ["weight_kg"] and doc["weight_kg_used"] == 70.0


def test_cli_suv_overrides_csv_and_command_line_precedence(cli, dro_without_weight, tmp_path):
    uid = str(pydicom.dcmread(next(dro_without_weight.iterdir())).SeriesInstanceUID)
    csv = tmp_path / "ov.csv"
    csv.write_text(f"series_instance_uid,weight_kg,sex\n{uid},70,F\n")
    doc = json.loads(cli("suv", dro_without_weight, "--json", "--overrides-csv", csv).stdout)
    assert doc["weight_kg_used"] == 70.0 and doc["sex_used"] == "F"
    assert set(doc["overrides_applied"]) == {"weight_kg", "sex"}
    doc = json.loads(
        cli("suv", dro_without_weight, "--json", "--overrides-csv", csv, "--weight-kg", "80").stdout
    )
    assert doc["weight_kg_used"] == 80.0 and doc["sex_used"] == "F"


def test_cli_suv_bad_options(cli, dro_root, tmp_path):
    res = cli("suv", dro_root / "DRO_0_0" / "PT", "--injection-datetime", "yesterday")
    assert res.exit_code == 2 and "[INVALID_OVERRIDE]" in res.stderr
    res = cli("suv", dro_root / "DRO_0_0" / "PT", "--weight-kg", "70000")
    assert res.exit_code == 2 and "[INVALID_OVERRIDE]" in res.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("series_instance_uid,weight\nx,70\n")
    res = cli("suv", dro_root / "DRO_0_0" / "PT", "--overrides-csv", bad)
    assert res.exit_code == 2 and "[INVALID_OVERRIDES_CSV]" in res.stderr and "weight" in res.stderr


def test_cli_suv_nac_series_refused(cli, acrin_root):
    res = cli("suv", acrin_root / "PT_2_PET_NAC_462754")
    assert res.exit_code == 2
    assert "[UNSUPPORTED_UNITS]" in res.stderr and "PROPCNTS" in res.stderr
