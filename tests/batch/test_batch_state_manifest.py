"""SQLite state (one transaction per study) and manifest validation (all problems at once)."""

from __future__ import annotations

import sqlite3

import pytest

from carpet.batch.manifest import iter_manifest, validate_manifest
from carpet.batch.state import BatchState, StudyRecord
from carpet.errors import InputError, TableValidationError


def _rec(key: str = "k1", **kw) -> StudyRecord:
    base = dict(
        study_key=key,
        patient_id="P1",
        timepoint="baseline",
        source_path="p1",
        series_uid="1.2",
        status="done",
        input_hash="ih",
        params_hash="ph",
        params_json="{}",
        software_version="0",
        overrides_json="{}",
        patient={"tmtv_ml": 12.5, "suv_max": float("nan")},
        lesions=[
            {"lesion_id": 1, "volume_ml": 2.0, "suv_max": 9.0, "extra": "x"},
            {"lesion_id": 2, "volume_ml": 3.0, "suv_max": 7.0},
        ],
    )
    base.update(kw)
    return StudyRecord(**base)


def test_state_record_replaces_study_and_its_lesions(tmp_path):
    st = BatchState(tmp_path / "b.sqlite")
    st.record(_rec())
    assert st.lookup("k1") == ("done", "ih", "ph", None)
    st.record(_rec(lesions=[{"lesion_id": 5, "volume_ml": 1.0}], input_hash="ih2"))
    rows = list(st.iter_rows("lesions"))
    assert [r["lesion_id"] for r in rows] == [5]
    assert st.lookup("k1")[1] == "ih2"
    study = next(st.iter_rows("studies"))
    assert study["n_lesions"] == 1
    assert '"suv_max":null' in study["patient_json"]  # NaN stored as null, never as invalid JSON
    st.close()


def test_state_transaction_is_all_or_nothing(tmp_path):
    st = BatchState(tmp_path / "b.sqlite")
    st.record(_rec())
    dup = _rec(
        lesions=[{"lesion_id": 1}, {"lesion_id": 1}], input_hash="new"
    )  # violates the primary key
    with pytest.raises(sqlite3.IntegrityError):
        st.record(dup)
    # the old study and its two lesions are intact: no partial row
    assert st.lookup("k1")[1] == "ih"
    assert sorted(r["lesion_id"] for r in st.iter_rows("lesions")) == [1, 2]
    st.close()


def test_state_failed_record_needs_code_and_counts(tmp_path):
    with pytest.raises(ValueError, match="needs an error_code"):
        _rec(status="failed", lesions=[])
    with pytest.raises(ValueError, match="'done' or 'failed'"):
        _rec(status="pending")
    with BatchState(tmp_path / "b.sqlite") as st:
        st.record(_rec("a"))
        st.record(
            _rec(
                "b", status="failed", error_code="SUV_MISSING_WEIGHT", error_message="m", lesions=[]
            )
        )
        st.record(
            _rec(
                "c", status="failed", error_code="SUV_MISSING_WEIGHT", error_message="m", lesions=[]
            )
        )
        assert st.count_by_status() == {"done": 1, "failed": 2}
        assert st.failures_by_code() == {"SUV_MISSING_WEIGHT": 2}


def test_state_refuses_foreign_or_corrupt_database(tmp_path):
    bad = tmp_path / "batch.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError) as exc:
        BatchState(bad)
    assert exc.value.code == "BATCH_STATE_CORRUPT" and str(bad) in str(exc.value)
    other = tmp_path / "v.sqlite"
    BatchState(other).close()
    con = sqlite3.connect(other)
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(InputError) as exc:
        BatchState(other)
    assert exc.value.code == "BATCH_STATE_VERSION"


def test_state_file_hash_cache_depends_on_size_and_mtime(tmp_path):
    with BatchState(tmp_path / "b.sqlite") as st:
        st.store_hashes([("/x", 10, 123, "abc")])
        assert st.cached_hash("/x", 10, 123) == "abc"
        assert st.cached_hash("/x", 11, 123) is None
        assert st.cached_hash("/x", 10, 124) is None


def test_manifest_valid_rows_and_relative_paths(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    m = tmp_path / "m.csv"
    m.write_text(
        "patient_id,timepoint,path,weight_kg,height_m,sex,injection_datetime\n"
        "P1,baseline,s1,70.5,1.8,m,2024-03-01T08:15:00\nP1,fu1,s2,,,,\n"
    )
    assert validate_manifest(m) == 2
    rows = list(iter_manifest(m))
    assert rows[0].path == tmp_path / "s1"
    assert rows[0].overrides == {
        "weight_kg": 70.5,
        "height_m": 1.8,
        "sex": "M",
        "injection_datetime": "2024-03-01T08:15:00",
    }
    assert rows[1].overrides == {}


def test_manifest_reports_every_problem_at_once(tmp_path):
    (tmp_path / "s1").mkdir()
    m = tmp_path / "m.csv"
    m.write_text(
        "patient_id,timepoint,path,weight_kg,height_m,injected_dose_bq,sex,injection_datetime\n"
        "P1,baseline,s1,154,180,370,X,yesterday\n"  # weight fine, height in cm, dose in MBq, bad sex, bad date
        ",fu1,missing_dir,abc,,,,\n"  # empty patient, missing path, weight not a number
        "P1,baseline,s1,,,,,\n"  # duplicate of line 2
    )
    with pytest.raises(TableValidationError) as exc:
        validate_manifest(m)
    err = exc.value
    assert err.code == "MANIFEST_INVALID"
    got = {(p["row"], p["column"]) for p in err.problems}
    assert got == {
        (2, "height_m"),
        (2, "injected_dose_bq"),
        (2, "sex"),
        (2, "injection_datetime"),
        (3, "patient_id"),
        (3, "path"),
        (3, "weight_kg"),
        (4, "timepoint"),
    }
    msg = str(err)
    assert "8 problem(s)" in msg
    assert (
        "line 2 column height_m value '180': outside the plausible range 0.3-2.6; expected metres"
        in msg
    )
    assert "line 2 column injected_dose_bq value '370'" in msg and "MBq? multiply by 1e6" in msg
    assert "line 3 column path value 'missing_dir': does not exist" in msg
    assert (
        "line 4 column timepoint value 'baseline': duplicate patient_id/timepoint ('P1', 'baseline')"
        in msg
    )


def test_manifest_header_problems(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("patient,timepoint,path,weight\nP1,b,x,70\n")
    with pytest.raises(TableValidationError) as exc:
        validate_manifest(m)
    reasons = {(p["column"], p["reason"].split(";")[0]) for p in exc.value.problems}
    assert reasons == {
        ("patient_id", "required column missing"),
        ("patient", "unknown column"),
        ("weight", "unknown column"),
    }
    empty = tmp_path / "e.csv"
    empty.write_text("patient_id,timepoint,path\n")
    with pytest.raises(TableValidationError, match="manifest has no studies"):
        validate_manifest(empty)
    with pytest.raises(TableValidationError) as exc:
        validate_manifest(tmp_path / "nope.csv")
    assert exc.value.code == "MANIFEST_UNREADABLE"


def test_cli_bad_manifest_is_one_clear_line(tmp_path, cli):
    m = tmp_path / "m.csv"
    m.write_text("patient_id,timepoint,path\nP1,b,does_not_exist\n")
    res = cli("batch", str(tmp_path), "--out", str(tmp_path / "out"), "--manifest", str(m))
    assert res.exit_code == 2
    assert res.stderr.startswith("carpet: error [MANIFEST_INVALID] manifest ")
    assert "line 2 column path value 'does_not_exist': does not exist" in res.stderr
    assert not (tmp_path / "out").exists()  # validated before anything is written
