"""Timepoints of one CAR T patient: roles, dates, days from infusion, and the refusals.

A timepoint is one PET study (with its CT when present) plus its role:

``TD``  time of decision (at or before apheresis);
``TT``  pre-infusion, after bridging, before lymphodepletion;
``M1``  about day 28-30 after infusion;
``M3``  about day 90;
``other`` anything else.

Roles default from the dates relative to the infusion when ``infusion_date`` is given
(last study before infusion = TT, an earlier one = TD; day 14-59 = M1, day 60-135 =
M3), otherwise from the order (TD, TT, M1, M3, then other). The user can set them.

Studies are refused (:class:`~carpet.errors.InputError`) when they belong to different
patients (PatientID; or, when anonymised, a mismatch of both sex and birth date),
when a follow-up is dated before its baseline, or when the tracers differ.

References
----------
Cohen D et al. (Tel Aviv) and the AJR 2024 review for the TD/TT/M1/M3 timepoints
(methods.md §5).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from carpet.errors import ConfigError, InputError

__all__ = [
    "ROLES",
    "StudyIdentity",
    "Timepoint",
    "assign_roles",
    "check_chronology",
    "check_same_patient",
    "check_same_tracer",
    "normalize_tracer",
    "parse_date",
]

#: Allowed timepoint roles.
ROLES = ("TD", "TT", "M1", "M3", "other")

#: Day windows (from infusion, inclusive) of the post-infusion roles.
ROLE_WINDOWS_DAYS = {"M1": (14, 59), "M3": (60, 135)}


@dataclass(frozen=True)
class StudyIdentity:
    """Who/what/when of one study, as far as the headers tell (no names).

    Attributes
    ----------
    label : str
        How to name the study in messages (its folder).
    patient_id : str or None
        PatientID (0010,0020); compared only, never written to outputs.
    birth_date : date or None
        PatientBirthDate (0010,0030).
    sex : str or None
        PatientSex (0010,0040): ``M``, ``F`` or ``O``.
    tracer : str or None
        Radiopharmaceutical (0018,0031), else the radionuclide, normalised by
        :func:`normalize_tracer`.
    study_date : date or None
        StudyDate (0008,0020) (or SeriesDate).
    """

    label: str
    patient_id: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    tracer: str | None = None
    study_date: date | None = None


@dataclass(frozen=True)
class Timepoint:
    """One study's place in the timeline.

    Attributes
    ----------
    index : int
        Position as given (0 = baseline).
    role : str
        One of :data:`ROLES`.
    study_date : date or None
    day_from_infusion : int or None
        ``study_date - infusion_date`` in days (negative before infusion).
    label : str
    """

    index: int
    role: str
    study_date: date | None
    day_from_infusion: int | None
    label: str

    def to_dict(self) -> dict:
        """JSON-able dict."""
        return {
            "index": self.index,
            "role": self.role,
            "study_date": self.study_date.isoformat() if self.study_date else None,
            "day_from_infusion": self.day_from_infusion,
        }


def parse_date(text: str | date | None, *, option: str = "--infusion-date") -> date | None:
    """Parse ``YYYY-MM-DD`` (or DICOM ``YYYYMMDD``); None stays None.

    Raises
    ------
    ConfigError
        ``BAD_DATE`` for anything else.

    Examples
    --------
    >>> parse_date("2024-03-05")
    datetime.date(2024, 3, 5)
    >>> parse_date("05/03/2024")
    Traceback (most recent call last):
    ...
    carpet.errors.ConfigError: --infusion-date: expected a date YYYY-MM-DD; got '05/03/2024'
    """
    if text is None or isinstance(text, date):
        return text
    s = str(text).strip()
    m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise ConfigError(f"{option}: expected a date YYYY-MM-DD; got {text!r}", code="BAD_DATE")


def normalize_tracer(
    radiopharmaceutical: str | None, radionuclide: str | None = None
) -> str | None:
    """A comparable tracer name: ``FDG`` for any spelling of fluorodeoxyglucose.

    Examples
    --------
    >>> normalize_tracer("Fludeoxyglucose F^18^"), normalize_tracer("18F-FDG"), normalize_tracer(None, "^68^Gallium")
    ('FDG', 'FDG', 'GA68')
    """
    for text in (radiopharmaceutical, radionuclide):
        if not text or not str(text).strip():
            continue
        t = re.sub(r"[^A-Z0-9]", "", str(text).upper())
        if "FDG" in t or "FLUDEOXYGLUCOSE" in t or "FLUORODEOXYGLUCOSE" in t:
            return "FDG"
        if "GA68" in t or "68GA" in t or "GALLIUM" in t:
            return "GA68"
        if "PSMA" in t:
            return "PSMA"
        if t in ("F18", "18F", "FLUORINE18", "18FLUORINE") or "FLUORINE" in t:
            # the radionuclide alone: assume FDG only when nothing better is known
            return "F18"
        return t
    return None


def check_same_patient(
    studies: Sequence[StudyIdentity], *, allow_different_patients: bool = False
) -> list[str]:
    """Refuse studies of different patients; return notes on what was compared.

    Raises
    ------
    InputError
        ``DIFFERENT_PATIENTS`` when two PatientIDs differ, or when (anonymised) both
        sex and birth date differ, unless ``allow_different_patients``.
    """
    notes: list[str] = []
    base = studies[0]
    for other in studies[1:]:
        problem = None
        if base.patient_id and other.patient_id:
            if base.patient_id.strip() != other.patient_id.strip():
                problem = f"{base.label} and {other.label} have different PatientID"
        else:
            sex_differs = bool(base.sex and other.sex and base.sex != other.sex)
            dob_differs = bool(
                base.birth_date and other.birth_date and base.birth_date != other.birth_date
            )
            if sex_differs and dob_differs:
                problem = (
                    f"{base.label} and {other.label} have no PatientID to compare, and their sex "
                    f"({base.sex} vs {other.sex}) and birth date "
                    f"({base.birth_date.isoformat()} vs {other.birth_date.isoformat()}) differ"  # type: ignore[union-attr]
                )
            else:
                notes.append(
                    f"{other.label}: no PatientID to compare with {base.label}; sex and birth date "
                    "do not contradict"
                )
        if problem:
            if allow_different_patients:
                notes.append(f"{problem} (allowed by --allow-different-patients)")
                continue
            raise InputError(
                f"studies of different patients: {problem}. Pass --allow-different-patients if "
                "this is intended.",
                code="DIFFERENT_PATIENTS",
            )
    return notes


def check_chronology(studies: Sequence[StudyIdentity]) -> None:
    """Refuse a follow-up dated before the baseline (the first study).

    Raises
    ------
    InputError
        ``FOLLOWUP_BEFORE_BASELINE``.
    """
    base = studies[0]
    for other in studies[1:]:
        if base.study_date and other.study_date and other.study_date < base.study_date:
            raise InputError(
                f"follow-up {other.label} is dated {other.study_date.isoformat()}, before its "
                f"baseline {base.label} ({base.study_date.isoformat()}); give the baseline first "
                "and the studies in chronological order.",
                code="FOLLOWUP_BEFORE_BASELINE",
            )


def check_same_tracer(studies: Sequence[StudyIdentity]) -> None:
    """Refuse studies made with different tracers (when both are known).

    Raises
    ------
    InputError
        ``DIFFERENT_TRACERS``.
    """
    base = studies[0]
    for other in studies[1:]:
        a, b = base.tracer, other.tracer
        if a and b and a != b and {a, b} != {"FDG", "F18"}:
            raise InputError(
                f"different tracers: {base.label} is {a}, {other.label} is {b}; response "
                "assessment compares studies made with the same tracer.",
                code="DIFFERENT_TRACERS",
            )


def assign_roles(
    study_dates: Sequence[date | None],
    *,
    infusion_date: date | None = None,
    roles: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
) -> list[Timepoint]:
    """Give each study its role and its day from infusion.

    Parameters
    ----------
    study_dates : sequence of date or None
        In the order given (the first is the baseline).
    infusion_date : date or None
        CAR T infusion date.
    roles : sequence of str or None
        Roles set by the user (one per study, from :data:`ROLES`).
    labels : sequence of str or None
        Names for messages.

    Returns
    -------
    list of Timepoint

    Raises
    ------
    ConfigError
        ``BAD_ROLES`` when ``roles`` has the wrong length or an unknown role.

    Examples
    --------
    >>> from datetime import date
    >>> tps = assign_roles([date(2024, 1, 2), date(2024, 1, 20), date(2024, 2, 26), date(2024, 4, 25)],
    ...                    infusion_date=date(2024, 1, 27))
    >>> [(t.role, t.day_from_infusion) for t in tps]
    [('TD', -25), ('TT', -7), ('M1', 30), ('M3', 89)]
    """
    n = len(study_dates)
    labels = list(labels) if labels is not None else [f"study {i + 1}" for i in range(n)]
    days = [
        (d - infusion_date).days if (d is not None and infusion_date is not None) else None
        for d in study_dates
    ]
    if roles is not None:
        roles = [str(r).strip() for r in roles]
        bad = [r for r in roles if r not in ROLES]
        if len(roles) != n or bad:
            raise ConfigError(
                f"--roles: expected {n} roles from {list(ROLES)}, one per study; got {roles}",
                code="BAD_ROLES",
            )
        out_roles = roles
    elif infusion_date is not None and all(d is not None for d in days):
        out_roles = ["other"] * n
        pre = [i for i in range(n) if days[i] is not None and days[i] <= 0]  # type: ignore[operator]
        if pre:
            out_roles[pre[-1]] = "TT"
            if len(pre) > 1:
                out_roles[pre[0]] = "TD"
        for role, (lo, hi) in ROLE_WINDOWS_DAYS.items():
            for i in range(n):
                if out_roles[i] == "other" and days[i] is not None and lo <= days[i] <= hi:  # type: ignore[operator]
                    out_roles[i] = role
                    break
    else:
        order = ["TD", "TT", "M1", "M3"]
        out_roles = [order[i] if i < len(order) else "other" for i in range(n)]
    return [
        Timepoint(
            index=i,
            role=out_roles[i],
            study_date=study_dates[i],
            day_from_infusion=days[i],
            label=labels[i],
        )
        for i in range(n)
    ]
