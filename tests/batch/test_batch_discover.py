"""Streaming discovery of PET studies under an archive, any layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carpet.batch.discover import iter_studies
from carpet.errors import InputError


def test_discover_nested_layout_with_timepoints_and_pseudonyms(good_archive):
    jobs = list(iter_studies(good_archive))
    assert len(jobs) == 6
    assert len({j.study_key for j in jobs}) == 6
    by_patient: dict[str, set[str]] = {}
    for j in jobs:
        assert j.series_uid and j.problem is None
        assert (
            j.patient_id.startswith("P-") and "PAT" not in j.patient_id
        )  # pseudonym, not the DICOM ID
        by_patient.setdefault(j.patient_id, set()).add(j.timepoint)
        assert Path(j.path).parent.name.startswith("pat") and Path(j.path).name.startswith("tp")
    assert len(by_patient) == 3
    assert all(tps == {"2024-03-01", "2024-03-08"} for tps in by_patient.values())
    # deterministic across runs (keys drive resumption)
    assert [j.study_key for j in iter_studies(good_archive)] == [j.study_key for j in jobs]
    kept = {j.patient_id for j in iter_studies(good_archive, keep_patient_ids=True)}
    assert kept == {"PAT00", "PAT01", "PAT02"}


def test_discover_is_streaming_group_by_group(good_archive, monkeypatch):
    import importlib

    ingest_discover = importlib.import_module("carpet.ingest.discover")
    calls: list[str] = []
    real = ingest_discover.discover

    def counting(path, **kw):
        calls.append(Path(path).name)
        return real(path, **kw)

    monkeypatch.setattr(ingest_discover, "discover", counting)
    it = iter_studies(good_archive)
    first = next(it)
    assert calls == ["pat00"]  # only the first patient folder has been read
    assert Path(first.path).is_relative_to(good_archive / "pat00")
    rest = list(it)
    assert calls == ["pat00", "pat01", "pat02"] and len(rest) == 5


def test_discover_flat_folder_with_two_studies_and_pet_ct_layout(tmp_path, archive_tools):
    flat = tmp_path / "archive" / "flat"
    for n, pid in enumerate(("A1", "B2")):
        src = tmp_path / f"src{n}"
        archive_tools.write_pet_study(src, seed=n, patient_id=pid)
        flat.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            shutil.move(f, flat / f"{pid}_{f.name}")
    archive_tools.write_pet_study(
        tmp_path / "archive" / "petct" / "study1", seed=3, patient_id="C3", with_ct=True
    )
    jobs = list(iter_studies(tmp_path / "archive"))
    assert len(jobs) == 3
    flat_jobs = [j for j in jobs if Path(j.path) == flat]
    assert len(flat_jobs) == 2 and len({j.series_uid for j in flat_jobs}) == 2
    assert all(len(j.files) == 70 for j in flat_jobs)  # each study hashes only its own files
    (petct,) = [j for j in jobs if "petct" in j.path]
    assert Path(petct.path).name == "study1"  # PT and CT folders: the study folder is the unit
    assert len(petct.files) == 140


def test_discover_mixed_archive_bad_studies_become_jobs(mixed_archive):
    root, kinds = mixed_archive
    problems: list = []
    jobs = {
        Path(j.path).relative_to(root).parts[0]: j for j in iter_studies(root, problems=problems)
    }
    assert set(jobs) == {"pat00", "pat01", "pat02", *kinds.values()}
    assert jobs["corrupt01"].problem[0] == "UNREADABLE_STUDY"
    assert "none readable as DICOM" in jobs["corrupt01"].problem[1]
    assert jobs["ctonly01"].series_uid is None  # no PET: the reader will refuse it
    assert jobs["truncated01"].series_uid is not None
    assert len(jobs["truncated01"].files) == 70  # truncated files are part of its input
    assert any(p.path.endswith("README.txt") for p in problems)


def test_discover_missing_root(tmp_path):
    with pytest.raises(InputError) as exc:
        list(iter_studies(tmp_path / "nope"))
    assert exc.value.code == "BATCH_ROOT_MISSING" and "nope" in str(exc.value)
