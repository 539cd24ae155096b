"""SUV factors from a :class:`~carpet.core.acquisition.PetAcquisition` (pure, no I/O).

See the :mod:`carpet.suv` package docstring for the decision rules and the table
of refusal codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from carpet.config import SuvConfig
from carpet.core.acquisition import InstanceRecord, PetAcquisition
from carpet.errors import ConfigError, SuvError
from carpet.suv.decay import (
    decay_factor,
    frame_average_time_s,
    frame_decay_correction,
    half_life_from_code,
)
from carpet.suv.normalization import (
    BSA_FORMULAS,
    LBM_FORMULAS,
    body_surface_area_m2,
    bsa_formula_text,
    ideal_body_weight_kg,
    lbm_formula_text,
    lean_body_mass_kg,
)
from carpet.suv.overrides import SuvOverrides
from carpet.units import mbq_to_bq

__all__ = ["SuvFactors", "compute_suv_factors", "NORMALIZATIONS", "SUPPORTED_UNITS"]

#: Units (0054,1001) carpet converts; anything else is refused (UNSUPPORTED_UNITS).
SUPPORTED_UNITS = ("BQML", "CNTS", "GML", "CM2ML")
#: ``apply_suv`` normalisations and the Unit each produces.
NORMALIZATIONS = ("bw", "lbm", "bsa", "ibw")

#: Stored RadionuclideTotalDose below this is taken as MBq (IBSI-SUV: FDG doses peak at
#: ~4e2 (MBq) and ~4e8 (Bq)).
DOSE_MBQ_BELOW = 1e4
#: Plausible injected activity after the unit decision, Bq.
DOSE_BQ_RANGE = (1e5, 1e11)
#: Stored PatientWeight above this is taken as grams.
WEIGHT_GRAMS_ABOVE = 1000.0
#: Plausible weight, kg.
WEIGHT_KG_RANGE = (0.5, 400.0)
#: Plausible height, m; a stored PatientSize in (100, 260) is taken as cm.
HEIGHT_M_RANGE = (0.3, 2.6)
HEIGHT_CM_RANGE = (100.0, 260.0)
#: Plausible half-life, s (O-15 is 122 s; I-124 4.2 d).
HALF_LIFE_S_RANGE = (60.0, 1e7)
#: A decay interval over this many half-lives is implausible (e.g. the 23-day
#: interval of a de-identification date shift).
MAX_DECAY_HALF_LIVES = 10.0
#: Nuclides with a half-life above this need RadiopharmaceuticalStartDateTime: with a
#: time of day only, an uptake of more than 24 h cannot be told apart from a shorter one.
DATETIME_REQUIRED_HALF_LIFE_S = 10 * 3600.0

#: Why common unsupported Units cannot be converted (IBSI-SUV manual, "Other units").
_UNITS_WHY = {
    "PROPCNTS": "proportional to counts, no calibration to activity; typical of non-attenuation-corrected series",
    "PROPCPS": "proportional to counts per second, no calibration; Siemens non-quantitative/NAC images",
    "CPS": "counts per second need the DoseCalibrationFactor (0054,1322) and voxel volume; not supported",
    "1CM": "a linear attenuation coefficient map (mu-map), not activity",
    "NONE": "no unit",
}
_LBM_SUVTYPES = {"LBM": "james120", "LBMJAMES128": "james128", "LBMJANMA": "janma"}
_TAG = {
    "Units": "Units (0054,1001)",
    "SUVType": "SUVType (0054,1006)",
    "DecayCorrection": "DecayCorrection (0054,1102)",
    "CorrectedImage": "CorrectedImage (0028,0051)",
    "PatientWeight": "PatientWeight (0010,1030)",
    "PatientSize": "PatientSize (0010,1020)",
    "PatientSex": "PatientSex (0010,0040)",
    "Dose": "RadionuclideTotalDose (0018,1074)",
    "HalfLife": "RadionuclideHalfLife (0018,1075)",
    "StartDateTime": "RadiopharmaceuticalStartDateTime (0018,1078)",
    "StartTime": "RadiopharmaceuticalStartTime (0018,1072)",
    "FrameDuration": "ActualFrameDuration (0018,1242)",
    "Intercept": "RescaleIntercept (0028,1052)",
}


@dataclass(frozen=True)
class SuvFactors:
    """SUV factors of one PET series and how they were obtained (provenance).

    Each ``*_factor`` multiplies the **rescaled stored values** (``P·RescaleSlope``,
    in the series' own Units) to give SUV of that normalisation.

    Attributes
    ----------
    bw_factor : float
        SUVbw factor (g/mL per stored unit). With DecayCorrection NONE (or
        per-instance Philips factors) the factors differ between instances: then
        ``slice_bw_factors`` holds them all and ``bw_factor`` is the factor of the
        **earliest-acquired instance** (first in ``PetAcquisition.instances``).
    lbm_factor, bsa_factor, ibw_factor : float or None
        SUL (with ``lbm_formula``), SUVbsa (cm²/mL, ``bsa_formula``) and SUVibw
        factors; ``None`` when not computable, with the reason in ``warnings``.
    slice_bw_factors : dict of str to float, or None
        Per SOPInstanceUID SUVbw factors when they differ between instances.
    units : str
        Units (0054,1001) of the series the factors apply to.
    method : str
        Units branch used (e.g. ``"BQML"``, ``"CNTS: Philips SUV scale factor (7053,1000)"``).
    reference_time_source : str
        ``series_datetime``, ``decay_correction_datetime``, ``ge_private_scan_datetime``,
        ``frame_back_computed``, ``earliest_acquisition_datetime``,
        ``admin (DecayCorrection ADMIN)``, ``per_frame (DecayCorrection NONE)`` or
        ``not_needed (<Units>)``.
    injection_time_source : str or None
        Which attribute (or ``override``) gave the injection time.
    midnight_adjusted : bool
        The time-only injection time was moved one day back (injection before midnight).
    decay_interval_s : float or None
        ``t_ref − t_adm`` in s (for NONE: of the earliest instance).
    dose_bq_used, dose_at_reference_bq : float or None
        Injected activity (after the MBq/Bq decision) and decay-corrected to t_ref.
    weight_kg_used, height_m_used, sex_used : as used
    half_life_s_used : float or None
    lbm_kg, bsa_m2, ibw_kg : float or None
    formulas : dict of str to str
    overrides_applied : tuple of str
    warnings : tuple of str
    """

    bw_factor: float
    lbm_factor: float | None
    bsa_factor: float | None
    ibw_factor: float | None
    slice_bw_factors: dict[str, float] | None
    units: str
    method: str
    reference_time_source: str
    reference_datetime: datetime | None
    injection_time_source: str | None
    injection_datetime: datetime | None
    midnight_adjusted: bool
    decay_interval_s: float | None
    decay_correction: str | None
    half_life_s_used: float | None
    half_life_source: str | None
    dose_bq_used: float | None
    dose_at_reference_bq: float | None
    weight_kg_used: float
    height_m_used: float | None
    sex_used: str | None
    lbm_formula: str
    bsa_formula: str
    lbm_kg: float | None
    bsa_m2: float | None
    ibw_kg: float | None
    formulas: dict[str, str] = field(default_factory=dict)
    overrides_applied: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    series_instance_uid: str | None = None
    source: str | None = None

    def factor(self, normalization: str = "bw") -> float:
        """The series factor for ``normalization`` in ``NORMALIZATIONS``.

        Raises
        ------
        SuvError
            ``NORMALIZATION_UNAVAILABLE`` when that factor is ``None``.
        """
        if normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"normalization must be one of {NORMALIZATIONS}; got {normalization!r}",
                code="INVALID_PARAMETER",
            )
        f = getattr(self, f"{normalization}_factor")
        if f is None:
            reasons = [w for w in self.warnings if w.startswith(f"{normalization}:")]
            raise SuvError(
                f"SUV{normalization} is not available for series {self.series_instance_uid} "
                f"({self.source}): {'; '.join(reasons) or 'not computable'}",
                code="NORMALIZATION_UNAVAILABLE",
            )
        return float(f)

    def slice_factors(self, normalization: str = "bw") -> dict[str, float] | None:
        """Per-SOPInstanceUID factors for ``normalization`` (``None`` if uniform)."""
        f = self.factor(normalization)
        if self.slice_bw_factors is None:
            return None
        ratio = f / self.bw_factor
        return {k: v * ratio for k, v in self.slice_bw_factors.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able provenance (datetimes as ISO 8601)."""
        out: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = dict(v)
            out[k] = v
        return out


# ----------------------------------------------------------------------------- helpers
class _Ctx:
    """Message context of one computation."""

    def __init__(self, acq: PetAcquisition) -> None:
        self.acq = acq
        self.who = f"series {acq.series_instance_uid or '<no SeriesInstanceUID>'}"
        if acq.source:
            self.who += f" ({acq.source})"
        self.warnings: list[str] = []

    def refuse(self, code: str, what: str, remedy: str) -> SuvError:
        malformed = [p for p in self.acq.header_problems if p.split(" ")[0].rstrip(":") in what]
        if malformed:
            what += f" (malformed in the header: {'; '.join(malformed)})"
        return SuvError(
            f"SUV refused for {self.who}: {what}. {remedy}",
            code=code,
            series_uid=self.acq.series_instance_uid,
            source=self.acq.source,
        )


def _weight_kg(ctx: _Ctx, ov: SuvOverrides | None, applied: list[str]) -> float:
    if ov is not None and ov.weight_kg is not None:
        applied.append("weight_kg")
        return ov.weight_kg
    w = ctx.acq.patient_weight
    if w is None or w == 0:
        got = "absent" if w is None else "0"
        size = ctx.acq.patient_size
        hint = ""
        if size is not None and 20.0 <= size <= WEIGHT_KG_RANGE[1] and not HEIGHT_CM_RANGE[0] < size:
            hint = f" ({_TAG['PatientSize']} holds {size:g}: the weight mis-stored there? not used)"
        raise ctx.refuse(
            "MISSING_WEIGHT",
            f"{_TAG['PatientWeight']} is {got}; expected the weight in kg{hint}",
            "Give it with --weight-kg or the weight_kg column of an overrides CSV.",
        )
    if w < 0:
        raise ctx.refuse(
            "IMPLAUSIBLE_VALUE",
            f"{_TAG['PatientWeight']} is negative ({w})",
            "Give the weight with --weight-kg or an overrides CSV.",
        )
    if w > WEIGHT_GRAMS_ABOVE:
        ctx.warnings.append(
            f"{_TAG['PatientWeight']} {w} > {WEIGHT_GRAMS_ABOVE:g}: taken as grams "
            f"({w / 1000.0:g} kg)"
        )
        w = w / 1000.0
    lo, hi = WEIGHT_KG_RANGE
    if not lo <= w <= hi:
        raise ctx.refuse(
            "IMPLAUSIBLE_VALUE",
            f"{_TAG['PatientWeight']} {ctx.acq.patient_weight} gives {w:g} kg, outside [{lo}, {hi}] kg",
            "Check the header; give the weight with --weight-kg or an overrides CSV.",
        )
    return float(w)


def _height_m(
    ctx: _Ctx, ov: SuvOverrides | None, applied: list[str]
) -> tuple[float | None, str | None]:
    """Height in m, or (None, reason)."""
    if ov is not None and ov.height_m is not None:
        applied.append("height_m")
        return ov.height_m, None
    h = ctx.acq.patient_size
    if h is None or h == 0:
        return None, f"{_TAG['PatientSize']} is {'absent' if h is None else '0'}"
    if HEIGHT_CM_RANGE[0] < h < HEIGHT_CM_RANGE[1]:
        ctx.warnings.append(f"{_TAG['PatientSize']} {h} taken as cm ({h / 100.0:g} m)")
        h = h / 100.0
    lo, hi = HEIGHT_M_RANGE
    if not lo <= h <= hi:
        return (
            None,
            f"{_TAG['PatientSize']} {ctx.acq.patient_size} is implausible (expected {lo}-{hi} m)",
        )
    return float(h), None


def _sex(ctx: _Ctx, ov: SuvOverrides | None, applied: list[str]) -> tuple[str | None, str | None]:
    if ov is not None and ov.sex is not None:
        applied.append("sex")
        return ov.sex, None
    s = ctx.acq.patient_sex
    if s is None:
        return None, f"{_TAG['PatientSex']} is absent or not M/F/O"
    return s, None


def _scanner_normaliser_inputs(
    ctx: _Ctx, ov: SuvOverrides | None, used: tuple[float, float | None, str | None]
) -> tuple[float, float | None, str | None]:
    """Weight (kg), height (m) and sex the scanner normalised already-SUV images with.

    The header's values, or, when the header lacks one, the override's (assumed to be
    what the scanner used; warned). A warning is recorded when an override differs
    from the header value: the SUV is then renormalised to the override.
    """
    try:
        w = _weight_kg(ctx, None, [])
    except SuvError:
        if ov is None or ov.weight_kg is None:
            raise
        w = ov.weight_kg
        ctx.warnings.append(
            f"{_TAG['PatientWeight']} absent: the override {w:g} kg is assumed to be the weight "
            "the scanner normalised the stored SUV with"
        )
    h, _ = _height_m(ctx, None, [])
    if h is None and ov is not None and ov.height_m is not None:
        h = ov.height_m
    sx, _ = _sex(ctx, None, [])
    if sx is None and ov is not None and ov.sex is not None:
        sx = ov.sex
    for name, header, new in (("weight", w, used[0]), ("height", h, used[1]), ("sex", sx, used[2])):
        if header is not None and new is not None and header != new:
            ctx.warnings.append(
                f"override {name} {new} differs from the header's {header}: the scanner's SUV "
                "normalisation is undone with the header value and redone with the override"
            )
    return w, h, sx


def _dose_bq(ctx: _Ctx, ov: SuvOverrides | None, applied: list[str]) -> float:
    if ov is not None and ov.injected_dose_bq is not None:
        applied.append("injected_dose_bq")
        return ov.injected_dose_bq
    d = ctx.acq.radionuclide_total_dose
    remedy = "Give the injected activity with --injected-dose-bq or the injected_dose_bq column of an overrides CSV."
    if d is None or d == 0:
        raise ctx.refuse(
            "MISSING_DOSE",
            f"{_TAG['Dose']} is {'absent' if d is None else '0'}; "
            "expected the injected activity in Bq",
            remedy,
        )
    if d < 0:
        raise ctx.refuse("NEGATIVE_DOSE", f"{_TAG['Dose']} is negative ({d})", remedy)
    if d < DOSE_MBQ_BELOW:
        ctx.warnings.append(
            f"{_TAG['Dose']} {d:g} < {DOSE_MBQ_BELOW:g}: taken as MBq ({mbq_to_bq(d):g} Bq)"
        )
        d = mbq_to_bq(d)
    lo, hi = DOSE_BQ_RANGE
    if not lo <= d <= hi:
        raise ctx.refuse(
            "IMPLAUSIBLE_VALUE",
            f"{_TAG['Dose']} {ctx.acq.radionuclide_total_dose:g} gives {d:g} Bq, outside [{lo:g}, {hi:g}] Bq",
            remedy,
        )
    return float(d)


def _half_life(ctx: _Ctx) -> tuple[float, str]:
    acq = ctx.acq
    hl = acq.radionuclide_half_life_s
    from_code = half_life_from_code(acq.radionuclide_code, acq.radionuclide_code_meaning)
    if hl is not None and hl > 0:
        lo, hi = HALF_LIFE_S_RANGE
        if not lo <= hl <= hi:
            raise ctx.refuse(
                "IMPLAUSIBLE_VALUE",
                f"{_TAG['HalfLife']} {hl:g} s is outside [{lo:g}, {hi:g}] s",
                "Check the header; the series cannot be converted as stored.",
            )
        if from_code is not None and abs(from_code[0] - hl) / hl > 0.05:
            ctx.warnings.append(
                f"{_TAG['HalfLife']} {hl:g} s differs from the {from_code[1]} half-life "
                f"{from_code[0]:g} s of the RadionuclideCodeSequence; header value used"
            )
        return float(hl), "RadionuclideHalfLife (0018,1075)"
    if from_code is not None:
        got = "absent" if hl is None else f"{hl:g}"
        ctx.warnings.append(
            f"{_TAG['HalfLife']} is {got}: {from_code[1]} half-life {from_code[0]:g} s "
            "taken from RadionuclideCodeSequence (0054,0300)"
        )
        return from_code[0], f"RadionuclideCodeSequence (0054,0300) {from_code[1]}"
    raise ctx.refuse(
        "MISSING_HALF_LIFE",
        f"{_TAG['HalfLife']} is {'absent' if hl is None else repr(hl)} and RadionuclideCodeSequence (0054,0300) "
        f"(code {acq.radionuclide_code!r}, meaning {acq.radionuclide_code_meaning!r}) names no known nuclide",
        "The series cannot be converted; fix the header (e.g. 6586.2 s for F-18).",
    )


def _instance_datetime(acq: PetAcquisition, rec: InstanceRecord) -> datetime | None:
    if rec.acquisition_datetime is not None:
        return rec.acquisition_datetime
    base = acq.series_date or acq.study_date
    if rec.acquisition_time_only is not None and base is not None:
        return datetime.combine(base, rec.acquisition_time_only)
    return None


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
        if t is None or rec.frame_duration_ms is None or rec.frame_reference_time_ms is None:
            continue
        if rec.frame_duration_ms < 0:
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
            f"frame back-computed reference times differ by {(max(frames) - min(frames)).total_seconds():.0f} s "
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
                f"SeriesDate/SeriesTime {series.isoformat()} is after the earliest AcquisitionDate/Time "
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
                    f"GE private scan datetime (0009,xx0D) {ge.isoformat()} is on a different date than the public "
                    f"tags {sorted(d.isoformat() for d in public_dates)} (de-identification date shift?): not used"
                )
        if chosen is None and frame_ref is not None:
            chosen = (frame_ref, "frame_back_computed")
        if chosen is None and one_acquisition_time and earliest is not None:
            ctx.warnings.append(
                f"one AcquisitionDate/Time on all {len(acq.instances)} instances with different FrameReferenceTime "
                "(GE multi-bed convention): it is the scan start and is used as reference time"
            )
            chosen = (earliest, "earliest_acquisition_datetime")
        if chosen is None and earliest is not None:
            missing = [
                tag
                for tag, attr in (
                    ("ActualFrameDuration (0018,1242)", "frame_duration_ms"),
                    ("FrameReferenceTime (0054,1300)", "frame_reference_time_ms"),
                )
                if any(getattr(r, attr) is None for r in acq.instances)
            ]
            if series is not None:
                # Post-processed series: the earliest AcquisitionTime of what is left is not reliably the
                # decay reference (cropped/multi-bed series; IBSI DRO_3_2), so refuse (IBSI error case).
                raise ctx.refuse(
                    "MISSING_FRAME_DURATION",
                    f"SeriesDate/SeriesTime {series.isoformat()} is after the earliest acquisition "
                    f"{earliest.isoformat()}, there is no usable GE private scan datetime, and the frame "
                    f"back-computation lacks {' and '.join(missing) or 'valid frame timing'}",
                    "The decay reference time is unknown; fix the header (or give the series as acquired).",
                )
            ctx.warnings.append(
                "reference time = earliest AcquisitionDate/Time (QIBA option 3; SeriesDate/SeriesTime absent; "
                f"frame back-computation impossible: {' and '.join(missing) or 'invalid frame timing'} missing)"
            )
            chosen = (earliest, "earliest_acquisition_datetime")
    if chosen is None:
        raise ctx.refuse(
            "MISSING_REFERENCE_TIME",
            "no reference time: SeriesDate/SeriesTime (0008,0021/0031), AcquisitionDate/Time (0008,0022/0032) "
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
                f"reference time from {chosen[1]} ({chosen[0].isoformat()}) and the frame back-computed one "
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
            f"only {_TAG['StartTime']} ({st.isoformat()}) is given, without a date, for a nuclide with half-life "
            f"{half_life_s:g} s (> {DATETIME_REQUIRED_HALF_LIFE_S:g} s) whose uptake may exceed 24 h",
            remedy,
        )
    adm = datetime.combine(t_ref.date(), st)
    adjusted = False
    if adm > t_ref:
        adm -= timedelta(days=1)
        adjusted = True
        ctx.warnings.append(
            f"injection time {st.isoformat()} is after the reference time {t_ref.time().isoformat()}: "
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
            f"injection {t_adm.isoformat()} is after the reference time {t_ref.isoformat()} ({ref_source}) by "
            f"{-interval_s:.0f} s",
            "Check RadiopharmaceuticalStartDateTime and the series times, or give --injection-datetime.",
        )
    if interval_s > MAX_DECAY_HALF_LIVES * half_life_s:
        raise ctx.refuse(
            "IMPLAUSIBLE_VALUE",
            f"decay interval {interval_s / 3600.0:.1f} h from injection {t_adm.isoformat()} to reference "
            f"{t_ref.isoformat()} ({ref_source}) exceeds {MAX_DECAY_HALF_LIVES:g} half-lives ({half_life_s:g} s); "
            "dates from different sources (de-identification date shift?)",
            "Check the header dates, or give --injection-datetime.",
        )


# ----------------------------------------------------------------------------- main
def compute_suv_factors(
    acquisition: PetAcquisition,
    *,
    overrides: SuvOverrides | None = None,
    lbm_formula: str = SuvConfig.lbm_formula,
    bsa_formula: str = SuvConfig.bsa_formula,
    reference_time_tolerance_s: float = SuvConfig.reference_time_tolerance_s,
) -> SuvFactors:
    """Compute SUVbw, SUL, SUVbsa and SUVibw factors of a PET series, or refuse.

    Parameters
    ----------
    acquisition : PetAcquisition
        Header facts as read by :func:`carpet.ingest.pet_header.read_pet_acquisition`.
    overrides : SuvOverrides, optional
        User values replacing the header's (weight, height, dose, injection time,
        sex); listed in ``overrides_applied``.
    lbm_formula : {"janma", "james128", "james120"}
        LBM formula for ``lbm_factor`` (SUL). Default Janmahasatian.
    bsa_formula : {"dubois", "mosteller"}
        BSA formula for ``bsa_factor``. DICOM ``CM2ML`` images are always
        back-computed with DuBois (their definition).
    reference_time_tolerance_s : float
        Warn when the chosen reference time and the frame back-computed one
        differ by more than this, s.

    Returns
    -------
    SuvFactors
        Factors multiplying the rescaled stored values, with provenance.

    Raises
    ------
    SuvError
        With a stable ``code`` (table in :mod:`carpet.suv`).
    ConfigError
        For an unknown ``lbm_formula`` or ``bsa_formula``.

    Notes
    -----
    With ``A`` the rescaled stored value in Bq/mL (BQML; CNTS × (7053,1009)),
    ``SUVbw = A·W[g]/D_ref`` with ``D_ref = D_adm·2^(−(t_ref − t_adm)/T½)``
    (START), ``D_ref = D_adm`` (ADMIN). For NONE each instance *i* gets
    ``SUVbw = A·W/D_adm · λT_i/(1 − e^(−λT_i)) · e^(λ(t_acq,i − t_adm))``.
    SUL, SUVbsa and SUVibw replace ``W[g]`` by LBM[g], BSA[cm²] and IBW[g].
    CNTS with the Philips SUV scale factor f: ``SUVbw = stored·f``. GML: the stored
    value is SUV of SUVType X (empty = BW): ``SUVbw = stored·W/X``; CM2ML:
    ``SUVbw = stored·W[g]/BSA_DuBois[cm²]``.

    References
    ----------
    Vácha M. et al., IBSI-SUV manual and DROs (oncoray/suv_computation, 2026);
    QIBA FDG-PET/CT profile SUV pseudocode; cornerstonejs/calculate-suv.

    Examples
    --------
    >>> from datetime import datetime
    >>> from carpet.core.acquisition import PetAcquisition
    >>> acq = PetAcquisition(units="BQML", decay_correction="START", corrected_image=("ATTN", "DECY"),
    ...     radionuclide_total_dose=3.7e8, radionuclide_half_life_s=6586.2, patient_weight=70.0,
    ...     patient_size=1.75, patient_sex="F", series_date=datetime(2025, 1, 1).date(),
    ...     series_time=datetime(2025, 1, 1, 11, 0).time(),
    ...     radiopharmaceutical_start_datetime=datetime(2025, 1, 1, 10, 0))
    >>> f = compute_suv_factors(acq)
    >>> round(f.bw_factor / (70e3 / (3.7e8 * 2 ** (-3600 / 6586.2))), 12), f.reference_time_source
    (1.0, 'series_datetime')
    """
    if lbm_formula not in LBM_FORMULAS:
        raise ConfigError(
            f"lbm_formula must be one of {LBM_FORMULAS}; got {lbm_formula!r}",
            code="INVALID_PARAMETER",
        )
    if bsa_formula not in BSA_FORMULAS:
        raise ConfigError(
            f"bsa_formula must be one of {BSA_FORMULAS}; got {bsa_formula!r}",
            code="INVALID_PARAMETER",
        )
    acq = acquisition
    ctx = _Ctx(acq)
    applied: list[str] = []
    formulas: dict[str, str] = {}

    # ------------------------------------------------------------- pre-checks
    if acq.inconsistencies:
        raise ctx.refuse(
            "INCONSISTENT_SERIES",
            "series-level attributes differ between instances: " + "; ".join(acq.inconsistencies),
            "Split the series or fix the headers; carpet does not guess which value is right.",
        )
    units = acq.units
    if units not in SUPPORTED_UNITS:
        raise ctx.refuse(
            "UNSUPPORTED_UNITS",
            f"{_TAG['Units']} is {'absent' if units is None else repr(units)}; expected one of {list(SUPPORTED_UNITS)}"
            + (f" ({_UNITS_WHY[units]})" if units in _UNITS_WHY else ""),
            "Use the attenuation-corrected quantitative series.",
        )
    if not acq.is_attenuation_corrected:
        raise ctx.refuse(
            "NOT_ATTENUATION_CORRECTED",
            f"{_TAG['CorrectedImage']} is {list(acq.corrected_image)}; expected it to contain ATTN",
            "SUV needs an attenuation-corrected series; use the AC series.",
        )
    dc = acq.decay_correction
    if dc is None and acq.decay_correction_datetime is not None:
        dc = "START"
    if units in ("BQML", "CNTS") or dc is not None:
        if dc not in ("START", "ADMIN", "NONE"):
            raise ctx.refuse(
                "UNSUPPORTED_DECAY_CORRECTION",
                f"{_TAG['DecayCorrection']} is {'absent' if dc is None else repr(dc)}; "
                "expected START, ADMIN or NONE",
                "The series cannot be converted as stored.",
            )
    if dc in ("START", "ADMIN") and not acq.is_decay_corrected:
        raise ctx.refuse(
            "NOT_DECAY_CORRECTED",
            f"{_TAG['CorrectedImage']} is {list(acq.corrected_image)} without DECY while "
            f"{_TAG['DecayCorrection']} is {dc}; expected DECY",
            "The decay state of the pixels is contradictory; fix the header.",
        )
    if dc == "NONE" and acq.is_decay_corrected:
        raise ctx.refuse(
            "NOT_DECAY_CORRECTED",
            f"{_TAG['DecayCorrection']} is NONE but {_TAG['CorrectedImage']} contains DECY",
            "The decay state of the pixels is contradictory; fix the header.",
        )
    bad_icpt = sorted(
        {
            r.rescale_intercept
            for r in acq.instances
            if r.rescale_intercept is not None and r.rescale_intercept != 0
        }
    )
    if bad_icpt:
        raise ctx.refuse(
            "NONZERO_INTERCEPT",
            f"{_TAG['Intercept']} is {bad_icpt[:3]}; expected 0 for PET",
            "IBSI-SUV recommends excluding such series.",
        )
    if any(r.rescale_slope is None for r in acq.instances):
        ctx.warnings.append(
            "RescaleSlope (0028,1053) absent on some instances (the pixel reader applies 1)"
        )

    weight_kg = _weight_kg(ctx, overrides, applied)
    weight_g = 1000.0 * weight_kg
    height_m, height_reason = _height_m(ctx, overrides, applied)
    sex, sex_reason = _sex(ctx, overrides, applied)

    def need(code: str, value: Any, reason: str | None, what: str, remedy: str) -> Any:
        if value is None:
            raise ctx.refuse(code, f"{reason}; needed for {what}", remedy)
        return value

    # ------------------------------------------------------------- units branch → k (per stored unit, 1/g·...)
    # k_i such that rescaled stored value × k_i = A/D_ref (1/mL); SUVx = A·X/D_ref.
    dose_bq = d_ref = interval = None
    t_ref = t_adm = None
    ref_source = "not_needed"
    inj_source = None
    midnight = False
    half_life = half_life_src = None
    per_instance: list[float] | None = None
    uids = [r.sop_instance_uid or f"#{i}" for i, r in enumerate(acq.instances)]

    not_needed_overrides = ("injected_dose_bq", "injection_datetime")
    if units in ("GML", "CM2ML"):
        w_b, h_b, s_b = _scanner_normaliser_inputs(ctx, overrides, (weight_kg, height_m, sex))
    if units == "GML":
        suv_type = acq.suv_type or "BW"
        method = f"GML SUVType={suv_type}"
        if suv_type == "BW":
            k = 1.0 / (1000.0 * w_b)
            formulas["bw"] = "SUVbw = stored*RescaleSlope (GML, SUVType BW)"
        elif suv_type in _LBM_SUVTYPES or suv_type == "IBW":
            what = f"Units GML with SUVType {suv_type}"
            h = need(
                "MISSING_HEIGHT", h_b, height_reason, what, "Give --height-m or an overrides CSV."
            )
            s = need("MISSING_SEX", s_b, sex_reason, what, "Give --sex or an overrides CSV.")
            if s == "O":
                ctx.warnings.append(
                    f"PatientSex O: {suv_type} normaliser = mean of the male and female values "
                    "(IBSI-SUV manual)"
                )
            if suv_type == "IBW":
                x_kg = ideal_body_weight_kg(w_b, h, s)
            else:
                x_kg = lean_body_mass_kg(w_b, h, s, _LBM_SUVTYPES[suv_type])
            if not x_kg > 0:
                raise ctx.refuse(
                    "IMPLAUSIBLE_VALUE",
                    f"{suv_type} normaliser is {x_kg:.3g} kg for W={w_b:g} kg, H={h:g} m",
                    "Check weight and height.",
                )
            k = 1.0 / (1000.0 * x_kg)
            formulas["bw"] = f"SUVbw = stored*RescaleSlope * W/{suv_type} ({x_kg:.4f} kg)"
        else:
            raise ctx.refuse(
                "UNSUPPORTED_SUV_TYPE",
                f"{_TAG['SUVType']} is {suv_type!r} with Units GML; expected BW, LBM, LBMJAMES128, "
                "LBMJANMA or IBW (BSA images have Units CM2ML)",
                "The series cannot be converted.",
            )
        ref_source = "not_needed (GML)"
    elif units == "CM2ML":
        if acq.suv_type not in (None, "BSA"):
            raise ctx.refuse(
                "UNSUPPORTED_SUV_TYPE",
                f"{_TAG['SUVType']} is {acq.suv_type!r} with Units CM2ML; expected BSA or empty",
                "The series cannot be converted.",
            )
        h = need(
            "MISSING_HEIGHT",
            h_b,
            height_reason,
            "Units CM2ML (SUVbsa)",
            "Give --height-m or an overrides CSV.",
        )
        bsa_cm2 = 1e4 * body_surface_area_m2(w_b, h, "dubois")
        k = 1.0 / bsa_cm2
        method = "CM2ML (SUVbsa, DuBois)"
        formulas["bw"] = f"SUVbw = stored*RescaleSlope * W[g]/BSA_DuBois[cm2] ({bsa_cm2:.2f} cm2)"
        ref_source = "not_needed (CM2ML)"
    else:
        scales: list[float] | None = None
        if units == "CNTS":
            suvf = [r.philips_suv_scale_factor for r in acq.instances]
            acsf = [r.philips_activity_concentration_scale_factor for r in acq.instances]
            if acq.instances and all(f is not None and f != 0 for f in suvf):
                if any(f < 0 for f in suvf):  # type: ignore[operator]
                    raise ctx.refuse(
                        "IMPLAUSIBLE_VALUE",
                        f"Philips SUV scale factor (7053,1000) is negative {min(suvf)}",  # type: ignore[type-var]
                        "The series cannot be converted.",
                    )
                w_b, _, _ = _scanner_normaliser_inputs(ctx, overrides, (weight_kg, height_m, sex))
                per_instance = [f / (1000.0 * w_b) for f in suvf]  # type: ignore[operator]
                method = "CNTS: Philips SUV scale factor (7053,1000)"
                formulas["bw"] = "SUVbw = stored*RescaleSlope * SUVScaleFactor(7053,1000)"
                ref_source = "not_needed (Philips SUV scale factor)"
                k = per_instance[0]
            elif acq.instances and all(f is not None and f != 0 for f in acsf):
                if any(f < 0 for f in acsf):  # type: ignore[operator]
                    raise ctx.refuse(
                        "IMPLAUSIBLE_VALUE",
                        f"Philips activity concentration scale factor (7053,1009) "
                        f"is negative {min(acsf)}",
                        "The series cannot be converted.",
                    )  # type: ignore[type-var]
                scales = [float(f) for f in acsf]  # type: ignore[arg-type]
                method = "CNTS: Philips activity concentration scale factor (7053,1009)"
            else:
                n = sum(1 for a, b in zip(suvf, acsf, strict=True) if not (a or b))
                raise ctx.refuse(
                    "CNTS_WITHOUT_SCALE_FACTOR",
                    f"Units CNTS but {n} of {len(acq.instances)} instances have neither a non-zero Philips SUV scale "
                    "factor (7053,1000) nor an activity concentration scale factor (7053,1009)",
                    "Counts without a calibration cannot be converted; export the series in BQML from the scanner.",
                )
        else:
            scales = [1.0] * max(1, len(acq.instances))
            method = "BQML"
        if scales is not None:  # activity path: BQML, or CNTS x ACSF
            dose_bq = _dose_bq(ctx, overrides, applied)
            if dc == "ADMIN":
                d_ref = dose_bq
                interval = 0.0
                ref_source = "admin (DecayCorrection ADMIN)"
                k_list = [s / d_ref for s in scales]
                formulas["bw"] = "SUVbw = A*W[g]/D_adm (DecayCorrection ADMIN)"
            else:
                half_life, half_life_src = _half_life(ctx)
                if dc == "START":
                    t_ref, ref_source = _reference_time(ctx, half_life, reference_time_tolerance_s)
                    t_adm, inj_source, midnight = _injection_time(
                        ctx, overrides, applied, t_ref, half_life
                    )
                    interval = (t_ref - t_adm).total_seconds()
                    _check_interval(ctx, interval, half_life, t_ref, t_adm, ref_source)
                    d_ref = dose_bq * decay_factor(interval, half_life)
                    k_list = [s / d_ref for s in scales]
                    formulas["bw"] = "SUVbw = A*W[g]/D_ref; D_ref = D_adm*2^(-(t_ref-t_adm)/T_half)"
                else:  # NONE: per-frame decay correction
                    missing = [
                        u
                        for r, u in zip(acq.instances, uids, strict=True)
                        if r.frame_duration_ms is None or r.frame_duration_ms < 0
                    ]
                    if not acq.instances or missing:
                        raise ctx.refuse(
                            "MISSING_FRAME_DURATION",
                            f"{_TAG['FrameDuration']} absent or negative on {len(missing)} of "
                            f"{len(acq.instances)} instances; needed for DecayCorrection NONE",
                            "The series cannot be decay-corrected; fix the header.",
                        )
                    t_acqs = [_instance_datetime(acq, r) for r in acq.instances]
                    if any(t is None for t in t_acqs):
                        raise ctx.refuse(
                            "MISSING_REFERENCE_TIME",
                            "AcquisitionDate/Time (0008,0022/0032) absent on some instances; needed "
                            "for DecayCorrection NONE",
                            "The series cannot be decay-corrected.",
                        )
                    t_ref = min(t_acqs)  # type: ignore[type-var]
                    ref_source = "per_frame (DecayCorrection NONE)"
                    t_adm, inj_source, midnight = _injection_time(
                        ctx, overrides, applied, t_ref, half_life
                    )
                    k_list = []
                    for rec, t, s in zip(acq.instances, t_acqs, scales, strict=True):
                        dt_i = (t - t_adm).total_seconds()  # type: ignore[operator]
                        _check_interval(ctx, dt_i, half_life, t, t_adm, "AcquisitionDate/Time")  # type: ignore[arg-type]
                        corr = frame_decay_correction(rec.frame_duration_ms / 1000.0, half_life)  # type: ignore[operator]
                        k_list.append(s * corr / (dose_bq * decay_factor(dt_i, half_life)))
                    interval = (t_ref - t_adm).total_seconds()
                    d_ref = dose_bq * decay_factor(interval, half_life)
                    formulas["bw"] = (
                        "SUVbw_i = A_i*W[g]/D_adm * lT_i/(1-exp(-lT_i)) * exp(l(t_acq_i - t_adm)) "
                        "(DecayCorrection NONE, per instance)"
                    )
            per_instance = k_list
            k = k_list[0]
    if per_instance is not None and len(set(per_instance)) <= 1:
        per_instance = None
    if ref_source.startswith("not_needed") and overrides is not None:
        for name in not_needed_overrides:
            if getattr(overrides, name) is not None:
                ctx.warnings.append(
                    f"override {name} not applicable: the stored values of {method} are already "
                    "decay-corrected SUV"
                )

    # ------------------------------------------------------------- normalisers
    def checked(name: str, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ctx.refuse(
                "IMPLAUSIBLE_VALUE",
                f"{name} factor is {value!r}; expected a finite positive number",
                "Check dose, weight and times in the header.",
            )
        return value

    bw_factor = checked("SUVbw", k * weight_g)
    lbm_kg = bsa_m2 = ibw_kg = None
    lbm_factor = bsa_factor = ibw_factor = None
    if height_m is None:
        for n in ("lbm", "bsa", "ibw"):
            ctx.warnings.append(f"{n}: not computed, {height_reason}")
    else:
        bsa_m2 = body_surface_area_m2(weight_kg, height_m, bsa_formula)
        bsa_factor = checked("SUVbsa", k * 1e4 * bsa_m2)
        formulas["bsa"] = "SUVbsa = A*BSA[cm2]/D_ref; " + bsa_formula_text(bsa_formula)
        if sex is None:
            for n in ("lbm", "ibw"):
                ctx.warnings.append(f"{n}: not computed, {sex_reason}")
        else:
            if sex == "O":
                ctx.warnings.append(
                    "PatientSex O: LBM and IBW are the mean of the male and female values "
                    "(IBSI-SUV manual)"
                )
            lbm_kg = lean_body_mass_kg(weight_kg, height_m, sex, lbm_formula)
            if lbm_kg > 0:
                lbm_factor = checked("SUL", k * 1000.0 * lbm_kg)
                formulas["lbm"] = "SUL = A*LBM[g]/D_ref; " + lbm_formula_text(lbm_formula)
            else:
                ctx.warnings.append(
                    f"lbm: not computed, {lbm_formula} LBM is {lbm_kg:.3g} kg (James formula "
                    "non-monotonic at high BMI)"
                )
                lbm_kg = None
            ibw_kg = ideal_body_weight_kg(weight_kg, height_m, sex)
            if ibw_kg > 0:
                ibw_factor = checked("SUVibw", k * 1000.0 * ibw_kg)
                formulas["ibw"] = (
                    "SUVibw = A*IBW[g]/D_ref; IBW M 48.0+1.06*(H_cm-152), F 45.5+0.91*(H_cm-152), <= W"
                )
            else:
                ctx.warnings.append(f"ibw: not computed, IBW is {ibw_kg:.3g} kg")
                ibw_kg = None

    slice_bw = None
    if per_instance is not None:
        slice_bw = {
            u: checked("SUVbw", ki * weight_g) for u, ki in zip(uids, per_instance, strict=True)
        }

    return SuvFactors(
        bw_factor=bw_factor,
        lbm_factor=lbm_factor,
        bsa_factor=bsa_factor,
        ibw_factor=ibw_factor,
        slice_bw_factors=slice_bw,
        units=units,
        method=method,
        reference_time_source=ref_source,
        reference_datetime=t_ref,
        injection_time_source=inj_source,
        injection_datetime=t_adm,
        midnight_adjusted=midnight,
        decay_interval_s=interval,
        decay_correction=acq.decay_correction,
        half_life_s_used=half_life,
        half_life_source=half_life_src,
        dose_bq_used=dose_bq,
        dose_at_reference_bq=d_ref,
        weight_kg_used=weight_kg,
        height_m_used=height_m,
        sex_used=sex,
        lbm_formula=lbm_formula,
        bsa_formula=bsa_formula,
        lbm_kg=lbm_kg,
        bsa_m2=bsa_m2,
        ibw_kg=ibw_kg,
        formulas=formulas,
        overrides_applied=tuple(dict.fromkeys(applied)),
        warnings=tuple(dict.fromkeys(ctx.warnings)),
        series_instance_uid=acq.series_instance_uid,
        source=acq.source,
    )
