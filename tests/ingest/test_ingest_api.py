"""Public surface of ingest/synthetic, and preamble-less DICOM files."""

from __future__ import annotations

import importlib

import numpy as np
import pydicom
import pytest

from carpet.ingest import discover, read_series_volume
from carpet.synthetic import make_whole_body_study, write_pet_dicom


@pytest.mark.parametrize("module", ["carpet.ingest", "carpet.synthetic"])
def test_all_is_sorted_and_importable(module):
    mod = importlib.import_module(module)
    assert list(mod.__all__) == sorted(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_preamble_less_files_are_read(tmp_path):
    s = make_whole_body_study(
        fov="head_neck", spacing_mm=(12.0, 12.0, 12.0), n_lesions=0, with_ct=False
    )
    files = write_pet_dicom(s, tmp_path / "p10")
    out = tmp_path / "raw"
    out.mkdir()
    for n, f in enumerate(files):
        ds = pydicom.dcmread(f)
        del ds.file_meta
        ds.preamble = None
        pydicom.dcmwrite(
            out / f"raw{n}", ds, implicit_vr=True, little_endian=True, enforce_file_format=False
        )
    assert (out / "raw0").read_bytes()[128:132] != b"DICM"
    d = discover(out)
    assert d.problems == [] and d.series[0].n_instances == len(files)
    assert np.array_equal(read_series_volume(d.series[0]).array, read_series_volume(files).array)


def test_discover_reports_progress(tmp_path):
    s = make_whole_body_study(
        fov="head_neck", spacing_mm=(10.0, 10.0, 10.0), n_lesions=0, with_ct=False
    )
    files = write_pet_dicom(s, tmp_path)
    calls = []
    discover(tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (len(files), len(files))
    assert all(a <= b for (a, _), (b, _) in zip(calls, calls[1:], strict=False))
