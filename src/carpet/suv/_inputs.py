"""Patient and dose inputs of the SUV computation, with plausibility unit decisions (private)."""

from __future__ import annotations

from carpet.errors import SuvError
from carpet.suv._context import TAG as _TAG
from carpet.suv._context import Ctx as _Ctx
from carpet.suv.decay import half_life_from_code
from carpet.suv.overrides import SuvOverrides
from carpet.units import mbq_to_bq

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


def _weight_kg(ctx: _Ctx, ov: SuvOverrides | None, applied: list[str]) -> float:
    if ov is not None and ov.weight_kg is not None:
        applied.append("weight_kg")
        return ov.weight_kg
    w = ctx.acq.patient_weight
    if w is None or w == 0:
        got = "absent" if w is None else "0"
        size = ctx.acq.patient_size
        hint = ""
        if (
            size is not None
            and 20.0 <= size <= WEIGHT_KG_RANGE[1]
            and not HEIGHT_CM_RANGE[0] < size
        ):
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
            f"{_TAG['PatientWeight']} {ctx.acq.patient_weight} gives {w:g} kg, outside [{lo}, "
            f"{hi}] kg",
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
            f"{_TAG['Dose']} {ctx.acq.radionuclide_total_dose:g} gives {d:g} Bq, outside [{lo:g}, "
            f"{hi:g}] Bq",
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
        f"{_TAG['HalfLife']} is {'absent' if hl is None else repr(hl)} and "
        "RadionuclideCodeSequence (0054,0300) "
        f"(code {acq.radionuclide_code!r}, meaning {acq.radionuclide_code_meaning!r}) names no "
        "known nuclide",
        "The series cannot be converted; fix the header (e.g. 6586.2 s for F-18).",
    )
