"""Small generated PET archives for the batch tests (thorax field of view, 6 mm voxels)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

SPACING_MM = (6.0, 6.0, 6.0)


def write_pet_study(
    folder: Path,
    *,
    seed: int,
    patient_id: str,
    day: int = 14,
    n_lesions: int = 3,
    with_ct: bool = False,
    **header_kw,
) -> list[Path]:
    """One small PET study (plus CT when asked) written as DICOM into ``folder``."""
    from datetime import datetime

    from carpet.synthetic import (
        PetHeaderSpec,
        make_whole_body_study,
        write_ct_dicom,
        write_pet_dicom,
    )

    study = make_whole_body_study(
        fov="thorax", spacing_mm=SPACING_MM, n_lesions=n_lesions, seed=seed, with_ct=with_ct
    )
    header = replace(
        PetHeaderSpec(),
        uid_seed=f"batch-{patient_id}-{day}-{seed}",
        patient_id=patient_id,
        injection_datetime=datetime(2024, 3, day, 8, 0, 0),
        **header_kw,
    )
    files = write_pet_dicom(study, folder / "PT" if with_ct else folder, header=header)
    if with_ct:
        files += write_ct_dicom(study.ct, folder / "CT", header=header, patient=study.patient)
    return files


def write_ct_only_study(folder: Path, *, seed: int, patient_id: str) -> list[Path]:
    from carpet.synthetic import PetHeaderSpec, make_whole_body_study, write_ct_dicom

    study = make_whole_body_study(
        fov="thorax", spacing_mm=SPACING_MM, n_lesions=1, seed=seed, with_ct=True
    )
    header = replace(
        PetHeaderSpec(), uid_seed=f"batch-ct-{patient_id}-{seed}", patient_id=patient_id
    )
    return write_ct_dicom(study.ct, folder, header=header, patient=study.patient)


def build_good_archive(root: Path, n_patients: int, *, timepoints: int = 1) -> Path:
    """``root/patNN/tpK/`` PET studies (several timepoints per patient)."""
    for p in range(n_patients):
        for t in range(timepoints):
            write_pet_study(
                root / f"pat{p:02d}" / f"tp{t}",
                seed=10 * p + t,
                patient_id=f"PAT{p:02d}",
                day=1 + 7 * t,
            )
    return root


def build_mixed_archive(root: Path) -> dict[str, str]:
    """Good studies plus one corrupt, one truncated, one non-PET and one SUV-refused study.

    Returns the folder name (first level under ``root``) of each bad study by kind.
    """
    build_good_archive(root, 3)
    # corrupt: files that look like DICOM but are garbage
    bad = root / "corrupt01"
    bad.mkdir(parents=True)
    for i in range(3):
        (bad / f"IM{i:04d}.dcm").write_bytes(b"\x00" * 128 + b"DICM" + bytes(range(256)) * 3)
    # truncated: a good series whose files lost the end of their pixel data
    files = write_pet_study(root / "truncated01", seed=77, patient_id="PATTRUNC")
    for f in files[::3]:
        data = f.read_bytes()
        f.write_bytes(data[: len(data) - 4000])
    # non-PET: a CT-only study
    write_ct_only_study(root / "ctonly01", seed=5, patient_id="PATCT")
    # SUV refused: PET without patient weight
    write_pet_study(root / "noweight01", seed=88, patient_id="PATNOW", omit=("PatientWeight",))
    # a stray non-DICOM file, and hidden files (never studies)
    (root / "README.txt").write_text("archive notes\n")
    (root / ".complete").write_text("marker\n")
    (root / "pat00" / ".hidden-note").write_text("x\n")
    return {
        "corrupt": "corrupt01",
        "truncated": "truncated01",
        "non_pet": "ctonly01",
        "suv_refused": "noweight01",
    }


def table_rows(db: Path, table: str, *, exclude: tuple[str, ...] = ()) -> list[tuple]:
    """All rows of ``table`` sorted, without the ``exclude`` columns (timings)."""
    con = sqlite3.connect(db)
    try:
        cur = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        keep = [i for i, n in enumerate(names) if n not in exclude]
        return sorted(tuple(r[i] for i in keep) for r in cur.fetchall())
    finally:
        con.close()


#: Studies in the shared good archive (3 patients x 2 timepoints).
N_GOOD = 6


@pytest.fixture(scope="session")
def good_archive(tmp_path_factory) -> Path:
    """3 patients, 2 timepoints each (6 studies); shared read-only by the tests."""
    return build_good_archive(tmp_path_factory.mktemp("good_archive"), 3, timepoints=2)


@pytest.fixture(scope="session")
def good_reference(good_archive, tmp_path_factory) -> Path:
    """An uninterrupted batch of the good archive on the local pool (2 workers); read-only."""
    from carpet.batch.runner import run_batch
    from carpet.config import BatchConfig

    out = tmp_path_factory.mktemp("good_reference")
    summary = run_batch(good_archive, out, batch=BatchConfig(workers=2))
    assert summary.done == N_GOOD and summary.ok
    return out


@pytest.fixture(scope="session")
def mixed_archive(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mixed_archive")
    kinds = build_mixed_archive(root)
    return root, kinds


@pytest.fixture(scope="session")
def archive_tools():
    """The builders above, for tests that make their own archives."""
    from types import SimpleNamespace

    return SimpleNamespace(
        write_pet_study=write_pet_study,
        write_ct_only_study=write_ct_only_study,
        build_good_archive=build_good_archive,
        build_mixed_archive=build_mixed_archive,
        table_rows=table_rows,
    )
