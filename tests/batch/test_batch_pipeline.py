"""`carpet batch` end to end on small generated studies with the real pipeline."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from carpet.batch.state import TIMING_COLUMNS

pytestmark = pytest.mark.slow


def _studies(db: Path) -> dict[str, dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = {r["source_path"]: dict(r) for r in con.execute("SELECT * FROM studies")}
    con.close()
    return rows


@pytest.fixture(scope="module")
def mixed_out(mixed_archive, tmp_path_factory):
    """The mixed archive analysed once through the CLI (2 workers, JSON progress)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout
    from types import SimpleNamespace

    from carpet.cli.main import main

    root, kinds = mixed_archive
    out = tmp_path_factory.mktemp("mixed_out")
    so, se = io.StringIO(), io.StringIO()
    with redirect_stdout(so), redirect_stderr(se), pytest.raises(SystemExit) as exc:
        main(["batch", str(root), "--out", str(out), "--workers", "2", "--json-progress"])
    res = SimpleNamespace(exit_code=exc.value.code, stdout=so.getvalue(), stderr=se.getvalue())
    return root, kinds, out, res


def test_mixed_archive_good_done_bad_recorded_with_codes(mixed_out):
    root, kinds, out, res = mixed_out
    assert res.exit_code == 1, res.stderr  # something failed -> exit status 1
    events = [json.loads(line) for line in res.stdout.splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary"
    assert (summary["total"], summary["done"], summary["failed"], summary["computed"]) == (
        7,
        3,
        4,
        7,
    )
    assert summary["failures_by_code"] == {
        "MISSING_SLICE": 1,
        "MISSING_WEIGHT": 1,
        "NO_PET_SERIES": 1,
        "UNREADABLE_STUDY": 1,
    }
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1]["finished"] == 7 and all(
        "rate_per_s" in e and "eta_s" in e for e in progress
    )
    rows = _studies(out / "batch.sqlite")
    expected = {
        kinds["corrupt"]: "UNREADABLE_STUDY",
        kinds["truncated"]: "MISSING_SLICE",
        kinds["non_pet"]: "NO_PET_SERIES",
        kinds["suv_refused"]: "MISSING_WEIGHT",
    }
    for path, code in expected.items():
        assert rows[path]["status"] == "failed" and rows[path]["error_code"] == code
        assert rows[path]["error_message"]
        assert not (
            out / "studies" / rows[path]["study_key"]
        ).exists()  # nothing written for failures
    for p in ("pat00/tp0", "pat01/tp0", "pat02/tp0"):
        r = rows[p]
        assert r["status"] == "done" and r["error_code"] is None
        folder = out / r["output_dir"]
        assert {"patient.json", "lesions.csv", "mask.nii.gz"} <= {f.name for f in folder.iterdir()}
        lesions = pd.read_csv(folder / "lesions.csv")
        assert r["n_lesions"] == len(lesions) > 0
        suv = json.loads(r["suv_provenance_json"])
        assert suv and "bw_factor" in json.dumps(suv)
        assert len(r["input_hash"]) == 64 and len(r["params_hash"]) == 64
        assert (
            r["software_version"] and json.loads(r["params_json"])["analysis"]["method"] == "suv4"
        )
        assert r["patient_id"].startswith("P-")  # pseudonymised
    # no patient identifiers leak into the database
    dump = "\n".join(sqlite3.connect(out / "batch.sqlite").iterdump())
    assert "PAT00" not in dump and "ANONYMOUS" not in dump


def test_batch_equals_direct_analysis(mixed_out):
    """The batch computes nothing itself: its numbers are those of carpet.pipeline.analyze."""
    from carpet.pipeline import analyze

    root, _, out, _ = mixed_out
    row = _studies(out / "batch.sqlite")["pat01/tp0"]
    direct = analyze(root / "pat01" / "tp0")
    stored = json.loads(row["patient_json"])
    for k in ("tmtv_ml", "tlg", "suv_max", "suv_peak", "lesion_count", "dmax_mm"):
        assert stored[k] == pytest.approx(direct.patient[k], rel=1e-12, abs=1e-12), k
    con = sqlite3.connect(out / "batch.sqlite")
    got = con.execute(
        "SELECT lesion_id, volume_ml, suv_max FROM lesions WHERE study_key=? ORDER BY lesion_id",
        (row["study_key"],),
    ).fetchall()
    want = direct.lesions.sort_values("lesion_id")[["lesion_id", "volume_ml", "suv_max"]]
    assert [g[0] for g in got] == want["lesion_id"].tolist()
    assert [g[1] for g in got] == pytest.approx(want["volume_ml"].tolist())
    assert [g[2] for g in got] == pytest.approx(want["suv_max"].tolist())


def test_export_tables_ready_for_cohort(mixed_out, cli):
    _, _, out, _ = mixed_out
    res = cli("batch", "export", str(out))
    assert res.exit_code == 0, res.stderr
    exp = out / "export"
    patients = pd.read_csv(exp / "patients.csv")
    assert len(patients) == 3
    for col in (
        "patient_id",
        "timepoint",
        "study_key",
        "tmtv_ml",
        "tlg",
        "suv_max",
        "suv_peak",
        "suv_mean",
        "lesion_count",
        "dmax_mm",
    ):
        assert col in patients.columns, col
    lesions = pd.read_csv(exp / "lesions.csv")
    rows = _studies(out / "batch.sqlite")
    assert len(lesions) == sum(r["n_lesions"] or 0 for r in rows.values())
    # each study's lesions equal its own lesions.csv from `analyze`
    for r in rows.values():
        if r["status"] != "done":
            continue
        own = pd.read_csv(out / r["output_dir"] / "lesions.csv")
        mine = lesions[lesions.study_key == r["study_key"]].sort_values("lesion_id")
        assert mine["lesion_id"].tolist() == own["lesion_id"].tolist()
        assert mine["tlg"].to_numpy() == pytest.approx(own["tlg"].to_numpy(), rel=1e-5)
        assert patients.loc[patients.study_key == r["study_key"], "lesion_count"].item() == len(own)
    pq = pd.read_parquet(exp / "patients.parquet")
    assert pq["tmtv_ml"].tolist() == pytest.approx(patients["tmtv_ml"].tolist())
    assert len(pd.read_parquet(exp / "lesions.parquet")) == len(lesions)
    failures = pd.read_csv(exp / "failures.csv")
    assert sorted(failures.error_code) == [
        "MISSING_SLICE",
        "MISSING_WEIGHT",
        "NO_PET_SERIES",
        "UNREADABLE_STUDY",
    ]
    bad = cli("batch", "export", str(out / "nope"))
    assert bad.exit_code == 2 and "[BATCH_STATE_MISSING]" in bad.stderr


def test_rerun_recomputes_nothing_and_method_change_recomputes_all(
    good_archive, good_reference, tmp_path
):
    import shutil

    from carpet.batch.runner import run_batch
    from carpet.config import AnalysisConfig, BatchConfig

    out = tmp_path / "out"
    shutil.copytree(good_reference, out)
    before = {r["study_key"]: r for r in _studies(out / "batch.sqlite").values()}
    assert len(before) == 6
    mtimes = {
        k: (out / r["output_dir"] / "patient.json").stat().st_mtime_ns for k, r in before.items()
    }
    again = run_batch(good_archive, out, batch=BatchConfig(workers=2))
    assert (again.computed, again.skipped, again.done) == (0, 6, 6)
    after = {r["study_key"]: r for r in _studies(out / "batch.sqlite").values()}
    assert after == before  # not even the timings changed: nothing was recomputed
    assert {
        k: (out / r["output_dir"] / "patient.json").stat().st_mtime_ns for k, r in after.items()
    } == mtimes
    changed = run_batch(
        good_archive, out, batch=BatchConfig(workers=2), config=AnalysisConfig(method="pct41")
    )
    assert (changed.computed, changed.skipped, changed.done) == (6, 0, 6)
    rows = _studies(out / "batch.sqlite").values()
    assert {json.loads(r["patient_json"])["method"] for r in rows} == {"pct41"}


def test_local_cluster_equals_process_pool(good_archive, good_reference, tmp_path, archive_tools):
    from distributed import LocalCluster

    from carpet.batch.runner import run_batch

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        dask = run_batch(good_archive, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert dask.done == 6 and dask.ok
    for table in ("studies", "lesions"):
        a = archive_tools.table_rows(good_reference / "batch.sqlite", table, exclude=TIMING_COLUMNS)
        b = archive_tools.table_rows(
            tmp_path / "dask" / "batch.sqlite", table, exclude=TIMING_COLUMNS
        )
        assert len(a) >= 6
        assert a == b, table


def test_manifest_with_overrides(good_archive, tmp_path, cli):
    m = tmp_path / "m.csv"
    m.write_text(
        "patient_id,timepoint,path,weight_kg\n"
        "A,baseline,pat00/tp0,\n"
        "A,fu,pat00/tp1,\n"
        "B,baseline,pat01/tp0,140\n"
    )  # twice the header weight (75 kg): SUVbw factor changes
    out = tmp_path / "out"
    res = cli("batch", str(good_archive), "--out", str(out), "--manifest", str(m), "--workers", "1")
    assert res.exit_code == 0, res.stderr + res.stdout
    assert "3 studies" in res.stdout
    res = cli("batch", "export", str(out))
    assert res.exit_code == 0
    exported = pd.read_csv(out / "export" / "patients.csv")
    got = list(zip(exported.patient_id, exported.timepoint, exported.timepoint_index, strict=True))
    assert got == [("A", "baseline", 1), ("A", "fu", 2), ("B", "baseline", 1)]
    rows = {(r["patient_id"], r["timepoint"]): r for r in _studies(out / "batch.sqlite").values()}
    assert set(rows) == {("A", "baseline"), ("A", "fu"), ("B", "baseline")}
    assert json.loads(rows[("B", "baseline")]["overrides_json"]) == {"weight_kg": 140.0}
    # overriding the weight changes the input hash: a rerun with another weight recomputes only that study
    m.write_text(m.read_text().replace(",140", ",141"))
    res = cli(
        "batch",
        str(good_archive),
        "--out",
        str(out),
        "--manifest",
        str(m),
        "--workers",
        "1",
        "--json-progress",
    )
    summary = json.loads(res.stdout.splitlines()[-1])
    assert (summary["computed"], summary["skipped"]) == (1, 2)
    first = json.loads(res.stdout.splitlines()[0])
    assert first["expected_total"] == 3  # known from the validated manifest before any study ran


def test_human_output_lists_failures_by_reason(mixed_out, cli):
    root, _, out, _ = mixed_out
    res = cli(
        "batch", str(root), "--out", str(out), "--workers", "1"
    )  # everything unchanged: all skipped
    assert res.exit_code == 1  # the batch still holds failed studies
    text = res.stdout
    assert (
        "7 studies: 0 analysed now, 7 unchanged (skipped); batch totals: 3 done, 4 failed" in text
    )
    assert "Failures by reason" in text
    for code in ("MISSING_SLICE", "MISSING_WEIGHT", "NO_PET_SERIES", "UNREADABLE_STUDY"):
        assert code in text
    assert "noweight01" in text  # an example source path per reason
    # --retry-failed recomputes exactly the four failed studies
    res = cli(
        "batch", str(root), "--out", str(out), "--workers", "1", "--retry-failed", "--json-progress"
    )
    summary = json.loads(res.stdout.splitlines()[-1])
    assert (summary["computed"], summary["skipped"], summary["failed"]) == (4, 3, 4)


def test_cli_usage_errors(tmp_path, cli):
    res = cli("batch", str(tmp_path))
    assert res.exit_code == 2 and "--out DIR is required" in (res.stderr + res.stdout)
    res = cli("batch", "export")
    assert res.exit_code == 2 and "give the batch folder" in (res.stderr + res.stdout)
    res = cli("batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "[BATCH_ROOT_MISSING]" in res.stderr
    res = cli("batch", str(tmp_path), "--out", str(tmp_path / "o"), "--method", "nope")
    assert res.exit_code == 2 and "carpet: error [" in res.stderr and "nope" in res.stderr


def test_manifest_nifti_studies_with_units(tmp_path):
    from carpet.batch.runner import run_batch
    from carpet.config import BatchConfig
    from carpet.ingest import write_nifti
    from carpet.synthetic import make_whole_body_study

    study = make_whole_body_study(
        fov="thorax", spacing_mm=(6.0, 6.0, 6.0), n_lesions=2, seed=4, with_ct=False
    )
    write_nifti(study.suv, tmp_path / "suv.nii.gz")
    m = tmp_path / "m.csv"
    m.write_text(
        "patient_id,timepoint,path,units\nN1,baseline,suv.nii.gz,suv\nN2,baseline,suv.nii.gz,\n"
    )
    s = run_batch(tmp_path, tmp_path / "out", manifest=m, batch=BatchConfig(workers=1))
    con = sqlite3.connect(tmp_path / "out" / "batch.sqlite")
    con.row_factory = sqlite3.Row
    rows = {r["patient_id"]: dict(r) for r in con.execute("SELECT * FROM studies")}
    con.close()
    assert rows["N1"]["status"] == "done" and rows["N1"]["n_lesions"] >= 1
    assert (
        rows["N2"]["status"] == "failed" and rows["N2"]["error_code"]
    )  # NIfTI without units: refused
    assert "units" in rows["N2"]["error_message"].lower()
    assert s.failures_by_code == {rows["N2"]["error_code"]: 1}


def test_ct_and_analysis_options_reach_the_pipeline(tmp_path, archive_tools, cli):
    root = tmp_path / "archive"
    archive_tools.write_pet_study(root / "p1" / "study", seed=2, patient_id="CT1", with_ct=True)
    out = tmp_path / "out"
    res = cli(
        "batch",
        str(root),
        "--out",
        str(out),
        "--workers",
        "1",
        "--ct",
        "--no-mip",
        "--connectivity",
        "6",
        "--no-physio-exclusion",
        "--json-progress",
    )
    assert res.exit_code == 0, res.stdout + res.stderr
    (row,) = _studies(out / "batch.sqlite").values()
    params = json.loads(row["params_json"])
    assert params["with_ct"] is True
    assert (
        params["analysis"]["connectivity"] == 6 and params["analysis"]["physio_exclusion"] is False
    )
    files = {f.name for f in (out / row["output_dir"]).iterdir()}
    assert "mip.png" not in files and "patient.json" in files
    assert json.loads(row["patient_json"])["parameters"]["connectivity"] == 6


def test_analyze_study_reads_the_ct_when_asked(tmp_path, archive_tools, monkeypatch):
    import carpet.ingest
    from carpet.batch.discover import iter_studies
    from carpet.batch.runner import analyze_study, params_of
    from carpet.config import AnalysisConfig, to_dict

    root = tmp_path / "archive"
    archive_tools.write_pet_study(root / "p1" / "study", seed=2, patient_id="CT1", with_ct=True)
    (job,) = iter_studies(root)
    seen = []
    real = carpet.ingest.read_ct_for
    monkeypatch.setattr(
        carpet.ingest, "read_ct_for", lambda pet: seen.append(real(pet)) or seen[-1]
    )
    cfg = AnalysisConfig(write_mip=False)
    pj, ph = params_of(cfg, with_ct=True)
    params = {
        "analysis": to_dict(cfg),
        "with_ct": True,
        "out_dir": str(tmp_path / "out"),
        "input_hash": "i",
        "params_hash": ph,
        "params_json": pj,
        "software_version": "x",
    }
    rec = analyze_study(job, params)
    assert rec.status == "done", rec.error_message
    assert len(seen) == 1 and seen[0] is not None and seen[0].unit.value == "HU"
    assert (tmp_path / "out" / rec.output_dir / "patient.json").is_file()
    assert rec.source_path == job.path  # without a display root the absolute path is recorded
