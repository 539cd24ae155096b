"""Crash safety: SIGKILL a running `carpet batch` at seeded random moments, resume, compare.

The final database must equal that of an uninterrupted run row for row (timing columns
excluded), no temporary or half-written study folder may survive, and nothing is counted twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from carpet.batch.state import TIMING_COLUMNS

pytestmark = pytest.mark.slow

_CLI = "import sys; from carpet.cli.main import main; main(sys.argv[1:])"


def _count(db) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM studies").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _start(root, out) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CLI,
            "batch",
            str(root),
            "--out",
            str(out),
            "--workers",
            "2",
            "--json-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(
    good_archive, good_reference, tmp_path, archive_tools
):
    reference = good_reference
    n = 6

    rnd = random.Random(20261201)
    out = tmp_path / "killed"
    stored_after_kill = []
    killed: list[bool] = []
    for _ in range(3):
        proc = _start(good_archive, out)
        # kill once a random number more results are stored, plus a random delay: lands
        # during other studies' analysis, output writing and commits
        before = stored_after_kill[-1] if stored_after_kill else 0
        target = min(before + rnd.randint(1, 2), n - 1)  # always while work remains
        delay_s = rnd.uniform(0.0, 0.4)
        for line in proc.stdout:
            ev = json.loads(line)
            if ev["event"] == "summary" or (
                ev["event"] == "progress"
                and ev["done"] + ev["skipped"] >= target
                and ev["in_flight"] > 0
            ):
                break
        time.sleep(delay_s)
        with contextlib.suppress(ProcessLookupError):  # already gone if it finished
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        killed.append(proc.returncode == -signal.SIGKILL)  # else it finished during the delay
        stored_after_kill.append(_count(out / "batch.sqlite"))
    # the kills interrupted work in progress (not all before the first result, not all after the end)
    assert any(0 < k < n for k in stored_after_kill), stored_after_kill
    assert sum(killed) >= 2, (killed, stored_after_kill)

    proc = _start(good_archive, out)
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    summary = json.loads(stdout.splitlines()[-1])
    assert summary["done"] == n and summary["failed"] == 0
    assert summary["computed"] + summary["skipped"] == n  # each study counted once
    assert summary["computed"] == n - stored_after_kill[-1]  # only what was missing was computed

    for table in ("studies", "lesions"):
        want = archive_tools.table_rows(reference / "batch.sqlite", table, exclude=TIMING_COLUMNS)
        got = archive_tools.table_rows(out / "batch.sqlite", table, exclude=TIMING_COLUMNS)
        assert got == want, table
    # no temporary folders, every study folder complete
    leftovers = [p.name for p in (out / "studies").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    for d in (out / "studies").iterdir():
        assert {"patient.json", "lesions.csv", "mask.nii.gz"} <= {f.name for f in d.iterdir()}, d
    con = sqlite3.connect(out / "batch.sqlite")
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
