"""`carpet review DIR` without --pet: the PET recorded by `carpet analyze` in DIR/source.json."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest


def test_write_analysis_records_the_source_only_in_the_sidecar(tmp_path, monkeypatch):
    from carpet import pipeline
    from carpet.ingest.nifti import write_nifti
    from carpet.synthetic import LesionSpec, make_whole_body_study

    study = make_whole_body_study(
        fov="thorax",
        spacing_mm=(4, 4, 4),
        n_lesions=0,
        with_ct=False,
        lesions=[LesionSpec((-60.0, 0.0, -350.0), 12.0, 10.0, "hilar")],
    )
    nii = tmp_path / "pet_suv.nii.gz"
    write_nifti(study.suv, nii)
    monkeypatch.chdir(tmp_path)  # a relative path is recorded as the absolute path it names
    r = pipeline.analyze("pet_suv.nii.gz", units="suv")
    pipeline.write_analysis(r, tmp_path / "a")
    record = json.loads((tmp_path / "a" / "source.json").read_text())
    assert record == {"pet_path": str(nii), "series_instance_uid": None, "units": "suv"}
    assert str(nii) not in (tmp_path / "a" / "patient.json").read_text()
    # an in-memory volume has no source; source=False records none; a path overrides
    pipeline.write_analysis(pipeline.analyze(study.suv), tmp_path / "b")
    assert not (tmp_path / "b" / "source.json").exists()
    pipeline.write_analysis(r, tmp_path / "d", source=False)
    assert not (tmp_path / "d" / "source.json").exists()
    pipeline.write_analysis(r, tmp_path / "c", source=tmp_path / "elsewhere.nii.gz")
    assert pipeline.read_source_record(tmp_path / "c")["pet_path"] == str(
        tmp_path / "elsewhere.nii.gz"
    )

    # `carpet review DIR`: NIfTI path and units come from source.json (no --pet, no --units)
    from carpet.review.session import ReviewSession

    s = ReviewSession.open(tmp_path / "a", reader="tester", with_ct=False)
    assert s.source == str(nii)
    assert s.summary()["patient"]["lesion_count"] == 1
    assert s.summary()["patient"]["tmtv_ml"] == pytest.approx(r.patient["tmtv_ml"])


def test_open_without_pet_uses_source_json_and_pet_overrides(analysed_study, review_dir, tmp_path):
    from carpet.errors import InputError
    from carpet.review.session import ReviewSession

    s = ReviewSession.open(review_dir, reader="tester", with_ct=False)
    assert s.source == str(analysed_study.pet)
    csv_ids = [r["lesion_id"] for r in s.lesions()]
    assert csv_ids and np.all(np.diff(csv_ids) > 0)
    # the PET moved: source.json is stale, --pet gives its new place
    moved = tmp_path / "moved"
    os.symlink(analysed_study.pet, moved)
    rec = json.loads((review_dir / "source.json").read_text())
    rec["pet_path"] = str(tmp_path / "not-there")
    (review_dir / "source.json").write_text(json.dumps(rec))
    with pytest.raises(InputError) as exc:
        ReviewSession.open(review_dir, with_ct=False)
    assert exc.value.code == "PET_NOT_FOUND" and "source.json" in str(exc.value)
    s2 = ReviewSession.open(review_dir, pet=moved, with_ct=False)
    assert s2.source == str(moved)


def test_open_starts_from_the_saved_state_and_falls_back_to_re_analysis(
    analysed_study, review_dir, monkeypatch
):
    from carpet import pipeline
    from carpet.review.session import ReviewSession

    def no_analyze(*a, **kw):
        raise AssertionError("re-segmented although the folder has its state")

    monkeypatch.setattr(pipeline, "analyze", no_analyze)
    s = ReviewSession.open(review_dir, reader="tester", with_ct=False)
    assert s.resumed_from_state
    patient = json.loads((review_dir / "patient.json").read_text())
    assert s.summary()["patient"]["tmtv_ml"] == patient["tmtv_ml"]
    lid = s.lesions()[0]["lesion_id"]
    s.apply([{"action": "remove", "lesion_id": lid}])
    s.save()
    # the reviewed folder keeps the automatic state in auto/ only; reopening resumes from it
    assert not (review_dir / pipeline.STATE_NAME).exists()
    assert (review_dir / "auto" / pipeline.STATE_NAME).is_file()
    s2 = ReviewSession.open(review_dir, reader="tester", with_ct=False)
    assert s2.resumed_from_state and s2.summary()["dirty"] is False
    assert next(r for r in s2.lesions() if r["lesion_id"] == lid)["status"] == "removed"
    # no state (older folders): the automatic result is recomputed
    monkeypatch.undo()
    (review_dir / "auto" / pipeline.STATE_NAME).unlink()
    s3 = ReviewSession.open(review_dir, reader="tester", with_ct=False)
    assert not s3.resumed_from_state
    assert s3.summary()["patient"]["tmtv_ml"] == pytest.approx(s2.summary()["patient"]["tmtv_ml"])
