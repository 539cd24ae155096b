"""`carpet info` and `carpet demo` through the real entry point."""

from __future__ import annotations

import json

import pytest

from carpet.synthetic import (
    PetHeaderSpec,
    make_whole_body_study,
    write_pet_dicom,
    write_study_dicom,
)


@pytest.fixture(scope="module")
def phantom():
    return make_whole_body_study(
        fov="head_neck", spacing_mm=(10.0, 10.0, 10.0), n_lesions=1, seed=1
    )


def test_info_json_synthetic_with_refusal_and_problem(cli, phantom, tmp_path):
    write_study_dicom(phantom, tmp_path / "ok")
    write_pet_dicom(
        phantom,
        tmp_path / "noweight",
        header=PetHeaderSpec(uid_seed="no-weight", omit=("PatientWeight",)),
    )
    (tmp_path / "readme.txt").write_text("hello")
    res = cli("info", tmp_path, "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    pts = [s for s in doc["series"] if s["modality"] == "PT"]
    assert len(pts) == 2 and len(doc["series"]) == 3
    good = next(s for s in pts if s["suv"] is not None)
    bad = next(s for s in pts if s["suv"] is None)
    # the writer's forward formula: factor = W[g] / (D·2^(−Δt/T½)) with Δt = 3600 s
    expected = 75000.0 / (370e6 * 2 ** (-3600 / 6586.2))
    assert good["suv"]["bw_factor"] == pytest.approx(expected, rel=1e-9)
    assert good["patient"] == {"weight_kg": 75.0, "height_m": 1.75, "sex": "M"}
    assert good["geometry"]["shape"] == list(phantom.suv.shape)
    assert bad["suv_error"]["code"] == "MISSING_WEIGHT" and bad["suv_error"]["message"]
    ct = next(s for s in doc["series"] if s["modality"] == "CT")
    assert ct["suv"] is None and ct["suv_error"] is None and ct["units"] == "HU"
    assert [p["path"].endswith("readme.txt") for p in doc["problems"]] == [True]


def test_info_table(cli, phantom, tmp_path):
    write_pet_dicom(phantom, tmp_path, header=PetHeaderSpec(omit=("PatientWeight",)))
    res = cli("info", tmp_path)
    assert res.exit_code == 0
    assert (
        "MISSING_WEIGHT" in res.stdout and "PET WB AC" in res.stdout and "SUV refused" in res.stdout
    )


def test_info_geometry_error_is_reported_not_raised(cli, phantom, tmp_path):
    files = write_pet_dicom(phantom, tmp_path)
    files[3].unlink()
    doc = json.loads(cli("info", tmp_path, "--json").stdout)
    assert doc["series"][0]["geometry_error"]["code"] == "MISSING_SLICE"
    assert doc["series"][0]["suv"] is not None  # SUV factors need headers only


def test_info_empty_and_missing(cli, tmp_path):
    res = cli("info", tmp_path, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["series"] == []
    assert "No DICOM series" in cli("info", tmp_path).stdout
    res = cli("info", tmp_path / "nope")
    assert res.exit_code == 2 and "[PATH_NOT_FOUND]" in res.stderr


@pytest.mark.slow
def test_demo_runs_and_round_trips(cli, tmp_path):
    res = cli("demo", "--out", tmp_path / "demo", "--keep")
    assert res.exit_code == 0, res.stderr + res.stdout
    assert "SUVbw factor" in res.stdout and "max |SUV − truth|" in res.stdout
    assert (tmp_path / "demo" / "dicom" / "PT").is_dir()
    doc = json.loads(cli("info", tmp_path / "demo" / "dicom", "--json").stdout)
    assert sorted(s["modality"] for s in doc["series"]) == ["CT", "PT"]


def test_demo_steps_are_extensible(tmp_path, monkeypatch):
    from rich.console import Console

    import carpet.synthetic.dicom_writer as w
    from carpet.cli import demo

    seen = []
    # the ingest steps only (later stages' steps have their own tests), plus a probe step
    steps = [
        demo.step_generate,
        demo.step_discover,
        demo.step_suv,
        lambda ctx: seen.append(ctx.pet.suv.shape),
    ]
    monkeypatch.setattr(demo, "DEMO_STEPS", steps)
    monkeypatch.setattr(w, "DEMO_SPACING_MM", (20.0, 20.0, 20.0))
    with open(tmp_path / "log.txt", "w") as log:
        ctx = demo.run_demo(tmp_path / "d", console=Console(file=log))
    assert seen == [ctx.study.suv.shape]
    assert ctx.results["suv_max_abs_error"] < 1e-3 * ctx.study.suv.array.max()
    assert not (tmp_path / "d" / "dicom").exists()  # removed without --keep
    assert "SUVbw factor" in (tmp_path / "log.txt").read_text()
