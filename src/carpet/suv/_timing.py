"""Reference time, injection time and decay interval of the SUV computation (private).

See the :mod:`carpet.suv` package docstring for the rules.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from carpet.core.acquisition import InstanceRecord, PetAcquisition
from carpet.suv._context import TAG as _TAG
from carpet.suv._context import Ctx as _Ctx
from carpet.suv.decay import frame_average_time_s
from carpet.suv.overrides import SuvOverrides

#: A decay interval over this many half-lives is implausible (e.g. the 23-day
#: interval of a de-identification date shift).
MAX_DECAY_HALF_LIVES = 10.0
#: Nuclides with a half-life above this need RadiopharmaceuticalStartDateTime: with a
#: time of day only, an uptake of more than 24 h cannot be told apart from a shorter one.
DATETIME_REQUIRED_HALF_LIFE_S = 10 * 3600.0


def _instance_datetime(acq: PetAcquisition, rec: InstanceRecord) -> datetime | None:
    if rec.acquisition_datetime is not None:
        return rec.acquisition_datetime
    base = acq.series_date or acq.study_date
    if rec.acquisition_time_only is not None and base is not None:
        return datetime.combine(base, rec.acquisition_time_only)
    return None


#: Usable frame timing: ActualFrameDuration within [0, 24 h] and |FrameReferenceTime| within
#: 7 days (ms); anything else is ignored for the back-computation (or refused for NONE).
MAX_FRAME_DURATION_MS = 24 * 3600 * 1000.0
MAX_FRAME_REFERENCE_MS = 7 * 24 * 3600 * 1000.0


def _usable_duration(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and 0.0 <= value <= MAX_FRAME_DURATION_MS


def _usable_reference(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and abs(value) <= MAX_FRAME_REFERENCE_MS


def _frame_back_computed(acq: PetAcquisition, half_life_s: float | None) -> list[datetime]:
    """Reference times back-computed from each instance: t_acq + T_ave − FrameReferenceTime.

    Ordered so that the first is the one to use: earliest acquisition time first and,
    among equal acquisition times (GE stores the series start on every bed), the
    smallest FrameReferenceTime (the first bed).
    """
    if half_life_s is None:
        return []
    found = []
    for rec in acq.instances:
        t = _instance_datetime(acq, rec)
        if t is None or not _usable_duration(rec.frame_duration_ms):
            continue
        if not _usable_reference(rec.frame_reference_time_ms):
            continue
        t_ave = frame_average_time_s(rec.frame_duration_ms / 1000.0, half_life_s)
        ref = t + timedelta(seconds=t_ave - rec.frame_reference_time_ms / 1000.0)
        found.append((t, rec.frame_reference_time_ms, ref))
    found.sort(key=lambda x: (x[0], x[1]))
    return [x[2] for x in found]


def _reference_time(ctx: _Ctx, half_life_s: float, tol_s: float) -> tuple[datetime, str]:
    acq = ctx.acq
    times = [t for t in (_instance_datetime(acq, r) for r in acq.instances) if t is not None]
    earliest = min(times) if times else None
    series = acq.series_datetime
    # GE convention: every bed carries the scan start as AcquisitionTime and its own
    # FrameReferenceTime (offset of the bed start). The acquisition time is then not
    # per frame, so the frame back-computation does not apply, but the (single)
    # acquisition time is the scan start the images are decay-corrected to.
    frts = {
        r.frame_reference_time_ms for r in acq.instances if r.frame_reference_time_ms is not None
    }
    one_acquisition_time = len(set(times)) == 1 and len(frts) > 1
    frames = [] if one_acquisition_time else _frame_back_computed(acq, half_life_s)
    frame_ref = frames[0] if frames else None
    if frames and (max(frames) - min(frames)).total_seconds() > tol_s:
        ctx.warnings.append(
            "frame back-computed reference times differ by "
            f"{(max(frames) - min(frames)).total_seconds():.0f} s "
            "between instances (several beds with one AcquisitionTime, multi-injection or edited "
            "FrameReferenceTime?); the first bed's is used"
        )

    chosen: tuple[datetime, str] | None = None
    if acq.decay_correction_datetime is not None:
        chosen = (acq.decay_correction_datetime, "decay_correction_datetime")
    elif series is not None and (earliest is None or series <= earliest):
        chosen = (series, "series_datetime")
    else:
        if series is not None and earliest is not None:
            ctx.warnings.append(
                f"SeriesDate/SeriesTime {series.isoformat()} is after the earliest "
                "AcquisitionDate/Time "
                f"{earliest.isoformat()} (post-processed series?): not used as reference time"
            )
        ge = acq.ge_private_scan_datetime
        if ge is not None:
            public_dates = {
                d for d in (acq.series_date, earliest.date() if earliest else None) if d is not None
            }
            if ge.date() in public_dates:
                chosen = (ge, "ge_private_scan_datetime")
            else:
                ctx.warnings.append(
                    f"GE private scan datetime (0009,xx0D) {ge.isoformat()} is on a different "
                    "date than the public "
                    f"tags {sorted(d.isoformat() for d in public_dates)} (de-identification date "
                    "shift?): not used"
                )
        if chosen is None and frame_ref is not None:
            chosen = (frame_ref, "frame_back_computed")
        if chosen is None and one_acquisition_time and earliest is not None:
            ctx.warnings.append(
                f"one AcquisitionDate/Time on all {len(acq.instances)} instances with different "
                "FrameReferenceTime "
                "(GE multi-bed convention): it is the scan start and is used as reference time"
            )
            chosen = (earliest, "earliest_acquisition_datetime")
        if chosen is None and earliest is not None:
            missing = [
                tag
                for tag, ok, attr in (
                    ("ActualFrameDuration (0018,1242)", _usable_duration, "frame_duration_ms"),
                    (
                        "FrameReferenceTime (0054,1300)",
                        _usable_reference,
                        "frame_reference_time_ms",
                    ),
                )
                if any(not ok(getattr(r, attr)) for r in acq.instances)
            ]
            if series is not None:
                # Post-processed series: the earliest AcquisitionTime of what is left is not reliably the
                # decay reference (cropped/multi-bed series; IBSI DRO_3_2), so refuse (IBSI error case).
                raise ctx.refuse(
                    "MISSING_FRAME_DURATION",
                    f"SeriesDate/SeriesTime {series.isoformat()} is after the earliest acquisition "
                    f"{earliest.isoformat()}, there is no usable GE private scan datetime, and "
                    "the frame "
                    f"back-computation lacks {' and '.join(missing) or 'valid frame timing'}",
                    "The decay reference time is unknown; fix the header (or give the series as "
                    "acquired).",
                )
            ctx.warnings.append(
                "reference time = earliest AcquisitionDate/Time (QIBA option 3; "
                "SeriesDate/SeriesTime absent; "
                "frame back-computation impossible: "
                f"{' and '.join(missing) or 'invalid frame timing'} missing)"
            )
            chosen = (earliest, "earliest_acquisition_datetime")
    if chosen is None:
        raise ctx.refuse(
            "MISSING_REFERENCE_TIME",
            "no reference time: SeriesDate/SeriesTime (0008,0021/0031), AcquisitionDate/Time "
            "(0008,0022/0032) "
            "and FrameReferenceTime (0054,1300) are absent or invalid",
            "The series cannot be decay-corrected; fix the header.",
        )
    if (
        chosen[1] in ("series_datetime", "ge_private_scan_datetime", "decay_correction_datetime")
        and frame_ref
    ):
        diff = abs((chosen[0] - frame_ref).total_seconds())
        if diff > tol_s:
            ctx.warnings.append(
                f"reference time from {chosen[1]} ({chosen[0].isoformat()}) and the frame "
                "back-computed one "
                f"({frame_ref.isoformat()}) disagree by {diff:.0f} s (> {tol_s:g} s)"
            )
    return chosen


def _injection_time(
    ctx: _Ctx, ov: SuvOverrides | None, applied: list[str], t_ref: datetime, half_life_s: float
) -> tuple[datetime, str, bool]:
    acq = ctx.acq
    if ov is not None and ov.injection_datetime is not None:
        applied.append("injection_datetime")
        return ov.injection_datetime, "override", False
    if acq.radiopharmaceutical_start_datetime is not None:
        dt = acq.radiopharmaceutical_start_datetime
        st = acq.radiopharmaceutical_start_time
        if st is not None:
            a = dt.hour * 3600 + dt.minute * 60 + dt.second
            b = st.hour * 3600 + st.minute * 60 + st.second
            if abs(a - b) > 1:
                ctx.warnings.append(
                    f"{_TAG['StartDateTime']} {dt.isoformat()} and {_TAG['StartTime']} "
                    f"{st.isoformat()} disagree; the DateTime is used"
                )
        gap_s = (t_ref - dt).total_seconds()
        if (
            (gap_s < 0 or gap_s > 86400.0)
            and dt.date() != t_ref.date()
            and half_life_s <= DATETIME_REQUIRED_HALF_LIFE_S
        ):
            # The DateTime's date disagrees with the series by more than a day (de-identification
            # shifts DT and DA attributes differently): keep its time of day, as for a time-only
            # injection (QIBA/IBSI StartTime + SeriesDate), and say so.
            tod = st if st is not None else dt.time()
            adm = datetime.combine(t_ref.date(), tod)
            adjusted = adm > t_ref
            if adjusted:
                adm -= timedelta(days=1)
            ctx.warnings.append(
                f"{_TAG['StartDateTime']} {dt.isoformat()} is {gap_s / 86400.0:+.1f} days from "
                "the reference "
                f"time {t_ref.isoformat()} (date shifted by de-identification?): its time of day "
                "is used "
                f"on the reference date ({adm.isoformat()})"
            )
            return (
                adm,
                "RadiopharmaceuticalStartDateTime (0018,1078) time of day + date of the "
                "reference time "
                "(its own date inconsistent)",
                adjusted,
            )
        return dt, "RadiopharmaceuticalStartDateTime (0018,1078)", False
    st = acq.radiopharmaceutical_start_time
    remedy = (
        "Give it with --injection-datetime or the injection_datetime column of an overrides CSV."
    )
    if st is None:
        raise ctx.refuse(
            "MISSING_INJECTION_TIME",
            f"{_TAG['StartDateTime']} and {_TAG['StartTime']} are both absent or invalid",
            remedy,
        )
    if half_life_s > DATETIME_REQUIRED_HALF_LIFE_S:
        raise ctx.refuse(
            "INJECTION_DATETIME_REQUIRED",
            f"only {_TAG['StartTime']} ({st.isoformat()}) is given, without a date, for a nuclide "
            "with half-life "
            f"{half_life_s:g} s (> {DATETIME_REQUIRED_HALF_LIFE_S:g} s) whose uptake may exceed "
            "24 h",
            remedy,
        )
    adm = datetime.combine(t_ref.date(), st)
    adjusted = False
    if adm > t_ref:
        adm -= timedelta(days=1)
        adjusted = True
        ctx.warnings.append(
            f"injection time {st.isoformat()} is after the reference time "
            f"{t_ref.time().isoformat()}: "
            "injection taken on the previous day (midnight crossing)"
        )
    return adm, "RadiopharmaceuticalStartTime (0018,1072) + date of the reference time", adjusted


def _check_interval(
    ctx: _Ctx,
    interval_s: float,
    half_life_s: float,
    t_ref: datetime,
    t_adm: datetime,
    ref_source: str,
) -> None:
    if interval_s < 0:
        raise ctx.refuse(
            "NEGATIVE_DECAY_TIME",
            f"injection {t_adm.isoformat()} is after the reference time {t_ref.isoformat()} "
            f"({ref_source}) by "
            f"{-interval_s:.0f} s",
            "Check RadiopharmaceuticalStartDateTime and the series times, or give "
            "--injection-datetime.",
        )
    if interval_s > MAX_DECAY_HALF_LIVES * half_life_s:
        raise ctx.refuse(
            "IMPLAUSIBLE_VALUE",
            f"decay interval {interval_s / 3600.0:.1f} h from injection {t_adm.isoformat()} to "
            "reference "
            f"{t_ref.isoformat()} ({ref_source}) exceeds {MAX_DECAY_HALF_LIVES:g} half-lives "
            f"({half_life_s:g} s); "
            "dates from different sources (de-identification date shift?)",
            "Check the header dates, or give --injection-datetime.",
        )
