"""Export a batch database as tidy tables for ``carpet cohort`` (CSV + Parquet), atomically.

``DIR/export/`` receives:

- ``patients.csv`` / ``patients.parquet``: one row per successfully analysed study:
  ``patient_id``, ``timepoint``, ``study_key``, ``timepoint_index`` (1 = the patient's first
  analysed study in ``timepoint`` order; discovered timepoints are ISO dates, so this is
  chronological), then every scalar key of the study's
  ``patient.json`` (``tmtv_ml``, ``tlg``, ``suv_max``, ``suv_peak``, ``suv_mean``,
  ``lesion_count``, ``dmax_mm``, ``sdmax_per_m``, ``dbulk_mm``, method, ...), then the
  kinetics columns of :func:`carpet.response.kinetics_table` (``days_from_first``,
  ``delta_<metric>_vs_first`` / ``_vs_previous`` for TMTV, TLG, SUVmax, SUVpeak, growth rate,
  ...) comparing each study with the patient's first and previous one. They need dates:
  discovered timepoints are StudyDates; when a patient's manifest timepoints are not ISO
  dates, that patient's kinetics columns are empty (the order alone gives no interval);
- ``lesions.csv`` / ``lesions.parquet``: one row per lesion with ``patient_id``, ``timepoint``,
  ``study_key`` and every ``lesions.csv`` column;
- ``failures.csv``: the failed studies with their error code and message.

Rows stream from SQLite in chunks, so exporting does not hold the database in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carpet._io import atomic_output_dir
from carpet.batch.state import STATE_FILENAME, BatchState
from carpet.errors import InputError

__all__ = ["EXPORT_DIRNAME", "ExportResult", "export_batch"]

#: Sub-folder of the batch folder receiving the exported tables.
EXPORT_DIRNAME = "export"
_ID_COLUMNS = ("patient_id", "timepoint", "study_key")
_CHUNK = 20_000


@dataclass(frozen=True)
class ExportResult:
    """Paths and row counts of an export."""

    folder: Path
    patients_csv: Path
    lesions_csv: Path
    patients_parquet: Path
    lesions_parquet: Path
    failures_csv: Path
    n_studies: int
    n_lesions: int
    n_failed: int


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _patient_rows(state: BatchState) -> Iterator[dict[str, Any]]:
    last_patient, index = None, 0
    for r in state.iter_rows("studies", order_by="patient_id, timepoint, study_key"):
        if r["status"] != "done":
            continue
        index = index + 1 if r["patient_id"] == last_patient else 1
        last_patient = r["patient_id"]
        row = {
            "patient_id": r["patient_id"],
            "timepoint": r["timepoint"],
            "study_key": r["study_key"],
            "timepoint_index": index,
        }
        patient = json.loads(r["patient_json"] or "{}")
        for k, v in patient.items():
            if k not in row and _scalar(v):
                row[k] = v
        yield row


def _with_kinetics(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Add the kinetics columns, one patient at a time (rows arrive grouped by patient)."""
    import pandas as pd

    from carpet.response.kinetics import KINETICS_COLUMNS, kinetics_table

    kinetic_cols = ["days_from_first"] + [
        f"delta_{c}_vs_{ref}" for c in KINETICS_COLUMNS for ref in ("first", "previous")
    ]

    def finish(group: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        frame = pd.DataFrame(group)
        dates = pd.to_datetime(frame["timepoint"], format="%Y-%m-%d", errors="coerce")
        if dates.notna().all() and {"tmtv_ml", "tlg", "suv_max", "suv_peak"} <= set(frame):
            k = kinetics_table(frame, patient_col="patient_id", date_col="timepoint")
            k = k.set_index("study_key").loc[frame["study_key"]]  # keep the export's order
            for row, (_, kin) in zip(group, k.iterrows(), strict=True):
                yield row | {c: _none_if_nan(kin[c]) for c in kinetic_cols}
        else:
            for row in group:
                yield row | dict.fromkeys(kinetic_cols)

    group: list[dict[str, Any]] = []
    for row in rows:
        if group and row["patient_id"] != group[0]["patient_id"]:
            yield from finish(group)
            group = []
        group.append(row)
    if group:
        yield from finish(group)


def _none_if_nan(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") else v


def _lesion_rows(state: BatchState) -> Iterator[dict[str, Any]]:
    cur = state._db.execute(
        "SELECT s.patient_id, s.timepoint, l.study_key, l.row_json FROM lesions l JOIN studies s USING (study_key) "
        "WHERE s.status='done' ORDER BY s.patient_id, s.timepoint, l.study_key, l.lesion_id"
    )
    for pid, tp, key, row_json in cur:
        row = {"patient_id": pid, "timepoint": tp, "study_key": key}
        for k, v in json.loads(row_json).items():
            if k not in row and _scalar(v):
                row[k] = v
        yield row


def _write_table(
    rows: Iterator[dict[str, Any]],
    columns_of: Iterator[dict[str, Any]],
    csv_path: Path,
    parquet_path: Path,
) -> int:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: list[str] = list(_ID_COLUMNS)
    seen = set(columns)
    for r in columns_of:  # first pass: the union of the columns, in first-seen order
        for k in r:
            if k not in seen:
                seen.add(k)
                columns.append(k)
    n = 0
    writer = None
    chunk: list[dict[str, Any]] = []

    def flush(first: bool) -> None:
        nonlocal writer
        df = pd.DataFrame(chunk, columns=columns)
        df.to_csv(csv_path, mode="w" if first else "a", header=first, index=False)
        table = pa.Table.from_pandas(df, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(parquet_path, table.schema)
        else:
            table = table.cast(writer.schema)
        writer.write_table(table)

    first = True
    for r in rows:
        chunk.append(r)
        n += 1
        if len(chunk) >= _CHUNK:
            flush(first)
            first = False
            chunk = []
    if chunk or first:
        flush(first)
    if writer is not None:
        writer.close()
    return n


def export_batch(
    batch_dir: str | os.PathLike[str], *, dest: str | os.PathLike[str] | None = None
) -> ExportResult:
    """Write the cohort-ready tables of a batch folder.

    Parameters
    ----------
    batch_dir : path-like
        Output folder of ``carpet batch`` (holding ``batch.sqlite``).
    dest : path-like, optional
        Destination folder (default ``batch_dir/export``); replaced atomically.

    Returns
    -------
    ExportResult

    Raises
    ------
    InputError
        ``BATCH_STATE_MISSING`` when ``batch_dir`` holds no batch database.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); BatchState(d / "batch.sqlite").close()
    >>> export_batch(d).n_studies
    0
    """
    batch_dir = Path(batch_dir)
    db = batch_dir / STATE_FILENAME
    if not db.is_file():
        raise InputError(
            f"{batch_dir}: no {STATE_FILENAME} here; give the --out folder of a `carpet batch` run",
            code="BATCH_STATE_MISSING",
        )
    folder = Path(dest) if dest is not None else batch_dir / EXPORT_DIRNAME
    import pandas as pd

    with BatchState(db) as state, atomic_output_dir(folder) as tmp:
        n_studies = _write_table(
            _with_kinetics(_patient_rows(state)),
            _with_kinetics(_patient_rows(state)),
            tmp / "patients.csv",
            tmp / "patients.parquet",
        )
        n_lesions = _write_table(
            _lesion_rows(state), _lesion_rows(state), tmp / "lesions.csv", tmp / "lesions.parquet"
        )
        fails = [
            {
                k: r[k]
                for k in (
                    "study_key",
                    "patient_id",
                    "timepoint",
                    "source_path",
                    "error_code",
                    "error_message",
                )
            }
            for r in state.iter_rows(
                "studies", order_by="error_code, patient_id, timepoint, study_key"
            )
            if r["status"] == "failed"
        ]
        pd.DataFrame(
            fails,
            columns=[
                "study_key",
                "patient_id",
                "timepoint",
                "source_path",
                "error_code",
                "error_message",
            ],
        ).to_csv(tmp / "failures.csv", index=False)
    return ExportResult(
        folder=folder,
        patients_csv=folder / "patients.csv",
        lesions_csv=folder / "lesions.csv",
        patients_parquet=folder / "patients.parquet",
        lesions_parquet=folder / "lesions.parquet",
        failures_csv=folder / "failures.csv",
        n_studies=n_studies,
        n_lesions=n_lesions,
        n_failed=len(fails),
    )
