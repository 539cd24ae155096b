"""SUV factors from a :class:`~carpet.core.acquisition.PetAcquisition` (pure, no I/O).

See the :mod:`carpet.suv` package docstring for the decision rules and the table
of refusal codes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carpet.config import SuvConfig
from carpet.core.acquisition import PetAcquisition
from carpet.errors import ConfigError, SuvError
from carpet.suv._context import TAG as _TAG
from carpet.suv._context import Ctx as _Ctx
from carpet.suv._inputs import (
    _dose_bq,
    _half_life,
    _height_m,
    _scanner_normaliser_inputs,
    _sex,
    _weight_kg,
)
from carpet.suv._timing import (
    _check_interval,
    _injection_time,
    _instance_datetime,
    _reference_time,
    _usable_duration,
)
from carpet.suv.decay import decay_factor, frame_decay_correction
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

__all__ = ["SuvFactors", "compute_suv_factors", "NORMALIZATIONS", "SUPPORTED_UNITS"]

#: Units (0054,1001) carpet converts; anything else is refused (UNSUPPORTED_UNITS).
SUPPORTED_UNITS = ("BQML", "CNTS", "GML", "CM2ML")
#: ``apply_suv`` normalisations and the Unit each produces.
NORMALIZATIONS = ("bw", "lbm", "bsa", "ibw")
#: F-18 half-life (s) used to recognise FDG-like series for the uptake-time check.
F18_HALF_LIFE_S = 6586.2
#: Plausible Philips private scale factors (SUV or Bq/mL per rescaled count); the
#: conformance-statement values seen are ~1e-4 (SUV) and ~1 (activity).
PHILIPS_FACTOR_RANGE = (1e-12, 1e6)

#: Why common unsupported Units cannot be converted (IBSI-SUV manual, "Other units").
_UNITS_WHY = {
    "PROPCNTS": "proportional to counts, no calibration to activity; typical of non-attenuation-corrected series",
    "PROPCPS": "proportional to counts per second, no calibration; Siemens non-quantitative/NAC images",
    "CPS": "counts per second need the DoseCalibrationFactor (0054,1322) and voxel volume; not supported",
    "1CM": "a linear attenuation coefficient map (mu-map), not activity",
    "NONE": "no unit",
}
_LBM_SUVTYPES = {"LBM": "james120", "LBMJAMES128": "james128", "LBMJANMA": "janma"}


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


def compute_suv_factors(
    acquisition: PetAcquisition,
    *,
    overrides: SuvOverrides | None = None,
    lbm_formula: str = SuvConfig.lbm_formula,
    bsa_formula: str = SuvConfig.bsa_formula,
    reference_time_tolerance_s: float = SuvConfig.reference_time_tolerance_s,
    fdg_uptake_window_min: tuple[float, float] = SuvConfig.fdg_uptake_window_min,
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
    fdg_uptake_window_min : tuple of float
        For F-18, warn when the uptake time (injection to reference) is outside this
        window, min (EANM: 55-75).

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
    try:
        f = _compute(acquisition, overrides, lbm_formula, bsa_formula, reference_time_tolerance_s)
    except OverflowError as exc:  # date/time arithmetic on absurd (but parseable) header values
        raise SuvError(
            f"SUV refused for series {acquisition.series_instance_uid} ({acquisition.source}): "
            "date/time "
            f"arithmetic out of range ({exc}); the header times are implausible. Check the dates "
            "and times.",
            code="IMPLAUSIBLE_VALUE",
        ) from exc
    hl, dt_s = f.half_life_s_used, f.decay_interval_s
    lo, hi = fdg_uptake_window_min
    if (
        hl is not None
        and dt_s is not None
        and abs(hl - F18_HALF_LIFE_S) < 60.0
        and not lo <= dt_s / 60.0 <= hi
    ):
        warning = (
            f"uptake time {dt_s / 60.0:.0f} min is outside the EANM window {lo:g}-{hi:g} min for "
            "F-18: "
            "SUVs are not comparable with standard-protocol scans"
        )
        f = dataclasses.replace(f, warnings=(*f.warnings, warning))
    return f


def _compute(
    acquisition: PetAcquisition,
    overrides: SuvOverrides | None,
    lbm_formula: str,
    bsa_formula: str,
    reference_time_tolerance_s: float,
) -> SuvFactors:
    """Body of :func:`compute_suv_factors` (see there)."""
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
            f"{_TAG['Units']} is {'absent' if units is None else repr(units)}; expected one of "
            f"{list(SUPPORTED_UNITS)}" + (f" ({_UNITS_WHY[units]})" if units in _UNITS_WHY else ""),
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
                bad = [
                    f for f in suvf if not PHILIPS_FACTOR_RANGE[0] <= f <= PHILIPS_FACTOR_RANGE[1]
                ]  # type: ignore[operator]
                if bad:
                    raise ctx.refuse(
                        "IMPLAUSIBLE_VALUE",
                        f"Philips SUV scale factor (7053,1000) is {bad[0]!r}; expected within "
                        f"{list(PHILIPS_FACTOR_RANGE)}",
                        "The series cannot be converted.",
                    )
                w_b, _, _ = _scanner_normaliser_inputs(ctx, overrides, (weight_kg, height_m, sex))
                per_instance = [f / (1000.0 * w_b) for f in suvf]  # type: ignore[operator]
                method = "CNTS: Philips SUV scale factor (7053,1000)"
                formulas["bw"] = "SUVbw = stored*RescaleSlope * SUVScaleFactor(7053,1000)"
                ref_source = "not_needed (Philips SUV scale factor)"
                k = per_instance[0]
            elif acq.instances and all(f is not None and f != 0 for f in acsf):
                bad = [
                    f for f in acsf if not PHILIPS_FACTOR_RANGE[0] <= f <= PHILIPS_FACTOR_RANGE[1]
                ]  # type: ignore[operator]
                if bad:
                    raise ctx.refuse(
                        "IMPLAUSIBLE_VALUE",
                        f"Philips activity concentration scale factor (7053,1009) is {bad[0]!r}; "
                        f"expected within {list(PHILIPS_FACTOR_RANGE)}",
                        "The series cannot be converted.",
                    )
                scales = [float(f) for f in acsf]  # type: ignore[arg-type]
                method = "CNTS: Philips activity concentration scale factor (7053,1009)"
            else:
                n = sum(1 for a, b in zip(suvf, acsf, strict=True) if not (a or b))
                raise ctx.refuse(
                    "CNTS_WITHOUT_SCALE_FACTOR",
                    f"Units CNTS but {n} of {len(acq.instances)} instances have neither a "
                    "non-zero Philips SUV scale "
                    "factor (7053,1000) nor an activity concentration scale factor (7053,1009)",
                    "Counts without a calibration cannot be converted; export the series in BQML "
                    "from the scanner.",
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
                        if not _usable_duration(r.frame_duration_ms)
                    ]
                    if not acq.instances or missing:
                        raise ctx.refuse(
                            "MISSING_FRAME_DURATION",
                            f"{_TAG['FrameDuration']} absent, negative or over 24 h on "
                            f"{len(missing)} of "
                            f"{len(acq.instances)} instances; needed for DecayCorrection NONE",
                            "The series cannot be decay-corrected; fix the header.",
                        )
                    t_acqs = [_instance_datetime(acq, r) for r in acq.instances]
                    if any(t is None for t in t_acqs):
                        raise ctx.refuse(
                            "MISSING_REFERENCE_TIME",
                            "AcquisitionDate/Time (0008,0022/0032) absent on some instances; "
                            "needed "
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
                    "SUVibw = A*IBW[g]/D_ref; IBW M 48.0+1.06*(H_cm-152), F "
                    "45.5+0.91*(H_cm-152), <= W"
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
