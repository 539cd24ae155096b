"""Atomic outputs: a failing block leaves the previous state, never a half-written folder."""

from __future__ import annotations

import json

import pytest

from carpet._io import atomic_output_dir, atomic_write_json, sha256_file


def test_failed_block_leaves_previous_output_untouched(tmp_path):
    out = tmp_path / "out"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("second, half-way")
        raise RuntimeError("crash")
    assert (out / "a.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp leftovers


def test_existing_files_are_kept_when_adding(tmp_path):
    out = tmp_path / "out"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("a")
    with atomic_output_dir(out) as tmp:
        (tmp / "b.txt").write_text("b")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]


def test_atomic_json_refuses_nan_and_writes_nothing(tmp_path):
    path = tmp_path / "x.json"
    with pytest.raises(ValueError):
        atomic_write_json(path, {"a": float("nan")})
    assert not path.exists() and list(tmp_path.iterdir()) == []
    atomic_write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert len(sha256_file(path)) == 64


def test_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_output_dir(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("a")
        atomic_write_json(tmp_path / "out" / "b.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "b.json").stat().st_mode) == 0o644
