"""The unit of batch work: one study to analyse (:class:`StudyJob`), and its content fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["StudyJob", "files_of", "fingerprint", "key_of"]


@dataclass(frozen=True)
class StudyJob:
    """One study to analyse; small and picklable (it travels to the workers).

    Parameters
    ----------
    study_key : str
        Stable identifier (16 hex digits) of the study across runs; names its output folder.
    patient_id, timepoint : str
        Identity used in the exported tables (``timepoint`` is the study date ``YYYY-MM-DD``
        for discovered studies, the manifest's label otherwise).
    path : str
        Absolute path of the input (folder or file) given to the reader.
    series_uid : str or None
        PET series to analyse when the path holds several.
    units : str or None
        ``"suv"`` when the input is a NIfTI image already in SUVbw.
    files : tuple of str
        The input files whose content defines the study (hashed for "unchanged?" decisions);
        empty means every file under ``path``.
    overrides : dict
        SUV overrides (``carpet.suv.SuvOverrides`` keyword arguments).
    problem : tuple (code, message) or None
        Set by discovery when the study is known to be unreadable (every file of a folder
        failed to parse); the worker records it as a failure without reading.
    """

    study_key: str
    patient_id: str
    timepoint: str
    path: str
    series_uid: str | None = None
    units: str | None = None
    files: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    problem: tuple[str, str] | None = None

    def overrides_json(self) -> str:
        """Canonical JSON of the overrides (part of the input hash)."""
        return json.dumps(self.overrides, sort_keys=True, separators=(",", ":"))


def key_of(*parts: str) -> str:
    """16-hex-digit stable key of the given identity parts.

    Examples
    --------
    >>> key_of("P1", "baseline")
    'b483486d499b13f3'
    """
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]


def files_of(job: StudyJob) -> list[str]:
    """Sorted absolute paths of the input files of ``job``."""
    if job.files:
        return sorted(job.files)
    p = Path(job.path)
    if p.is_file():
        return [str(p)]
    out = []
    for dirpath, _dirs, names in os.walk(p):
        out.extend(os.path.join(dirpath, n) for n in names)
    return sorted(out)


def fingerprint(
    job: StudyJob, file_hash: Callable[[str], str], *, files: Iterable[str] | None = None
) -> str:
    """SHA-256 over the study's file contents (relative names + content hashes), series and overrides.

    Moving the archive does not change it; editing, adding or removing a file, or changing an
    override, does.
    """
    paths = sorted(files) if files is not None else files_of(job)
    base = Path(job.path) if Path(job.path).is_dir() else Path(job.path).parent
    h = hashlib.sha256()
    h.update(
        f"series={job.series_uid}\nunits={job.units}\noverrides={job.overrides_json()}\n".encode()
    )
    if job.problem:
        h.update(f"problem={job.problem[0]}\n".encode())
    for f in paths:
        try:
            rel = os.path.relpath(f, base)
        except ValueError:
            rel = f
        h.update(f"{rel}\x00{file_hash(f)}\n".encode())
    return h.hexdigest()
