"""Batch manifests: a CSV naming each study explicitly, validated up-front (all problems at once).

Columns
-------
Required: ``patient_id``, ``timepoint``, ``path`` (a DICOM folder or file, or a NIfTI file;
relative paths are relative to the batch ROOT). Optional: ``series_uid`` (which PET series of the
folder), ``units`` (``suv`` for a NIfTI image already in SUVbw) and the SUV overrides ``weight_kg``, ``height_m``, ``injected_dose_bq``,
``injection_datetime`` (ISO 8601, e.g. ``2024-03-01T08:15:00``) and ``sex`` (``M``/``F``/``O``).
An empty cell means "take it from the DICOM header". Unknown columns are errors (a misspelt
``weight`` must not be silently ignored).

The manifest is read twice in streaming fashion: once to validate every row
(:func:`validate_manifest`), once to yield jobs (:func:`iter_manifest`); only the
``(patient_id, timepoint)`` pairs are kept in memory, for the duplicate check.
"""

from __future__ import annotations

import csv
import datetime
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carpet.errors import TableValidationError

__all__ = [
    "MANIFEST_OVERRIDE_COLUMNS",
    "MANIFEST_REQUIRED_COLUMNS",
    "ManifestRow",
    "iter_manifest",
    "validate_manifest",
]

#: Columns every manifest must have.
MANIFEST_REQUIRED_COLUMNS: tuple[str, ...] = ("patient_id", "timepoint", "path")
#: Optional per-study SUV override columns (names of ``carpet.suv.SuvOverrides``).
MANIFEST_OVERRIDE_COLUMNS: tuple[str, ...] = (
    "weight_kg",
    "height_m",
    "injected_dose_bq",
    "injection_datetime",
    "sex",
)
_OPTIONAL = ("series_uid", "units", *MANIFEST_OVERRIDE_COLUMNS)

# Plausible ranges; values outside are almost always a unit mistake.
_WEIGHT_KG = (2.0, 400.0)
_HEIGHT_M = (0.3, 2.6)
_DOSE_BQ = (1.0e6, 2.0e10)


@dataclass(frozen=True)
class ManifestRow:
    """One validated manifest row.

    Parameters
    ----------
    line : int
        Line number in the CSV file (header = 1).
    patient_id, timepoint : str
        Identity of the study (as given by the user).
    path : Path
        Absolute path of the study input.
    series_uid : str or None
        PET series to analyse when the folder holds several.
    units : str or None
        ``"suv"`` for a NIfTI image already in SUVbw (as ``carpet analyze --units suv``).
    overrides : dict
        SUV overrides (``weight_kg`` in kg, ``height_m`` in m, ``injected_dose_bq`` in Bq,
        ``injection_datetime`` ISO string, ``sex``), only the non-empty ones.
    """

    line: int
    patient_id: str
    timepoint: str
    path: Path
    series_uid: str | None = None
    units: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def _parse_row(
    line: int, raw: dict[str, str | None], root: Path, problems: list[dict[str, Any]]
) -> ManifestRow | None:
    def problem(column: str, value: Any, reason: str) -> None:
        problems.append({"row": line, "column": column, "value": value, "reason": reason})

    vals = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    if None in raw:  # more cells than header columns
        problem("", raw[None], "more cells than header columns")
    n_before = len(problems)
    for col in MANIFEST_REQUIRED_COLUMNS:
        if not vals.get(col):
            problem(col, "", "required value is empty")
    overrides: dict[str, Any] = {}
    for col, lo_hi, unit_hint in (
        ("weight_kg", _WEIGHT_KG, "kg (pounds? divide by 2.2046)"),
        ("height_m", _HEIGHT_M, "metres (centimetres? divide by 100)"),
        ("injected_dose_bq", _DOSE_BQ, "Bq (MBq? multiply by 1e6)"),
    ):
        text = vals.get(col, "")
        if not text:
            continue
        try:
            x = float(text)
        except ValueError:
            problem(col, text, "not a number")
            continue
        if not math.isfinite(x) or not lo_hi[0] <= x <= lo_hi[1]:
            problem(
                col,
                text,
                f"outside the plausible range {lo_hi[0]:g}-{lo_hi[1]:g}; expected {unit_hint}",
            )
            continue
        overrides[col] = x
    text = vals.get("injection_datetime", "")
    if text:
        try:
            datetime.datetime.fromisoformat(text)
            overrides["injection_datetime"] = text
        except ValueError:
            problem(
                "injection_datetime", text, "not an ISO 8601 date-time such as 2024-03-01T08:15:00"
            )
    text = vals.get("sex", "")
    if text:
        if text.upper() not in ("M", "F", "O"):
            problem("sex", text, "expected M, F or O")
        else:
            overrides["sex"] = text.upper()
    units = vals.get("units", "").lower() or None
    if units not in (None, "suv"):
        problem("units", vals["units"], "expected suv (for a NIfTI image already in SUV) or empty")
    path = None
    if vals.get("path"):
        path = Path(vals["path"]).expanduser()
        if not path.is_absolute():
            path = root / path
        if not path.exists():
            problem("path", vals["path"], f"does not exist (resolved to {path})")
    if len(problems) > n_before or path is None:
        return None
    return ManifestRow(
        line=line,
        patient_id=vals["patient_id"],
        timepoint=vals["timepoint"],
        path=Path(os.path.abspath(path)),
        series_uid=vals.get("series_uid") or None,
        units=units,
        overrides=overrides,
    )


def _rows(
    manifest: Path, root: Path, problems: list[dict[str, Any]]
) -> Iterator[tuple[int, str, str, ManifestRow | None]]:
    try:
        fh = open(manifest, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise TableValidationError(
            f"manifest {manifest}: cannot be read ({exc.strerror})", code="MANIFEST_UNREADABLE"
        ) from exc
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in MANIFEST_REQUIRED_COLUMNS if c not in header]
        unknown = [c for c in header if c not in MANIFEST_REQUIRED_COLUMNS + _OPTIONAL]
        for c in missing:
            problems.append(
                {"row": 1, "column": c, "value": "", "reason": "required column missing"}
            )
        for c in unknown:
            problems.append(
                {
                    "row": 1,
                    "column": c,
                    "value": "",
                    "reason": f"unknown column; known: {', '.join(MANIFEST_REQUIRED_COLUMNS + _OPTIONAL)}",
                }
            )
        if missing:
            return
        for raw in reader:
            row = _parse_row(reader.line_num, raw, root, problems)
            yield (
                reader.line_num,
                (raw.get("patient_id") or "").strip(),
                (raw.get("timepoint") or "").strip(),
                row,
            )


def _raise(manifest: Path, problems: list[dict[str, Any]]) -> None:
    shown = "; ".join(
        f"line {p['row']} column {p['column'] or '?'}"
        + (f" value {p['value']!r}" if p["value"] not in ("", None) else "")
        + f": {p['reason']}"
        for p in problems[:20]
    )
    more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
    raise TableValidationError(
        f"manifest {manifest}: {len(problems)} problem(s): {shown}{more}",
        code="MANIFEST_INVALID",
        problems=problems,
    )


def validate_manifest(
    manifest: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> int:
    """Check every row of a manifest and report ALL problems at once.

    Parameters
    ----------
    manifest : path-like
        The CSV file.
    root : path-like, optional
        Folder that relative ``path`` values are relative to (default: the manifest's folder).

    Returns
    -------
    int
        The number of studies (rows).

    Raises
    ------
    TableValidationError
        Code ``MANIFEST_INVALID`` with ``.problems`` (row, column, value, reason) listing every
        problem: missing/unknown columns, empty required values, paths that do not exist,
        implausible overrides (unit mistakes), bad dates or sex, duplicate
        ``(patient_id, timepoint)``, an empty manifest. ``MANIFEST_UNREADABLE`` when the file
        cannot be opened.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "s1").mkdir()
    >>> _ = (d / "m.csv").write_text("patient_id,timepoint,path,weight_kg\\nP1,baseline,s1,70\\n")
    >>> validate_manifest(d / "m.csv")
    1
    """
    manifest = Path(manifest)
    base = Path(root) if root is not None else manifest.parent
    problems: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    n = 0
    for line, pid, tp, _row in _rows(manifest, base, problems):
        key = (pid, tp)
        if pid and tp and key in seen:
            problems.append(
                {
                    "row": line,
                    "column": "timepoint",
                    "value": tp,
                    "reason": f"duplicate patient_id/timepoint {key} (first on line {seen[key]})",
                }
            )
        elif pid and tp:
            seen[key] = line
        n += 1
    if n == 0 and not problems:
        problems.append({"row": 1, "column": "", "value": "", "reason": "manifest has no studies"})
    if problems:
        _raise(manifest, problems)
    return n


def iter_manifest(
    manifest: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> Iterator[ManifestRow]:
    """Yield the rows of a manifest already checked with :func:`validate_manifest`."""
    manifest = Path(manifest)
    base = Path(root) if root is not None else manifest.parent
    problems: list[dict[str, Any]] = []
    for _line, _pid, _tp, row in _rows(manifest, base, problems):
        if row is not None:
            yield row
    if problems:  # the file changed between validation and use
        _raise(manifest, problems)
