"""The SQLite state of a batch: one database file per output folder, written only by the coordinator.

Tables
------
``studies``
    One row per study: identity (``study_key``, ``patient_id``, ``timepoint``, ``source_path``,
    ``series_uid``), status (``done`` or ``failed``) with ``error_code`` / ``error_message``,
    what the result depends on (``input_hash`` = content hash of the input files and the
    overrides, ``params_hash`` = hash of the resolved analysis parameters and software version,
    ``params_json``, ``software_version``), the results (``patient_json`` = the content of
    ``patient.json``, ``suv_provenance_json``, ``n_lesions``, ``output_dir``) and timings
    (``started_utc``, ``finished_utc``, ``duration_s``, ``timings_json`` = per-stage analysis
    timings, ``run_id``): :data:`TIMING_COLUMNS`, the only columns that differ between runs.
``lesions``
    One row per lesion of a ``done`` study (``lesions.csv`` rows; contract columns typed,
    every column also in ``row_json``).
``runs``
    One row per invocation (a log: started, finished, parameters, counts).
``file_hashes``
    Cache of file content hashes keyed by (path, size, mtime_ns) so that an unchanged archive
    is not re-read on every run.
``discovery_problems``
    Files found under the root that could not be read as DICOM (per run, replaced each run).

Crash safety
------------
The database runs in WAL mode; each study's result (its row and all its lesions) is written in
one transaction (:meth:`BatchState.record`), so a SIGKILL at any moment leaves either the
complete previous state or the complete new one, never a partial study. ``synchronous=NORMAL``
(no fsync per commit) keeps this guarantee for a killed process; after a power loss or OS crash
the last few commits may be lost (never half-applied), and the next run simply recomputes them.
"""

from __future__ import annotations

import datetime
import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carpet.errors import InputError

__all__ = [
    "LESION_COLUMNS",
    "SCHEMA_VERSION",
    "STATE_FILENAME",
    "TIMING_COLUMNS",
    "BatchState",
    "StudyRecord",
]

logger = logging.getLogger(__name__)

#: File name of the database inside the batch output folder.
STATE_FILENAME = "batch.sqlite"
#: Version of the table layout below; a database with another version is refused.
SCHEMA_VERSION = 1
#: Lesion columns of the ``carpet analyze`` contract, stored as typed columns.
LESION_COLUMNS: tuple[str, ...] = (
    "volume_ml",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "tlg",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
)
#: Columns of ``studies`` that record when/how long, not what (excluded when comparing runs).
TIMING_COLUMNS: tuple[str, ...] = (
    "started_utc",
    "finished_utc",
    "duration_s",
    "timings_json",
    "run_id",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_utc TEXT NOT NULL,
    finished_utc TEXT,
    software_version TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    params_json TEXT NOT NULL,
    root TEXT,
    scheduler TEXT,
    n_submitted INTEGER DEFAULT 0,
    n_done INTEGER DEFAULT 0,
    n_failed INTEGER DEFAULT 0,
    n_skipped INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS studies (
    study_key TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    timepoint TEXT NOT NULL,
    source_path TEXT NOT NULL,
    series_uid TEXT,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error_code TEXT,
    error_message TEXT,
    input_hash TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    params_json TEXT NOT NULL,
    software_version TEXT NOT NULL,
    overrides_json TEXT NOT NULL,
    suv_provenance_json TEXT,
    patient_json TEXT,
    warnings_json TEXT,
    n_lesions INTEGER,
    output_dir TEXT,
    started_utc TEXT,
    finished_utc TEXT,
    duration_s REAL,
    timings_json TEXT,
    run_id INTEGER
);
CREATE TABLE IF NOT EXISTS lesions (
    study_key TEXT NOT NULL REFERENCES studies(study_key) ON DELETE CASCADE,
    lesion_id INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in LESION_COLUMNS)},
    row_json TEXT NOT NULL,
    PRIMARY KEY (study_key, lesion_id)
);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS discovery_problems (path TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StudyRecord:
    """The outcome of one study, as stored in one transaction.

    ``lesions`` holds ``lesions.csv`` rows as dicts (``lesion_id`` plus any columns); it is
    empty for failed studies and for studies without lesions.
    """

    study_key: str
    patient_id: str
    timepoint: str
    source_path: str
    series_uid: str | None
    status: str
    input_hash: str
    params_hash: str
    params_json: str
    software_version: str
    overrides_json: str
    error_code: str | None = None
    error_message: str | None = None
    suv_provenance: Any = None
    patient: Mapping[str, Any] | None = None
    warnings: Sequence[str] = ()
    lesions: Sequence[Mapping[str, Any]] = ()
    output_dir: str | None = None
    started_utc: str | None = None
    finished_utc: str | None = None
    duration_s: float | None = None
    timings: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status not in ("done", "failed"):
            raise ValueError(f"StudyRecord.status must be 'done' or 'failed', got {self.status!r}")
        if self.status == "failed" and not self.error_code:
            raise ValueError(f"failed study {self.study_key} needs an error_code")


def _json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no NaN: NaN/inf become null)."""
    return json.dumps(_finite(obj), sort_keys=True, separators=(",", ":"), default=str)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        try:
            return _finite(obj.item())
        except (TypeError, ValueError):
            return str(obj)
    return obj


def utc_now() -> str:
    """Current UTC time as ISO 8601 with microseconds."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class BatchState:
    """The batch database (``DIR/batch.sqlite``); only the coordinating process opens it.

    Parameters
    ----------
    path : path-like
        The database file; created with the current schema when absent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> st = BatchState(pathlib.Path(tempfile.mkdtemp()) / "batch.sqlite")
    >>> st.count_by_status()
    {}
    >>> st.close()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"{self.path}: not a usable carpet batch database ({exc}); "
                "point --out at a new folder or remove the file",
                code="BATCH_STATE_CORRUPT",
            ) from exc
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise InputError(
                f"{self.path}: batch database schema version {row[0]}, this carpet expects "
                f"{SCHEMA_VERSION}; use a new --out folder",
                code="BATCH_STATE_VERSION",
            )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self._db.close()

    def __enter__(self) -> BatchState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        *,
        software_version: str,
        params_hash: str,
        params_json: str,
        root: str | None,
        scheduler: str | None,
    ) -> int:
        """Insert a ``runs`` row and return its id."""
        cur = self._db.execute(
            "INSERT INTO runs (started_utc, software_version, params_hash, params_json, root, scheduler)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (utc_now(), software_version, params_hash, params_json, root, scheduler),
        )
        return int(cur.lastrowid)

    def finish_run(
        self, run_id: int, *, n_submitted: int, n_done: int, n_failed: int, n_skipped: int
    ) -> None:
        """Record the end of a run and its counts."""
        self._db.execute(
            "UPDATE runs SET finished_utc=?, n_submitted=?, n_done=?, n_failed=?, n_skipped=? WHERE run_id=?",
            (utc_now(), n_submitted, n_done, n_failed, n_skipped, run_id),
        )

    # ------------------------------------------------------------------ studies
    def lookup(self, study_key: str) -> tuple[str, str, str, str | None] | None:
        """``(status, input_hash, params_hash, error_code)`` of a stored study, or None."""
        row = self._db.execute(
            "SELECT status, input_hash, params_hash, error_code FROM studies WHERE study_key=?",
            (study_key,),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def record(self, rec: StudyRecord, *, run_id: int | None = None) -> None:
        """Store one study's outcome (row + lesions) in ONE transaction, replacing any old one."""
        values = {
            "study_key": rec.study_key,
            "patient_id": rec.patient_id,
            "timepoint": rec.timepoint,
            "source_path": rec.source_path,
            "series_uid": rec.series_uid,
            "status": rec.status,
            "error_code": rec.error_code,
            "error_message": rec.error_message,
            "input_hash": rec.input_hash,
            "params_hash": rec.params_hash,
            "params_json": rec.params_json,
            "software_version": rec.software_version,
            "overrides_json": rec.overrides_json,
            "suv_provenance_json": None
            if rec.suv_provenance is None
            else _json(rec.suv_provenance),
            "patient_json": None if rec.patient is None else _json(rec.patient),
            "warnings_json": _json(list(rec.warnings)),
            "n_lesions": len(rec.lesions) if rec.status == "done" else None,
            "output_dir": rec.output_dir,
            "started_utc": rec.started_utc,
            "finished_utc": rec.finished_utc,
            "duration_s": rec.duration_s,
            "timings_json": None if rec.timings is None else _json(rec.timings),
            "run_id": run_id,
        }
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        lesion_rows = []
        for les in rec.lesions:
            clean = _finite(dict(les))
            lesion_rows.append(
                (
                    rec.study_key,
                    int(clean["lesion_id"]),
                    *(clean.get(c) for c in LESION_COLUMNS),
                    _json(clean),
                )
            )
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM lesions WHERE study_key=?", (rec.study_key,))
            db.execute(
                f"INSERT OR REPLACE INTO studies ({cols}) VALUES ({marks})", tuple(values.values())
            )
            db.executemany(
                f"INSERT INTO lesions VALUES (?, ?, {', '.join('?' for _ in LESION_COLUMNS)}, ?)",
                lesion_rows,
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def count_by_status(self) -> dict[str, int]:
        """``{status: count}`` over all stored studies."""
        return dict(
            self._db.execute("SELECT status, COUNT(*) FROM studies GROUP BY status").fetchall()
        )

    def failures_by_code(self) -> dict[str, int]:
        """``{error_code: count}`` of failed studies, most frequent first."""
        rows = self._db.execute(
            "SELECT error_code, COUNT(*) AS n FROM studies WHERE status='failed' GROUP BY error_code "
            "ORDER BY n DESC, error_code"
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def iter_rows(self, table: str, *, order_by: str | None = None) -> Iterator[dict[str, Any]]:
        """Stream the rows of ``table`` as dicts (for export and comparisons)."""
        if table not in ("studies", "lesions", "runs", "discovery_problems"):
            raise ValueError(f"unknown table {table!r}")
        sql = f"SELECT * FROM {table}" + (f" ORDER BY {order_by}" if order_by else "")
        cur = self._db.execute(sql)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))

    # ------------------------------------------------------------------ file hash cache
    def cached_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The cached SHA-256 of ``path`` if its size and mtime are unchanged."""
        row = self._db.execute(
            "SELECT size, mtime_ns, sha256 FROM file_hashes WHERE path=?", (path,)
        ).fetchone()
        if row is not None and row[0] == size and row[1] == mtime_ns:
            return str(row[2])
        return None

    def store_hashes(self, entries: Sequence[tuple[str, int, int, str]]) -> None:
        """Cache ``(path, size, mtime_ns, sha256)`` entries (one transaction)."""
        if entries:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)", entries)
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ discovery problems
    def replace_discovery_problems(self, problems: Sequence[tuple[str, str]]) -> None:
        """Replace the list of unreadable files found by this run's discovery."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DELETE FROM discovery_problems")
        self._db.executemany("INSERT OR REPLACE INTO discovery_problems VALUES (?, ?)", problems)
        self._db.execute("COMMIT")
