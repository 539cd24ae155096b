"""Reading and validating the clinical and biomarker tables before any computation.

Every problem is collected first and reported at once, each with the table, the row (the
line number in the file, header = line 1), the column, the value and the reason. Fatal
problems raise :class:`carpet.errors.TableValidationError` with the full list; problems
that only make a patient unusable for an endpoint (missing follow-up, an id present in one
table only) exclude that patient, and the exclusion is listed with its reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from carpet.clinical.schema import CLINICAL_COLUMNS, DAYS_PER_MONTH, ColumnSpec
from carpet.errors import InputError, TableValidationError
from carpet.measure.columns import BIOMARKER_KEYS

__all__ = [
    "BIOMARKER_COLUMNS",
    "CohortTables",
    "TableProblem",
    "prepare_cohort",
    "read_biomarkers",
    "read_table",
    "validate_clinical",
]


logger = logging.getLogger(__name__)

#: Numeric biomarker keys of ``patient.json`` (the ``carpet analyze`` contract) a cohort analyses.
BIOMARKER_COLUMNS = BIOMARKER_KEYS

_SPECS = {c.name: c for c in CLINICAL_COLUMNS}
_TRUE = {"1", "yes", "y", "true", "t"}
_FALSE = {"0", "no", "n", "false", "f"}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


@dataclasses.dataclass(frozen=True)
class TableProblem:
    """One validation problem.

    Attributes
    ----------
    table : str
        File name (or table label).
    row : int or None
        Line number in the file (header = 1); None for table-level problems.
    column : str or None
    value : str or None
    reason : str
    """

    table: str
    row: int | None
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        if self.value is not None:
            where += f", value '{self.value}'"
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        """JSON-able dictionary."""
        return dataclasses.asdict(self)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Excel (.xlsx) table as strings (validation converts types).

    Raises
    ------
    InputError
        ``TABLE_UNREADABLE`` when the file is missing or cannot be parsed.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: table not found; give a CSV or .xlsx file", code="TABLE_UNREADABLE")
    try:
        if p.suffix.lower() in (".xlsx", ".xlsm"):
            df = pd.read_excel(p, dtype=str, engine="openpyxl")
        else:
            df = pd.read_csv(
                p, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True
            )
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read the table ({exc})", code="TABLE_UNREADABLE") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _flatten_scalars(obj: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in obj.items():
        if isinstance(v, dict) and k in ("biomarkers", "patient", "metrics", "summary"):
            out.update(_flatten_scalars(v))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out.setdefault(prefix + k, v)
    return out


def read_biomarkers(path: str | Path) -> pd.DataFrame:
    """Read biomarkers from a CSV/Excel table or a folder of ``carpet analyze`` outputs.

    Parameters
    ----------
    path : str or Path
        A table with a ``patient_id`` column, or a folder whose sub-folders each hold a
        ``patient.json`` (the patient id is its ``patient_id`` key if present, else the
        sub-folder name).

    Returns
    -------
    pandas.DataFrame
        One row per table row / analysis folder; values as read (validated later).

    Raises
    ------
    InputError
        ``TABLE_UNREADABLE`` when nothing usable is found.
    """
    p = Path(path)
    if p.is_dir():
        rows = []
        folders = sorted(d for d in p.iterdir() if d.is_dir() and (d / "patient.json").is_file())
        if (p / "patient.json").is_file():
            folders.insert(0, p)
        if not folders:
            raise InputError(
                f"{p}: no patient.json found in it or its sub-folders; give a biomarker CSV or a folder of "
                "`carpet analyze` outputs",
                code="TABLE_UNREADABLE",
            )
        for d in folders:
            try:
                data = json.loads((d / "patient.json").read_text())
            except ValueError as exc:
                raise InputError(
                    f"{d / 'patient.json'}: not valid JSON ({exc})", code="TABLE_UNREADABLE"
                ) from None
            flat = _flatten_scalars(data) if isinstance(data, dict) else {}
            pid = flat.get("patient_id") or d.name
            row = {"patient_id": str(pid), "_source": str(d.name)}
            row.update({k: v for k, v in flat.items() if k in (*BIOMARKER_COLUMNS, "timepoint")})
            rows.append(row)
        df = pd.DataFrame(rows)
        df.attrs["source"] = p.name
        return df
    df = read_table(p)
    df.attrs["source"] = p.name
    return df


def _line(i: int) -> int:
    return int(i) + 2  # header is line 1


def _parse_number(raw: str) -> float | None:
    try:
        v = float(str(raw).strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _convert(
    spec: ColumnSpec, raw: object, table: str, row: int, problems: list[TableProblem]
) -> object:
    """Parse one cell according to its spec; append problems; return the value or NaN/None."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
        if spec.required:
            problems.append(TableProblem(table, row, spec.name, "", "required value is missing"))
        return None
    text = str(raw).strip()
    kind = spec.kind
    if kind in ("id", "text"):
        return text
    if kind == "sex":
        s = text.upper()[:1]
        if s not in ("M", "F"):
            problems.append(TableProblem(table, row, spec.name, text, "sex must be M or F"))
            return None
        return s
    if kind == "bool":
        low = text.lower()
        if low in _TRUE:
            return 1
        if low in _FALSE:
            return 0
        problems.append(TableProblem(table, row, spec.name, text, "expected 0/1 or yes/no"))
        return None
    if kind == "date":
        try:
            return pd.Timestamp(datetime.datetime.fromisoformat(text))
        except (ValueError, TypeError):
            problems.append(
                TableProblem(table, row, spec.name, text, "not a date; use ISO 8601 YYYY-MM-DD")
            )
            return None
    if kind == "stage":
        v = _ROMAN.get(text.lower().removeprefix("stage").strip().rstrip("abexs").strip())
        if v is None:
            v = _parse_number(text)
        if v is None or v not in (1, 2, 3, 4):
            problems.append(
                TableProblem(table, row, spec.name, text, "Ann Arbor stage must be 1-4 (or I-IV)")
            )
            return None
        return float(v)
    v = _parse_number(text)
    if v is None:
        problems.append(
            TableProblem(
                table, row, spec.name, text, f"not a number (expected {spec.unit or 'a number'})"
            )
        )
        return None
    if spec.unit_hint is not None:
        thr, above, msg = spec.unit_hint
        if (above and v > thr) or (not above and 0 < v < thr):
            problems.append(TableProblem(table, row, spec.name, text, f"unit mistake? {msg}"))
            return None
    if kind == "int" and v != int(v):
        problems.append(TableProblem(table, row, spec.name, text, "expected a whole number"))
        return None
    if (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high):
        unit = f" {spec.unit}" if spec.unit else ""
        problems.append(
            TableProblem(
                table,
                row,
                spec.name,
                text,
                f"impossible value: expected {spec.low:g}-{spec.high:g}{unit}",
            )
        )
        return None
    return v


def validate_clinical(
    raw: pd.DataFrame, *, table: str = "clinical"
) -> tuple[pd.DataFrame, list[TableProblem]]:
    """Parse and check the clinical table; return the typed table and every problem found.

    Parameters
    ----------
    raw : pandas.DataFrame
        As returned by :func:`read_table` (strings).
    table : str
        Name used in messages (the file name).

    Returns
    -------
    typed : pandas.DataFrame
        Parsed columns (numbers as float, dates as Timestamp, unknown columns kept as text),
        with ``_line`` (line number in the file).
    problems : list of TableProblem
        All problems (empty when the table is valid).

    Notes
    -----
    Rules: required column present; required value present; values parse; plausible range
    ("impossible value"); unit-mistake heuristics (LDH ratio or µkat/L vs U/L, CRP mg/L vs
    mg/dL, Hb g/L vs g/dL, ANC/platelets per µL vs 10^9/L, height in m); duplicate
    ``patient_id``; dates: progression, death or last follow-up before infusion, death before
    progression, progression after last follow-up; an event flag without a duration.

    References
    ----------
    docs/clinical-table.md (the schema).

    Examples
    --------
    >>> raw = pd.DataFrame({"patient_id": ["p1", "p1"], "age_years": ["61", "abc"]})
    >>> _, problems = validate_clinical(raw, table="c.csv")
    >>> [str(p) for p in problems]  # doctest: +NORMALIZE_WHITESPACE
    ["c.csv row 3, column 'age_years', value 'abc': not a number (expected years)",
     "c.csv row 3, column 'patient_id', value 'p1': duplicate patient id (also on row 2)"]
    """
    problems: list[TableProblem] = []
    for spec in CLINICAL_COLUMNS:
        if spec.required and spec.name not in raw.columns:
            problems.append(
                TableProblem(
                    table,
                    None,
                    spec.name,
                    None,
                    f"required column is missing (columns found: {list(raw.columns)})",
                )
            )
    if problems:
        return raw.copy(), problems
    out: dict[str, list] = {}
    for col in raw.columns:
        spec = _SPECS.get(col)
        if spec is None:
            out[col] = list(raw[col])
            continue
        out[col] = [_convert(spec, v, table, _line(i), problems) for i, v in enumerate(raw[col])]
    typed = pd.DataFrame(out, index=raw.index)
    for col in typed.columns:
        spec = _SPECS.get(col)
        if spec is not None and spec.kind in ("float", "int", "stage", "bool"):
            typed[col] = pd.to_numeric(typed[col], errors="coerce").astype(float)
    typed["_line"] = [_line(i) for i in range(len(typed))]
    # duplicate ids
    if "patient_id" in typed.columns:
        first: dict[str, int] = {}
        for line, pid in zip(typed["_line"], typed["patient_id"], strict=True):
            if pid is None:
                continue
            if pid in first:
                problems.append(
                    TableProblem(
                        table,
                        line,
                        "patient_id",
                        pid,
                        f"duplicate patient id (also on row {first[pid]})",
                    )
                )
            else:
                first[pid] = line
    # dates
    cols = typed.columns
    for r in typed.to_dict("records"):  # much faster than iterrows; same .get access
        line = int(r["_line"])
        inf = r.get("infusion_date") if "infusion_date" in cols else None
        prog = r.get("progression_date") if "progression_date" in cols else None
        death = r.get("death_date") if "death_date" in cols else None
        last = r.get("last_followup_date") if "last_followup_date" in cols else None
        if _is_date(inf):
            for name, d in (
                ("progression_date", prog),
                ("death_date", death),
                ("last_followup_date", last),
            ):
                if _is_date(d) and d < inf:
                    problems.append(
                        TableProblem(
                            table,
                            line,
                            name,
                            d.date().isoformat(),
                            f"date is before the infusion date {inf.date().isoformat()}",
                        )
                    )
        if _is_date(prog) and _is_date(death) and death < prog:
            problems.append(
                TableProblem(
                    table,
                    line,
                    "death_date",
                    death.date().isoformat(),
                    f"death is before progression ({prog.date().isoformat()})",
                )
            )
        if _is_date(prog) and _is_date(last) and last < prog:
            problems.append(
                TableProblem(
                    table,
                    line,
                    "last_followup_date",
                    last.date().isoformat(),
                    f"last follow-up is before progression ({prog.date().isoformat()}); "
                    "last follow-up must be the latest assessment",
                )
            )
        for ep in ("pfs", "os"):
            ev, dur = f"{ep}_event", f"{ep}_months"
            if ev in cols and dur in cols and _present(r.get(ev)) and not _present(r.get(dur)):
                problems.append(
                    TableProblem(table, line, dur, "", f"{ev} is given but {dur} is missing")
                )
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    return typed, problems


def _is_date(v: object) -> bool:
    return isinstance(v, pd.Timestamp) and not pd.isna(v)


def _present(v: object) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and not pd.isna(v)


def _endpoint(typed: pd.DataFrame, endpoint: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Durations (months), events and a reason for patients without a usable endpoint."""
    n = len(typed)
    time = pd.Series(np.nan, index=typed.index)
    event = pd.Series(np.nan, index=typed.index)
    reason = pd.Series([None] * n, index=typed.index, dtype=object)
    dur, ev = f"{endpoint}_months", f"{endpoint}_event"
    cols = typed.columns
    for idx, r in zip(typed.index, typed.to_dict("records"), strict=True):
        if dur in cols and _present(r.get(dur)):
            time[idx] = float(r[dur])
            if ev in cols and _present(r.get(ev)):
                event[idx] = float(r[ev])
            else:
                reason[idx] = f"{ev} missing"
            continue
        inf = r.get("infusion_date") if "infusion_date" in cols else None
        if not _is_date(inf):
            reason[idx] = f"no {dur} and no infusion_date"
            continue
        death = r.get("death_date") if "death_date" in cols else None
        prog = r.get("progression_date") if "progression_date" in cols else None
        last = r.get("last_followup_date") if "last_followup_date" in cols else None
        candidates = [d for d in ((prog, death) if endpoint == "pfs" else (death,)) if _is_date(d)]
        if candidates:
            end, e = min(candidates), 1.0
        elif _is_date(last):
            end, e = last, 0.0
        else:
            reason[idx] = f"no {endpoint.upper()} event date and no last_followup_date"
            continue
        time[idx] = (end - inf).days / DAYS_PER_MONTH
        event[idx] = e
    return time, event, reason


@dataclasses.dataclass
class CohortTables:
    """Validated, merged cohort ready for analysis.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per analysed patient: clinical columns, biomarker columns, ``time_months``
        and ``event`` for the chosen endpoint.
    excluded : pandas.DataFrame
        ``patient_id``, ``table``, ``reason`` for every patient left out.
    endpoint : str
    n_clinical, n_biomarkers : int
        Rows in each input table.
    """

    data: pd.DataFrame
    excluded: pd.DataFrame
    endpoint: str
    n_clinical: int
    n_biomarkers: int


def _validate_biomarkers(bio: pd.DataFrame, table: str) -> tuple[pd.DataFrame, list[TableProblem]]:
    problems: list[TableProblem] = []
    if "patient_id" not in bio.columns:
        problems.append(
            TableProblem(
                table,
                None,
                "patient_id",
                None,
                f"required column is missing (columns found: {list(bio.columns)})",
            )
        )
        return bio, problems
    out = bio.copy()
    out["patient_id"] = [
        None if not _present(v) or str(v).strip() == "" else str(v).strip()
        for v in out["patient_id"]
    ]
    first: dict[str, int] = {}
    for i, pid in enumerate(out["patient_id"]):
        line = _line(i)
        if pid is None:
            problems.append(
                TableProblem(table, line, "patient_id", "", "required value is missing")
            )
        elif pid in first:
            problems.append(
                TableProblem(
                    table,
                    line,
                    "patient_id",
                    pid,
                    f"duplicate patient id (also on row {first[pid]}); keep one baseline row per patient "
                    "(carpet cohort --biomarker-timepoint selects one timepoint)",
                )
            )
        else:
            first[pid] = line
    for col in BIOMARKER_COLUMNS:
        if col not in out.columns:
            continue
        vals = []
        for i, raw in enumerate(out[col]):
            if not _present(raw) or str(raw).strip() == "":
                vals.append(np.nan)
                continue
            v = _parse_number(str(raw))
            if v is None:
                problems.append(TableProblem(table, _line(i), col, str(raw), "not a number"))
                vals.append(np.nan)
            elif v < 0:
                problems.append(
                    TableProblem(table, _line(i), col, str(raw), "impossible value: must be >= 0")
                )
                vals.append(np.nan)
            else:
                vals.append(v)
        out[col] = np.asarray(vals, dtype=float)
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    return out, problems


def prepare_cohort(
    clinical: pd.DataFrame,
    biomarkers: pd.DataFrame,
    *,
    endpoint: str = "pfs",
    clinical_name: str = "clinical",
    biomarkers_name: str = "biomarkers",
) -> CohortTables:
    """Validate both tables, merge them on ``patient_id`` and derive the endpoint.

    Parameters
    ----------
    clinical, biomarkers : pandas.DataFrame
        Raw tables (:func:`read_table`, :func:`read_biomarkers`), or already typed frames.
    endpoint : {"pfs", "os"}
    clinical_name, biomarkers_name : str
        Names used in messages (file names).

    Returns
    -------
    CohortTables

    Raises
    ------
    TableValidationError
        With every fatal problem of both tables (``problems`` lists :class:`TableProblem`).

    Notes
    -----
    PFS: infusion to progression or death (earliest), censored at last follow-up; OS:
    infusion to death, censored at last follow-up. Months = days / 30.4375. Patients whose
    id is in one table only, or without usable follow-up, are excluded and listed.

    Examples
    --------
    >>> c = pd.DataFrame({"patient_id": ["a", "b"], "pfs_months": ["3", "5"], "pfs_event": ["1", "0"]})
    >>> b = pd.DataFrame({"patient_id": ["a", "c"], "tmtv_ml": ["10", "20"]})
    >>> res = prepare_cohort(c, b)
    >>> res.data["patient_id"].tolist(), res.excluded["reason"].tolist()
    (['a'], ['in the clinical table only', 'in the biomarker table only'])
    """
    if endpoint not in ("pfs", "os"):
        raise InputError(f"endpoint must be 'pfs' or 'os'; got {endpoint!r}", code="SURVIVAL_INPUT")
    clin_str = clinical.astype(object).where(clinical.notna(), None)
    typed, problems = validate_clinical(clin_str, table=clinical_name)
    bio, bio_problems = _validate_biomarkers(biomarkers, biomarkers_name)
    problems += bio_problems
    if problems:
        lines = "\n  ".join(str(p) for p in problems)
        raise TableValidationError(
            f"{len(problems)} problem(s) in the input tables; fix them all and rerun:\n  {lines}",
            problems=problems,
        )
    excluded = []
    clin_ids, bio_ids = set(typed["patient_id"]), set(bio["patient_id"])
    for pid in sorted(clin_ids - bio_ids):
        excluded.append(
            {"patient_id": pid, "table": clinical_name, "reason": "in the clinical table only"}
        )
    for pid in sorted(bio_ids - clin_ids):
        excluded.append(
            {"patient_id": pid, "table": biomarkers_name, "reason": "in the biomarker table only"}
        )
    time, event, reason = _endpoint(typed, endpoint)
    typed = typed.assign(time_months=time, event=event)
    for pid, why in zip(typed["patient_id"], reason, strict=True):
        if why is not None and pid in bio_ids:
            excluded.append(
                {
                    "patient_id": pid,
                    "table": clinical_name,
                    "reason": f"no usable {endpoint.upper()}: {why}",
                }
            )
    usable = typed[reason.isna().to_numpy()]
    if "timepoint" in bio.columns:  # the PET timepoint; the clinical one stays `timepoint`
        bio = bio.rename(columns={"timepoint": "pet_timepoint"})
    bio_cols = [c for c in bio.columns if c not in typed.columns or c == "patient_id"]
    merged = usable.merge(bio[bio_cols], on="patient_id", how="inner", validate="one_to_one")
    excl = pd.DataFrame(excluded, columns=["patient_id", "table", "reason"])
    return CohortTables(
        merged.reset_index(drop=True), excl, endpoint, len(clinical), len(biomarkers)
    )
