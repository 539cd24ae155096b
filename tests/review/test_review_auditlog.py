"""The review log: hash chain, head record, tamper detection, CLI --verify-log."""

from __future__ import annotations

import json

import pytest

from carpet.errors import InputError
from carpet.review.auditlog import GENESIS_SHA256, HEAD_NAME, LOG_NAME, AuditLog, verify_log


def _three_entries(tmp_path):
    log = AuditLog(tmp_path, user="dr_test")
    log.append({"action": "remove", "lesion_id": 3}, tmtv_ml_before=30.0, tmtv_ml_after=20.0)
    log.append({"action": "restore", "lesion_id": 3}, tmtv_ml_before=20.0, tmtv_ml_after=30.0)
    log.append({"action": "save"}, tmtv_ml_before=30.0, tmtv_ml_after=30.0)
    return log


def test_entries_have_the_required_fields_and_chain(tmp_path):
    _three_entries(tmp_path)
    lines = (tmp_path / LOG_NAME).read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["user"] == "dr_test"
    assert first["action"] == {"action": "remove", "lesion_id": 3}
    assert first["lesion_id"] == 3
    assert (first["tmtv_ml_before"], first["tmtv_ml_after"]) == (30.0, 20.0)
    assert first["prev_sha256"] == GENESIS_SHA256
    assert first["time_utc"].endswith("Z")
    import hashlib

    assert json.loads(lines[1])["prev_sha256"] == hashlib.sha256(lines[0].encode()).hexdigest()
    check = verify_log(tmp_path)
    assert check.ok and check.n_entries == 3 and check.problems == []


def test_default_user_is_the_os_user(tmp_path):
    from carpet.review.auditlog import os_user

    entry = AuditLog(tmp_path).append({"action": "save"}, tmtv_ml_before=0.0, tmtv_ml_after=0.0)
    assert entry["user"] == os_user() != ""


def test_an_edited_entry_is_detected(tmp_path):
    _three_entries(tmp_path)
    path = tmp_path / LOG_NAME
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"tmtv_ml_after":20.0', '"tmtv_ml_after":25.0')
    path.write_text("\n".join(lines) + "\n")
    check = verify_log(tmp_path)
    assert not check.ok
    assert any(p.startswith("line 2: prev_sha256") for p in check.problems)


def test_a_deleted_entry_is_detected(tmp_path):
    _three_entries(tmp_path)
    path = tmp_path / LOG_NAME
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    check = verify_log(tmp_path)
    assert not check.ok
    assert any("seq" in p for p in check.problems)


def test_an_edited_or_truncated_last_entry_is_detected_by_the_head(tmp_path):
    _three_entries(tmp_path)
    path = tmp_path / LOG_NAME
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")
    assert any("records 3 entries" in p for p in verify_log(tmp_path).problems)
    lines[2] = lines[2].replace('"user":"dr_test"', '"user":"someone"')
    path.write_text("\n".join(lines) + "\n")
    assert any("last entry" in p for p in verify_log(tmp_path).problems)


def test_a_missing_head_is_reported(tmp_path):
    _three_entries(tmp_path)
    (tmp_path / HEAD_NAME).unlink()
    assert not verify_log(tmp_path).ok


def test_garbage_line_is_reported_not_crashing(tmp_path):
    _three_entries(tmp_path)
    with open(tmp_path / LOG_NAME, "a") as fh:
        fh.write("not json\n")
    check = verify_log(tmp_path)
    assert not check.ok and any("line 4: not valid JSON" in p for p in check.problems)


def test_no_append_to_a_broken_chain(tmp_path):
    _three_entries(tmp_path)
    (tmp_path / HEAD_NAME).unlink()
    with pytest.raises(InputError) as exc:
        AuditLog(tmp_path)
    assert exc.value.code == "REVIEW_LOG_TAMPERED"


def test_appending_continues_an_existing_chain(tmp_path):
    _three_entries(tmp_path)
    AuditLog(tmp_path, user="second").append(
        {"action": "save"}, tmtv_ml_before=1.0, tmtv_ml_after=1.0
    )
    check = verify_log(tmp_path)
    assert check.ok and check.n_entries == 4


def test_empty_folder_is_a_valid_empty_log(tmp_path):
    check = verify_log(tmp_path)
    assert check.ok and check.n_entries == 0


def test_cli_verify_log(tmp_path, cli):
    _three_entries(tmp_path)
    res = cli("review", str(tmp_path), "--verify-log")
    assert res.exit_code == 0, res.stderr
    assert "log OK (3 entries" in res.stdout
    path = tmp_path / LOG_NAME
    path.write_text(path.read_text().replace('"lesion_id":3', '"lesion_id":4', 1))
    res = cli("review", str(tmp_path), "--verify-log")
    assert res.exit_code == 2
    assert "carpet: error [REVIEW_LOG_TAMPERED]" in res.stderr
    assert "line 2" in res.stderr
