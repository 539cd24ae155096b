"""The runner's machinery with controlled tasks: skipping, bounds, worker death, Dask."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from carpet.batch.jobs import StudyJob, key_of
from carpet.batch.runner import run_batch
from carpet.batch.state import StudyRecord
from carpet.config import AnalysisConfig, BatchConfig
from carpet.errors import ConfigError


def echo_task(job: StudyJob, params: dict) -> StudyRecord:
    """Deterministic stand-in for the analysis: lesion count from the input file; dies on request."""
    text = Path(job.path).read_text()
    if text.startswith("die"):
        os._exit(3)
    if text.startswith("slow"):
        time.sleep(0.3)
    n = len(text)
    out = Path(params["out_dir"]) / "studies" / job.study_key
    out.mkdir(parents=True, exist_ok=True)
    (out / "patient.json").write_text("{}")
    return StudyRecord(
        study_key=job.study_key,
        patient_id=job.patient_id,
        timepoint=job.timepoint,
        source_path=job.path,
        series_uid=None,
        status="done",
        input_hash=params["input_hash"],
        params_hash=params["params_hash"],
        params_json=params["params_json"],
        software_version=params["software_version"],
        overrides_json=job.overrides_json(),
        patient={"lesion_count": n, "pid": os.getpid()},
        lesions=[{"lesion_id": i + 1, "volume_ml": float(i)} for i in range(n % 4)],
        output_dir=str(out),
    )


def _jobs(root: Path, texts: list[str]) -> list[StudyJob]:
    jobs = []
    for i, t in enumerate(texts):
        f = root / f"s{i}.txt"
        if not f.exists() or f.read_text() != t:
            f.write_text(t)
        jobs.append(
            StudyJob(study_key=key_of("t", str(i)), patient_id=f"P{i}", timepoint="b", path=str(f))
        )
    return jobs


def test_rerun_skips_unchanged_and_recomputes_changed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    out = tmp_path / "out"
    cfg = BatchConfig(workers=2)
    s1 = run_batch(None, out, jobs=_jobs(src, ["a", "bb", "ccc"]), task=echo_task, batch=cfg)
    assert (s1.computed, s1.skipped, s1.done, s1.failed) == (3, 0, 3, 0)
    s2 = run_batch(None, out, jobs=_jobs(src, ["a", "bb", "ccc"]), task=echo_task, batch=cfg)
    assert (s2.computed, s2.skipped) == (0, 3)
    s3 = run_batch(
        None, out, jobs=_jobs(src, ["a", "bX", "ccc"]), task=echo_task, batch=cfg
    )  # content changed
    assert (s3.computed, s3.skipped) == (1, 2)
    s4 = run_batch(
        None,
        out,
        jobs=_jobs(src, ["a", "bX", "ccc"]),
        task=echo_task,
        batch=cfg,
        config=AnalysisConfig(method="pct41"),
    )
    assert (s4.computed, s4.skipped) == (3, 0)
    # an output folder deleted by hand is recomputed
    import shutil

    shutil.rmtree(out / "studies" / key_of("t", "0"))
    s5 = run_batch(
        None,
        out,
        jobs=_jobs(src, ["a", "bX", "ccc"]),
        task=echo_task,
        batch=cfg,
        config=AnalysisConfig(method="pct41"),
    )
    assert (s5.computed, s5.skipped) == (1, 2)


def test_worker_death_is_isolated_and_retried(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    out = tmp_path / "out"
    texts = ["ok1", "die", "ok2", "ok3"]
    s = run_batch(None, out, jobs=_jobs(src, texts), task=echo_task, batch=BatchConfig(workers=1))
    assert s.failures_by_code == {"WORKER_DIED": 1}
    assert s.done == 3 and not s.ok
    # transient: retried next run (still dies -> still recorded once, nothing counted twice)
    s2 = run_batch(None, out, jobs=_jobs(src, texts), task=echo_task, batch=BatchConfig(workers=1))
    assert (s2.computed, s2.skipped, s2.done, s2.failed) == (1, 3, 3, 1)
    (src / "s1.txt").write_text("fixed")
    s3 = run_batch(
        None,
        out,
        jobs=_jobs(src, ["ok1", "fixed", "ok2", "ok3"]),
        task=echo_task,
        batch=BatchConfig(workers=1),
    )
    assert s3.ok and (s3.done, s3.failed) == (4, 0)


def test_in_flight_bounded_by_count_and_memory(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    seen: list[int] = []
    jobs = _jobs(src, ["slow"] * 6)
    run_batch(
        None,
        tmp_path / "o1",
        jobs=jobs,
        task=echo_task,
        batch=BatchConfig(workers=2, in_flight_per_worker=1),
        progress=lambda p: seen.append(p.in_flight),
    )
    assert max(seen) == 2
    seen.clear()
    # memory budget for one study at a time (each study estimated at >= 200 MB)
    run_batch(
        None,
        tmp_path / "o2",
        jobs=jobs,
        task=echo_task,
        batch=BatchConfig(workers=2, memory_budget_mb=300),
        progress=lambda p: seen.append(p.in_flight),
    )
    assert max(seen) == 1


def test_progress_counts_rate_and_eta(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    events = []
    run_batch(
        None,
        tmp_path / "o",
        jobs=_jobs(src, ["a", "b", "c"]),
        task=echo_task,
        batch=BatchConfig(workers=1),
        progress=lambda p: events.append(p.to_dict()),
    )
    last = events[-1]
    assert (last["total"], last["done"], last["finished"], last["discovery_done"]) == (
        3,
        3,
        3,
        True,
    )
    assert last["rate_per_s"] > 0 and last["eta_s"] == 0


def test_batch_without_input_and_bad_config(tmp_path):
    with pytest.raises(ConfigError) as exc:
        run_batch(None, tmp_path / "o")
    assert exc.value.code == "BATCH_NO_INPUT"
    with pytest.raises(ConfigError, match="batch.workers must be an integer >= 1, got 0"):
        BatchConfig(workers=0)
    with pytest.raises(ConfigError, match="memory_budget_mb must be > 0 MB"):
        BatchConfig(memory_budget_mb=-1)


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with pytest.raises(ConfigError) as exc:
        run_batch(
            None,
            tmp_path / "o",
            jobs=_jobs(src, ["a"]),
            task=echo_task,
            scheduler="tcp://127.0.0.1:1",
            batch=BatchConfig(scheduler_timeout_s=1.0),
        )
    assert exc.value.code == "SCHEDULER_UNREACHABLE" and "tcp://127.0.0.1:1" in str(exc.value)


def test_unchanged_files_are_not_rehashed(tmp_path, monkeypatch):
    import carpet.batch.runner as runner

    src = tmp_path / "src"
    src.mkdir()
    calls: list[str] = []
    real = runner.sha256_file
    monkeypatch.setattr(runner, "sha256_file", lambda p: calls.append(p) or real(p))
    run_batch(
        None,
        tmp_path / "o",
        jobs=_jobs(src, ["a", "b"]),
        task=echo_task,
        batch=BatchConfig(workers=1),
    )
    assert len(calls) == 2
    calls.clear()
    s = run_batch(
        None,
        tmp_path / "o",
        jobs=_jobs(src, ["a", "b"]),
        task=echo_task,
        batch=BatchConfig(workers=1),
    )
    assert calls == [] and s.skipped == 2  # size+mtime unchanged: cached hashes, nothing re-read
    time.sleep(0.01)
    (src / "s1.txt").write_text("c")  # same size, new mtime and content
    s = run_batch(
        None,
        tmp_path / "o",
        jobs=_jobs(src, ["a", "c"]),
        task=echo_task,
        batch=BatchConfig(workers=1),
    )
    assert calls == [str(src / "s1.txt")] and s.computed == 1


def test_one_coordinator_per_batch_folder(tmp_path):
    import fcntl

    src = tmp_path / "src"
    src.mkdir()
    out = tmp_path / "o"
    out.mkdir()
    with open(out / "batch.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError) as exc:
            run_batch(
                None, out, jobs=_jobs(src, ["a"]), task=echo_task, batch=BatchConfig(workers=1)
            )
        assert exc.value.code == "BATCH_LOCKED" and "another `carpet batch` is running" in str(
            exc.value
        )
    s = run_batch(None, out, jobs=_jobs(src, ["a"]), task=echo_task, batch=BatchConfig(workers=1))
    assert s.done == 1  # the lock is free again once the other run ended


def test_expected_total_and_eta_before_discovery_ends(good_archive, tmp_path):
    events = []
    run_batch(
        good_archive,
        tmp_path / "o",
        task=echo_task_dicom,
        batch=BatchConfig(workers=1),
        progress=lambda p: events.append(p.to_dict()),
    )
    early = [e for e in events if not e["discovery_done"]]
    # first study of the first of 3 patient folders: 1 x 3; from the second on: 2 per folder x 3
    assert early and early[0]["expected_total"] == 3
    assert early[-1]["expected_total"] == 6
    assert all(e["total"] <= e["expected_total"] <= 6 for e in early)
    assert any(e["eta_s"] is not None for e in early)


def echo_task_dicom(job: StudyJob, params: dict) -> StudyRecord:
    """A stand-in that only records the study (for discovery-driven runs)."""
    return StudyRecord(
        study_key=job.study_key,
        patient_id=job.patient_id,
        timepoint=job.timepoint,
        source_path=job.path,
        series_uid=job.series_uid,
        status="done",
        input_hash=params["input_hash"],
        params_hash=params["params_hash"],
        params_json=params["params_json"],
        software_version=params["software_version"],
        overrides_json=job.overrides_json(),
        patient={},
        lesions=[],
    )
