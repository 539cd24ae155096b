"""`carpet review` as a command: its one printed line, clean stop on SIGTERM, clear errors."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time

import pytest

RUN = [sys.executable, "-c", "from carpet.cli.main import main; main()"]


def test_missing_pet_is_a_clear_error(review_dir, cli):
    (review_dir / "source.json").unlink()  # a folder that does not record its PET
    res = cli("review", str(review_dir), "--no-browser")
    assert res.exit_code == 2
    assert res.stderr.startswith("carpet: error [PET_NOT_GIVEN]")
    assert "--pet" in res.stderr and "source.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_moved_pet_is_a_clear_error_naming_source_json(review_dir, tmp_path, cli):
    record = json.loads((review_dir / "source.json").read_text())
    record["pet_path"] = str(tmp_path / "moved-away")
    (review_dir / "source.json").write_text(json.dumps(record))
    res = cli("review", str(review_dir), "--no-browser")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("carpet: error [PET_NOT_FOUND]")
    assert str(review_dir / "source.json") in res.stderr and "moved-away" in res.stderr
    assert "--pet PATH" in res.stderr


def test_broken_source_json_is_a_clear_error(review_dir, cli):
    (review_dir / "source.json").write_text("[1, 2")
    res = cli("review", str(review_dir), "--no-browser")
    assert res.exit_code == 2 and "[BAD_SOURCE_RECORD]" in res.stderr and "--pet" in res.stderr


def test_wrong_pet_is_refused(review_dir, tmp_path, cli):
    """--pet (or a source.json) naming another series: PET_MISMATCH, nothing served."""
    from carpet.synthetic import PetHeaderSpec, make_whole_body_study, write_pet_dicom

    other = make_whole_body_study(
        fov="thorax", spacing_mm=(6, 6, 6), n_lesions=1, with_ct=False, seed=11
    )
    write_pet_dicom(other, tmp_path / "other", header=PetHeaderSpec(uid_seed="another-study"))
    res = cli("review", str(review_dir), "--no-browser", "--pet", str(tmp_path / "other"))
    assert res.exit_code == 2 and "[PET_MISMATCH]" in res.stderr
    record = json.loads((review_dir / "source.json").read_text())
    record["pet_path"] = str(tmp_path / "other")
    (review_dir / "source.json").write_text(json.dumps(record))
    res = cli("review", str(review_dir), "--no-browser")
    assert res.exit_code == 2 and "[PET_MISMATCH]" in res.stderr


def test_not_an_analysis_folder(tmp_path, cli):
    res = cli("review", str(tmp_path), "--no-browser", "--pet", str(tmp_path))
    assert (
        res.exit_code == 2 and "[NOT_AN_ANALYSIS]" in res.stderr and "carpet analyze" in res.stderr
    )


def test_response_folder_names_the_time_points(review_dir, tmp_path, cli):
    import shutil

    shutil.copytree(review_dir, tmp_path / "resp" / "baseline")
    res = cli("review", str(tmp_path / "resp"), "--no-browser")
    assert res.exit_code == 2 and "[RESPONSE_FOLDER]" in res.stderr and "baseline" in res.stderr


def test_other_host_prints_a_warning(tmp_path, cli):
    res = cli("review", str(tmp_path), "--no-browser", "--host", "127.0.0.2")
    assert "warning: listening on 127.0.0.2" in res.stderr
    assert res.exit_code == 2  # and the folder is still refused


@pytest.mark.slow
def test_serves_prints_one_line_and_stops_cleanly_on_sigterm(review_dir, analysed_study):
    # no --pet: the PET recorded by `carpet analyze` in DIR/source.json (issue 10 §4 contract)
    assert json.loads((review_dir / "source.json").read_text())["pet_path"] == str(
        analysed_study.pet
    )
    proc = subprocess.Popen(
        [
            *RUN,
            "review",
            str(review_dir),
            "--no-browser",
            "--reader",
            "dr_cli",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(
            r"carpet review: http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{43,})\n", line
        )
        assert m, line
        port, token = int(m.group(1)), m.group(2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        auth = {"Authorization": f"Bearer {token}", "Host": f"127.0.0.1:{port}"}
        conn.request("GET", "/api/summary", headers=auth)
        summary = json.loads(conn.getresponse().read())
        conn.request("GET", "/api/lesions", headers=auth)
        lid = json.loads(conn.getresponse().read())[0]["lesion_id"]
        body = json.dumps([{"action": "remove", "lesion_id": lid}])
        conn.request(
            "POST",
            "/api/edits",
            body=body,
            headers={
                **auth,
                "X-CSRF-Token": summary["csrf_token"],
                "Content-Type": "application/json",
            },
        )
        assert conn.getresponse().status == 200
        conn.close()
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == ""  # nothing after the one line
    assert "stopped with unsaved edits (1 action(s)" in err
    assert not (review_dir / "edits.json").exists()  # nothing saved, nothing half-written
    log = [json.loads(x) for x in (review_dir / "review_log.jsonl").read_text().splitlines()]
    assert log[0]["user"] == "dr_cli" and log[0]["action"] == {"action": "remove", "lesion_id": lid}
