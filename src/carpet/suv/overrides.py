"""User overrides of SUV header facts (weight, height, dose, injection time, sex).

Overrides come from the command line or a CSV sidecar and always win over the
header; :func:`carpet.suv.compute_suv_factors` lists the overridden fields in
``SuvFactors.overrides_applied`` and in its provenance. Override values are taken
in the units their names say (no plausibility unit guessing), but must lie in
plausible ranges.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from carpet.errors import ConfigError, TableValidationError

__all__ = [
    "SuvOverrides",
    "read_overrides_csv",
    "overrides_for",
    "merge_overrides",
    "OVERRIDE_KEY_COLUMNS",
]

#: Plausible ranges of override values (inclusive).
WEIGHT_KG_RANGE = (0.5, 400.0)
HEIGHT_M_RANGE = (0.3, 2.6)
DOSE_BQ_RANGE = (1e5, 1e11)

#: Accepted names of the key column of an overrides CSV (first one present is used).
OVERRIDE_KEY_COLUMNS = ("series_instance_uid", "study_instance_uid", "patient_id", "key")


@dataclass(frozen=True)
class SuvOverrides:
    """Values that replace the header's for the SUV computation.

    Parameters
    ----------
    weight_kg : float, optional
        Body weight, kg.
    height_m : float, optional
        Height, m.
    injected_dose_bq : float, optional
        Injected activity at the injection time, Bq.
    injection_datetime : datetime, optional
        Injection (administration) date and time (naive, scanner local time).
    sex : {"M", "F", "O"}, optional

    Raises
    ------
    ConfigError
        ``INVALID_OVERRIDE`` when a value is out of its plausible range or of the
        wrong type.

    Examples
    --------
    >>> SuvOverrides(weight_kg=80).weight_kg
    80.0
    >>> SuvOverrides(weight_kg=80000)
    Traceback (most recent call last):
    ...
    carpet.errors.ConfigError: SUV override weight_kg=80000.0 is outside the plausible range [0.5, 400.0] kg; give the weight in kg
    """

    weight_kg: float | None = None
    height_m: float | None = None
    injected_dose_bq: float | None = None
    injection_datetime: datetime | None = None
    sex: str | None = None

    def __post_init__(self) -> None:
        for name, (lo, hi), unit, hint in (
            ("weight_kg", WEIGHT_KG_RANGE, "kg", "give the weight in kg"),
            ("height_m", HEIGHT_M_RANGE, "m", "give the height in metres"),
            ("injected_dose_bq", DOSE_BQ_RANGE, "Bq", "give the dose in Bq (1 MBq = 1e6 Bq)"),
        ):
            v = getattr(self, name)
            if v is None:
                continue
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"SUV override {name}={v!r} is not a number; {hint}", code="INVALID_OVERRIDE"
                ) from None
            if not math.isfinite(f) or not lo <= f <= hi:
                raise ConfigError(
                    f"SUV override {name}={f!r} is outside the plausible range [{lo}, {hi}] "
                    f"{unit}; {hint}",
                    code="INVALID_OVERRIDE",
                )
            object.__setattr__(self, name, f)
        if self.injection_datetime is not None and not isinstance(
            self.injection_datetime, datetime
        ):
            raise ConfigError(
                f"SUV override injection_datetime={self.injection_datetime!r} is not a datetime; "
                "give ISO 8601, e.g. 2025-01-01T10:00:00",
                code="INVALID_OVERRIDE",
            )
        if self.injection_datetime is not None and self.injection_datetime.tzinfo is not None:
            object.__setattr__(
                self, "injection_datetime", self.injection_datetime.replace(tzinfo=None)
            )
        if self.sex is not None:
            s = str(self.sex).strip().upper()
            if s not in ("M", "F", "O"):
                raise ConfigError(
                    f"SUV override sex={self.sex!r} must be M, F or O", code="INVALID_OVERRIDE"
                )
            object.__setattr__(self, "sex", s)

    @property
    def is_empty(self) -> bool:
        """True when no value is overridden."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the set values only."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v.isoformat() if isinstance(v, datetime) else v
        return out


_VALUE_COLUMNS = (
    "weight_kg",
    "height_m",
    "injected_dose_bq",
    "injected_dose_mbq",
    "injection_datetime",
    "sex",
)


def read_overrides_csv(path: str | Path) -> dict[str, SuvOverrides]:
    """Read a CSV sidecar of SUV overrides.

    Parameters
    ----------
    path : str or Path
        CSV with a header row: one key column (``series_instance_uid``,
        ``study_instance_uid``, ``patient_id`` or ``key``; the first present is
        used) and any of ``weight_kg``, ``height_m``, ``injected_dose_bq``
        (or ``injected_dose_mbq``), ``injection_datetime`` (ISO 8601), ``sex``.
        Empty cells mean "no override".

    Returns
    -------
    dict of str to SuvOverrides
        Keyed by the key column's value; the caller matches it against the
        series (typically its SeriesInstanceUID).

    Raises
    ------
    TableValidationError
        ``INVALID_OVERRIDES_CSV``, listing every bad row/column (unknown column,
        no key column, duplicate or empty key, non-numeric or implausible value,
        bad datetime) at once.

    Notes
    -----
    All rows are validated before any is returned; ``injected_dose_mbq`` is
    multiplied by 10⁶.

    References
    ----------
    IBSI-SUV manual (weight, dose and injection time are manually entered and often wrong);
    issue #3 §3 (overrides are recorded in the provenance).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "o.csv")
    >>> _ = open(p, "w").write("series_instance_uid,weight_kg\\n1.2.3,81.5\\n")
    >>> read_overrides_csv(p)["1.2.3"].weight_kg
    81.5
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise TableValidationError(
            f"cannot read SUV overrides CSV {path}: {exc}", code="INVALID_OVERRIDES_CSV"
        ) from exc
    if not rows:
        raise TableValidationError(
            f"SUV overrides CSV {path} is empty; expected a header row",
            code="INVALID_OVERRIDES_CSV",
        )
    header = [h.strip().lower() for h in rows[0]]
    problems: list[str] = []
    key_col = next((k for k in OVERRIDE_KEY_COLUMNS if k in header), None)
    if key_col is None:
        problems.append(
            f"no key column; expected one of {list(OVERRIDE_KEY_COLUMNS)}, got {header}"
        )
    unknown = [h for h in header if h not in _VALUE_COLUMNS and h not in OVERRIDE_KEY_COLUMNS]
    if unknown:
        problems.append(
            f"unknown column(s) {unknown}; known: {list(OVERRIDE_KEY_COLUMNS + _VALUE_COLUMNS)}"
        )
    if "injected_dose_bq" in header and "injected_dose_mbq" in header:
        problems.append("give injected_dose_bq or injected_dose_mbq, not both")
    if problems:
        raise TableValidationError(
            f"SUV overrides CSV {path}: " + "; ".join(problems),
            code="INVALID_OVERRIDES_CSV",
            problems=problems,
        )
    out: dict[str, SuvOverrides] = {}
    for rownum, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(f"row {rownum}: {len(row)} cells, header has {len(header)}")
            continue
        rec = {h: c.strip() for h, c in zip(header, row, strict=True)}
        key = rec.pop(key_col)  # type: ignore[arg-type]
        if not key:
            problems.append(f"row {rownum}, column {key_col}: empty key")
            continue
        if key in out:
            problems.append(f"row {rownum}, column {key_col}: duplicate key {key!r}")
            continue
        kwargs: dict[str, Any] = {}
        bad = False
        for col, cell in rec.items():
            if cell == "" or col in OVERRIDE_KEY_COLUMNS:
                continue
            try:
                if col in ("weight_kg", "height_m", "injected_dose_bq"):
                    kwargs[col] = float(cell)
                elif col == "injected_dose_mbq":
                    kwargs["injected_dose_bq"] = float(cell) * 1e6
                elif col == "injection_datetime":
                    kwargs[col] = datetime.fromisoformat(cell)
                elif col == "sex":
                    kwargs[col] = cell
            except ValueError:
                problems.append(f"row {rownum}, column {col}: {cell!r} is not a valid {col}")
                bad = True
        if bad:
            continue
        try:
            out[key] = SuvOverrides(**kwargs)
        except ConfigError as exc:
            problems.append(f"row {rownum}: {exc.message}")
    if problems:
        raise TableValidationError(
            f"SUV overrides CSV {path}: {len(problems)} problem(s): " + "; ".join(problems),
            code="INVALID_OVERRIDES_CSV",
            problems=problems,
        )
    return out


def overrides_for(table: dict[str, SuvOverrides], *keys: str | None) -> SuvOverrides | None:
    """The overrides of the first of ``keys`` present in ``table`` (from :func:`read_overrides_csv`).

    Parameters
    ----------
    table : dict of str to SuvOverrides
    *keys : str or None
        Candidate keys in priority order, e.g. SeriesInstanceUID, StudyInstanceUID,
        PatientID, folder name; ``None`` entries are skipped.

    Returns
    -------
    SuvOverrides or None

    Notes
    -----
    Exact string match; the first key found wins.

    References
    ----------
    IBSI-SUV manual (weight, dose and injection time are manually entered and often wrong);
    issue #3 §3 (overrides are recorded in the provenance).

    Examples
    --------
    >>> t = {"1.2.3": SuvOverrides(weight_kg=70)}
    >>> overrides_for(t, None, "9.9", "1.2.3").weight_kg, overrides_for(t, "x") is None
    (70.0, True)
    """
    for k in keys:
        if k is not None and k in table:
            return table[k]
    return None


def merge_overrides(base: SuvOverrides | None, top: SuvOverrides | None) -> SuvOverrides | None:
    """Field-wise merge: values set in ``top`` (e.g. the command line) win over ``base`` (e.g. a CSV).

    Notes
    -----
    ``None`` fields of ``top`` fall back to ``base``; the result is validated again.

    References
    ----------
    IBSI-SUV manual (weight, dose and injection time are manually entered and often wrong);
    issue #3 §3 (overrides are recorded in the provenance).

    Examples
    --------
    >>> merge_overrides(SuvOverrides(weight_kg=70, sex="M"), SuvOverrides(weight_kg=80)).to_dict()
    {'weight_kg': 80.0, 'sex': 'M'}
    """
    if base is None:
        return top
    if top is None:
        return base
    kw = {
        f.name: getattr(top, f.name) if getattr(top, f.name) is not None else getattr(base, f.name)
        for f in fields(SuvOverrides)
    }
    return SuvOverrides(**kw)
