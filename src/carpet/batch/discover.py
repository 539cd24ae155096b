"""Streaming discovery of the PET studies under an archive folder (any layout).

The archive is cut into *groups*: each entry directly under ROOT (typically one patient
folder; a file directly under ROOT is a group on its own). Groups are read one at a time with
:func:`carpet.ingest.discover.discover` (headers only), so the memory of discovery is bounded by
the largest group, never by the archive. Within a group, series are grouped by
StudyInstanceUID; each study yields one :class:`~carpet.batch.jobs.StudyJob` per
attenuation-corrected PET series (the non-corrected PET series is used only when it is the only
one, so that its refusal is recorded). A study without any PET series yields a job too (it is
recorded as failed with the reader's code), and a folder whose every file is unreadable yields a
job recorded as ``UNREADABLE_STUDY``; files that are not DICOM at all are listed as problems.

Assumption (documented limit): the files of one study lie under one entry of ROOT. A study
split across two top-level folders is seen as two studies.

Identity: ``patient_id`` is a pseudonym (``P-`` + 10 hex digits of the SHA-256 of the DICOM
PatientID) unless ``keep_patient_ids=True`` (outputs then carry the DICOM PatientID);
``timepoint`` is the StudyDate as ``YYYY-MM-DD``; ``study_key`` is derived from the
StudyInstanceUID and the PET SeriesInstanceUID.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from carpet.batch.jobs import StudyJob, key_of

__all__ = ["DiscoveryProblem", "DiscoveryStats", "iter_studies"]

logger = logging.getLogger(__name__)

#: File names that are never DICOM studies (ignored silently).
_IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
#: Suffixes of files that are clearly not DICOM (not reported as unreadable studies).
_NON_DICOM_SUFFIXES = frozenset(
    {".txt", ".csv", ".json", ".md", ".pdf", ".xml", ".html", ".png", ".jpg"}
)


@dataclass(frozen=True)
class DiscoveryProblem:
    """A file under ROOT that could not be read as DICOM (``path``, ``reason``)."""

    path: str
    reason: str


@dataclass
class DiscoveryStats:
    """How far discovery is: ``groups_done`` of ``groups_total`` top-level entries read.

    Lets a caller estimate the number of studies before discovery ends (progress, ETA).
    """

    groups_total: int = 0
    groups_done: int = 0

    def expected_total(self, studies_so_far: int) -> int | None:
        """Studies expected in the whole archive at the current studies-per-group rate."""
        if self.groups_done == 0:
            return None
        return max(studies_so_far, round(studies_so_far * self.groups_total / self.groups_done))


def _groups(root: Path, stats: DiscoveryStats) -> Iterator[Path]:
    if root.is_file():
        stats.groups_total = 1
        yield root
        return
    with os.scandir(root) as it:
        # hidden entries (our own temp folders, VCS folders, marker files) are not studies
        names = sorted(
            e.name for e in it if e.name not in _IGNORED_NAMES and not e.name.startswith(".")
        )
    stats.groups_total = len(names)
    for name in names:
        yield root / name


def _pseudonym(patient_id: str | None, keep: bool) -> str:
    if not patient_id:
        return "unknown"
    if keep:
        return patient_id
    return "P-" + hashlib.sha256(patient_id.encode("utf-8")).hexdigest()[:10]


def _date(value: object) -> str:
    s = str(value or "").strip()
    if len(s) == 8 and s.isdigit():
        return f"{s[:4]}-{s[4:6]}-{s[6:]}"
    return s or "unknown"


def _header_identity(path: str) -> tuple[str | None, str]:
    """PatientID and StudyDate of one file (header only)."""
    import pydicom

    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["PatientID", "StudyDate"]
        )
    except Exception:  # noqa: BLE001 - a file that fails here was readable for ingest; keep going
        return None, "unknown"
    return (str(ds.get("PatientID", "")) or None), _date(ds.get("StudyDate"))


def _identity(series: object, first_file: str) -> tuple[str | None, str]:
    """PatientID and StudyDate from the headers discovery already read (else from one file)."""
    instances = getattr(series, "instances", None) or ()
    ds = getattr(instances[0], "dataset", None) if instances else None
    if ds is not None and "StudyDate" in ds:
        return (str(ds.get("PatientID", "")) or None), _date(ds.get("StudyDate"))
    return _header_identity(first_file)


def _common_dir(files: list[str]) -> str:
    return os.path.commonpath([os.path.dirname(f) for f in files])


def _is_ac(series: object) -> bool:
    flag = getattr(series, "is_attenuation_corrected", None)
    if flag is None:
        corrected = getattr(series, "corrected_image", None) or ()
        flag = "ATTN" in {str(c).upper() for c in corrected}
    return bool(flag)


def iter_studies(
    root: str | os.PathLike[str],
    *,
    keep_patient_ids: bool = False,
    problems: list[DiscoveryProblem] | None = None,
    stats: DiscoveryStats | None = None,
) -> Iterator[StudyJob]:
    """Yield one :class:`StudyJob` per PET study under ``root``, group by group (streaming).

    Parameters
    ----------
    root : path-like
        Archive folder (any layout, any file names) or a single DICOM file.
    keep_patient_ids : bool
        Use the DICOM PatientID as ``patient_id`` instead of a pseudonym.
    problems : list, optional
        Receives a :class:`DiscoveryProblem` per unreadable non-study file.
    stats : DiscoveryStats, optional
        Updated as groups are read (for progress estimates).

    Yields
    ------
    StudyJob
        In a deterministic order (sorted groups, then StudyInstanceUID, then series UID).

    Raises
    ------
    InputError
        ``BATCH_ROOT_MISSING`` when ``root`` does not exist.
    """
    from carpet.errors import InputError
    from carpet.ingest.discover import discover

    root = Path(os.path.abspath(root))
    if not root.exists():
        raise InputError(
            f"batch root {root} does not exist; give the archive folder", code="BATCH_ROOT_MISSING"
        )
    stats = stats if stats is not None else DiscoveryStats()
    for group in _groups(root, stats):
        disc = discover(group)
        stats.groups_done += 1
        by_study: dict[str, list] = defaultdict(list)
        for s in disc.series:
            by_study[str(s.study_instance_uid or "")].append(s)
        readable_dirs: set[str] = set()
        problem_files: dict[str, list[str]] = defaultdict(list)
        for p in disc.problems:
            problem_files[os.path.dirname(str(p.path))].append(str(p.path))
        for study_uid in sorted(by_study):
            series = sorted(by_study[study_uid], key=lambda s: str(s.series_instance_uid))
            files = sorted(str(f) for s in series for f in s.files)
            dirs = {os.path.dirname(f) for f in files}
            readable_dirs.update(dirs)
            # unreadable files beside the study's files are part of its input (fixing them recomputes it)
            files = sorted({*files, *(f for d in dirs for f in problem_files.get(d, ()))})
            patient, date = _identity(series[0], files[0])
            pid = _pseudonym(patient, keep_patient_ids)
            pets = [
                s
                for s in series
                if str(getattr(s, "modality", "")) == "PT" and getattr(s, "kind", "PT") == "PT"
            ]
            chosen = [s for s in pets if _is_ac(s)] or pets[:1]
            path = _common_dir(files)
            if not chosen:
                yield StudyJob(
                    study_key=key_of("study", study_uid),
                    patient_id=pid,
                    timepoint=date,
                    path=path,
                    files=tuple(files),
                )
                continue
            for n, pet in enumerate(chosen):
                tp = date if n == 0 else f"{date}#{n + 1}"
                yield StudyJob(
                    study_key=key_of("study", study_uid, str(pet.series_instance_uid)),
                    patient_id=pid,
                    timepoint=tp,
                    path=path,
                    series_uid=str(pet.series_instance_uid),
                    files=tuple(files),
                )
        # Folders in which nothing was readable: record them as unreadable studies.
        bad_by_dir: dict[str, list] = defaultdict(list)
        for p in disc.problems:
            ppath = str(p.path)
            if Path(ppath).name in _IGNORED_NAMES or Path(ppath).name.startswith("."):
                continue
            if Path(ppath).suffix.lower() in _NON_DICOM_SUFFIXES:
                if problems is not None:
                    problems.append(DiscoveryProblem(ppath, str(p.reason)))
                continue
            bad_by_dir[os.path.dirname(ppath)].append(p)
        for d in sorted(bad_by_dir):
            bad = bad_by_dir[d]
            if problems is not None:
                problems.extend(DiscoveryProblem(str(p.path), str(p.reason)) for p in bad)
            if d in readable_dirs:
                continue
            rel = os.path.relpath(d, root)
            reason = f"{len(bad)} file(s), none readable as DICOM; first: {Path(str(bad[0].path)).name}: {bad[0].reason}"
            yield StudyJob(
                study_key=key_of("folder", rel),
                patient_id="unknown",
                timepoint="unknown",
                path=d,
                files=tuple(sorted(str(p.path) for p in bad)),
                problem=("UNREADABLE_STUDY", reason),
            )
