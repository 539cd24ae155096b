"""Catalogue of small synthetic PET headers: one per SUV branch and one per refusal.

Each branch's expected factor is computed here by hand from the published formulas
(methods.md §1.1-1.3), independently of carpet.suv; constants of calculate-suv's test
suite (W 75 kg, H 1.85 m, M) are reused where they apply.
"""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from pydicom.dataset import Dataset
from suv_helpers import DOSE, F18, UID, H, W, lam, pet, rp, t_ave  # noqa: F401

from carpet.errors import ConfigError, SuvError
from carpet.ingest.pet_header import read_pet_acquisition
from carpet.suv import SuvOverrides, compute_suv_factors


def series(n=3, edit=None, **kw):
    out = [pet(i, **kw) for i in range(n)]
    if edit is not None:
        for ds in out:
            edit(ds)
    return out


def factors(dss, **kw):
    return compute_suv_factors(read_pet_acquisition(dss, source="catalogue"), **kw)


def d_ref(interval_s=3600.0, dose=DOSE, t_half=F18):
    return dose * math.exp(-lam(t_half) * interval_s)


# ----------------------------------------------------------------------------- hand formulas
def lbm_janma(w, h, sex):
    bmi = w / h**2
    return 9270 * w / ((6680 + 216 * bmi) if sex == "M" else (8780 + 244 * bmi))


def lbm_james(w, h, sex, k=128):
    return (
        1.10 * w - k * (w / (100 * h)) ** 2 if sex == "M" else 1.07 * w - 148 * (w / (100 * h)) ** 2
    )


def bsa_dubois_cm2(w, h):
    return 71.84 * w**0.425 * (100 * h) ** 0.725


def ibw(w, h, sex):
    v = 48.0 + 1.06 * (100 * h - 152) if sex == "M" else 45.5 + 0.91 * (100 * h - 152)
    return min(v, w)


# ----------------------------------------------------------------------------- calculate-suv constants
def test_calculate_suv_constants_bqml_zero_decay():
    """calculate-suv: dose 100 Bq, zero decay, W 75 / H 1.85 / M -> suvbw 750, suvbsa 198.1376,
    suvlbm (James-120) 627.776, suvlbmJanma 609.153. Here the dose is 1e8 Bq, so factors are 1e-6 of those."""

    def edit(ds):
        rp(ds).RadiopharmaceuticalStartDateTime = "20250101110000"

    dss = series(edit=edit)
    f = factors(dss)
    assert f.decay_interval_s == 0
    assert f.bw_factor * 1e6 == pytest.approx(750.0, rel=1e-12)
    assert f.bsa_factor * 1e6 == pytest.approx(198.1376, rel=1e-6)
    assert f.lbm_factor * 1e6 == pytest.approx(609.153, rel=1e-6)
    assert factors(dss, lbm_formula="james120").lbm_factor * 1e6 == pytest.approx(627.776, rel=1e-6)


# ----------------------------------------------------------------------------- branches
def _edit(fn):
    def e(ds):
        fn(ds)

    return e


def set_private(ds, group, creator, elem, vr, value):
    block = ds.private_block(group, creator, create=True)
    block.add_new(elem, vr, value)


BRANCHES = {
    "bqml_start_series_time": (lambda ds: None, W * 1000 / d_ref(), "series_datetime"),
    "dose_stored_in_mbq": (
        lambda ds: setattr(rp(ds), "RadionuclideTotalDose", "100"),
        W * 1000 / d_ref(),
        "series_datetime",
    ),
    "weight_stored_in_grams": (
        lambda ds: setattr(ds, "PatientWeight", "75000"),
        W * 1000 / d_ref(),
        "series_datetime",
    ),
    "cnts_philips_suv_scale_factor": (
        lambda ds: (
            setattr(ds, "Units", "CNTS"),
            set_private(ds, 0x7053, "Philips PET Private Group", 0x00, "DS", "0.000551"),
        ),
        0.000551,
        "not_needed (Philips SUV scale factor)",
    ),
    "cnts_philips_suv_factor_wins_over_acsf": (
        lambda ds: (
            setattr(ds, "Units", "CNTS"),
            set_private(ds, 0x7053, "Philips PET Private Group", 0x00, "DS", "0.000551"),
            set_private(ds, 0x7053, "Philips PET Private Group", 0x09, "DS", "1.602563"),
        ),
        0.000551,
        "not_needed (Philips SUV scale factor)",
    ),
    "cnts_philips_activity_concentration_scale_factor": (
        lambda ds: (
            setattr(ds, "Units", "CNTS"),
            set_private(ds, 0x7053, "Philips PET Private Group", 0x09, "DS", "1.602563"),
        ),
        1.602563 * W * 1000 / d_ref(),
        "series_datetime",
    ),
    "gml_suvtype_empty_is_bw": (lambda ds: setattr(ds, "Units", "GML"), 1.0, "not_needed (GML)"),
    "gml_lbmjanma": (
        lambda ds: (setattr(ds, "Units", "GML"), setattr(ds, "SUVType", "LBMJANMA")),
        W / lbm_janma(W, H, "M"),
        "not_needed (GML)",
    ),
    "gml_lbmjames128": (
        lambda ds: (setattr(ds, "Units", "GML"), setattr(ds, "SUVType", "LBMJAMES128")),
        W / lbm_james(W, H, "M", 128),
        "not_needed (GML)",
    ),
    "gml_lbm_james120": (
        lambda ds: (setattr(ds, "Units", "GML"), setattr(ds, "SUVType", "LBM")),
        W / lbm_james(W, H, "M", 120),
        "not_needed (GML)",
    ),
    "gml_ibw_female": (
        lambda ds: (
            setattr(ds, "Units", "GML"),
            setattr(ds, "SUVType", "IBW"),
            setattr(ds, "PatientSex", "F"),
        ),
        W / ibw(W, H, "F"),
        "not_needed (GML)",
    ),
    "cm2ml_suvbsa_dubois": (
        lambda ds: (setattr(ds, "Units", "CM2ML"), setattr(ds, "SUVType", "BSA")),
        W * 1000 / bsa_dubois_cm2(W, H),
        "not_needed (CM2ML)",
    ),
    "admin_no_decay_no_times_needed": (
        lambda ds: (
            setattr(ds, "DecayCorrection", "ADMIN"),
            delattr(rp(ds), "RadiopharmaceuticalStartDateTime"),
            delattr(rp(ds), "RadiopharmaceuticalStartTime"),
        ),
        W * 1000 / DOSE,
        "admin (DecayCorrection ADMIN)",
    ),
    "start_time_only_plus_series_date": (
        lambda ds: delattr(rp(ds), "RadiopharmaceuticalStartDateTime"),
        W * 1000 / d_ref(),
        "series_datetime",
    ),
    "half_life_from_radionuclide_code": (
        lambda ds: delattr(rp(ds), "RadionuclideHalfLife"),
        W * 1000 / d_ref(),
        "series_datetime",
    ),
    "ga68_half_life_from_code_meaning": (
        lambda ds: (
            delattr(rp(ds), "RadionuclideHalfLife"),
            setattr(rp(ds).RadionuclideCodeSequence[0], "CodeValue", "C-XXXX"),
            setattr(rp(ds).RadionuclideCodeSequence[0], "CodeMeaning", "^68^Gallium"),
        ),
        W * 1000 / d_ref(t_half=4062.6),
        "series_datetime",
    ),
    "series_after_acquisition_frame_back_computed": (
        lambda ds: setattr(ds, "SeriesTime", "113000"),
        W * 1000 / d_ref(),
        "frame_back_computed",
    ),
    "series_after_acquisition_ge_private_same_date": (
        lambda ds: (
            setattr(ds, "SeriesTime", "113000"),
            setattr(ds, "Manufacturer", "GE MEDICAL SYSTEMS"),
            delattr(ds, "FrameReferenceTime"),
            set_private(ds, 0x0009, "GEMS_PETD_01", 0x0D, "DT", "20250101110000"),
        ),
        W * 1000 / d_ref(),
        "ge_private_scan_datetime",
    ),
    "series_time_absent_frame_back_computed": (
        lambda ds: delattr(ds, "SeriesTime"),
        W * 1000 / d_ref(),
        "frame_back_computed",
    ),
    "series_time_absent_no_frame_info_earliest_acquisition": (
        lambda ds: (delattr(ds, "SeriesTime"), delattr(ds, "ActualFrameDuration")),
        W * 1000 / d_ref(),
        "earliest_acquisition_datetime",
    ),
    "decay_correction_datetime_enhanced_style": (
        lambda ds: (
            setattr(ds, "SeriesTime", "113000"),
            delattr(ds, "DecayCorrection"),
            setattr(ds, "DecayCorrectionDateTime", "20250101110000"),
        ),
        W * 1000 / d_ref(),
        "decay_correction_datetime",
    ),
}


@pytest.mark.parametrize("name", sorted(BRANCHES))
def test_branch_factor(name):
    edit, expected, source = BRANCHES[name]
    f = factors(series(edit=edit))
    assert f.bw_factor == pytest.approx(expected, rel=1e-9), f.to_dict()
    assert f.reference_time_source == source
    assert f.slice_bw_factors is None


def test_unit_decisions_are_warned():
    f = factors(series(edit=BRANCHES["dose_stored_in_mbq"][0]))
    assert any("taken as MBq" in w for w in f.warnings)
    f = factors(series(edit=BRANCHES["weight_stored_in_grams"][0]))
    assert any("taken as grams" in w for w in f.warnings) and f.weight_kg_used == 75.0
    f = factors(series(edit=lambda ds: setattr(ds, "PatientSize", "185")))
    assert f.height_m_used == pytest.approx(1.85) and any("taken as cm" in w for w in f.warnings)


def test_time_only_injection_records_source_and_midnight_crossing():
    def edit(ds):
        ds.SeriesDate = ds.AcquisitionDate = ds.StudyDate = "20250102"
        ds.SeriesTime = ds.AcquisitionTime = "003000"
        del rp(ds).RadiopharmaceuticalStartDateTime
        rp(ds).RadiopharmaceuticalStartTime = "233000"

    f = factors(series(edit=edit))
    assert f.midnight_adjusted is True
    assert f.injection_datetime == datetime(2025, 1, 1, 23, 30)
    assert f.decay_interval_s == 3600.0
    assert f.injection_time_source.startswith("RadiopharmaceuticalStartTime (0018,1072)")
    assert f.bw_factor == pytest.approx(W * 1000 / d_ref(), rel=1e-12)


def test_ge_private_on_another_shifted_date_is_not_used():
    """ACRIN trap: de-identification shifted the GE private date differently (23 days)."""

    def edit(ds):
        ds.SeriesTime = "113000"
        set_private(ds, 0x0009, "GEMS_PETD_01", 0x0D, "DT", "20241209110000")

    f = factors(series(edit=edit))
    assert f.reference_time_source == "frame_back_computed"
    assert f.decay_interval_s == pytest.approx(3600.0, abs=1e-3)
    assert any("GE private scan datetime" in w and "different date" in w for w in f.warnings)


def test_decay_correction_none_per_frame_factors():
    """DecayCorrection NONE: SUVbw_i = A_i*W/D_adm * lT/(1-exp(-lT)) * exp(l*(t_i - t_adm)) (IBSI manual)."""
    times = ["110000", "110500", "111000"]

    def build():
        dss = []
        for i, t in enumerate(times):
            ds = pet(i, acq_time=t)
            ds.DecayCorrection = "NONE"
            ds.CorrectedImage = ["NORM", "ATTN", "SCAT"]
            ds.ActualFrameDuration = 300000
            dss.append(ds)
        return dss[::-1]  # any order

    f = factors(build())
    T = 300.0
    expected = {
        f"{UID}.{i + 1}": W
        * 1000
        / DOSE
        * lam()
        * T
        / (1 - math.exp(-lam() * T))
        * math.exp(lam() * (3600 + 300 * i))
        for i in range(3)
    }
    assert f.slice_bw_factors.keys() == expected.keys()
    for k, v in expected.items():
        assert f.slice_bw_factors[k] == pytest.approx(v, rel=1e-9)
    assert f.bw_factor == pytest.approx(
        expected[f"{UID}.1"], rel=1e-9
    )  # earliest-acquired instance
    assert f.reference_time_source == "per_frame (DecayCorrection NONE)"
    ratio = f.lbm_factor / f.bw_factor
    for k, v in f.slice_factors("lbm").items():
        assert v == pytest.approx(f.slice_bw_factors[k] * ratio)


def test_normalisers_and_formula_choice():
    f = factors(series())
    k = 1 / d_ref()
    assert f.lbm_factor == pytest.approx(k * 1000 * lbm_janma(W, H, "M"), rel=1e-12)
    assert f.bsa_factor == pytest.approx(k * bsa_dubois_cm2(W, H), rel=1e-12)
    assert f.ibw_factor == pytest.approx(k * 1000 * ibw(W, H, "M"), rel=1e-12)
    f128 = factors(series(), lbm_formula="james128", bsa_formula="mosteller")
    assert f128.lbm_factor == pytest.approx(k * 1000 * lbm_james(W, H, "M", 128), rel=1e-12)
    assert f128.bsa_factor == pytest.approx(k * 1e4 * math.sqrt(185 * 75 / 3600), rel=1e-12)
    assert "James" in f128.formulas["lbm"] and "Mosteller" in f128.formulas["bsa"]
    with pytest.raises(ConfigError) as e:
        factors(series(), lbm_formula="boer")
    assert e.value.code == "INVALID_PARAMETER"


def test_sex_other_uses_mean_and_warns():
    f = factors(series(edit=lambda ds: setattr(ds, "PatientSex", "O")))
    k = 1 / d_ref()
    mean = (lbm_janma(W, H, "M") + lbm_janma(W, H, "F")) / 2
    assert f.lbm_factor == pytest.approx(k * 1000 * mean, rel=1e-12)
    assert any("PatientSex O" in w for w in f.warnings)


def test_missing_sex_or_height_leaves_optional_factors_unavailable():
    f = factors(series(edit=lambda ds: delattr(ds, "PatientSex")))
    assert f.lbm_factor is None and f.ibw_factor is None and f.bsa_factor is not None
    with pytest.raises(SuvError) as e:
        f.factor("lbm")
    assert e.value.code == "NORMALIZATION_UNAVAILABLE" and "PatientSex (0010,0040)" in str(e.value)
    f = factors(series(edit=lambda ds: delattr(ds, "PatientSize")))
    assert (f.lbm_factor, f.bsa_factor, f.ibw_factor) == (None, None, None)
    assert f.bw_factor == pytest.approx(W * 1000 / d_ref())


def test_overrides_win_and_are_recorded():
    def edit(ds):
        del ds.PatientWeight
        del rp(ds).RadionuclideTotalDose
        del rp(ds).RadiopharmaceuticalStartDateTime
        del rp(ds).RadiopharmaceuticalStartTime

    ov = SuvOverrides(
        weight_kg=80.0,
        injected_dose_bq=2e8,
        injection_datetime=datetime(2025, 1, 1, 9, 30),
        height_m=1.7,
        sex="F",
    )
    f = factors(series(edit=edit), overrides=ov)
    assert f.bw_factor == pytest.approx(80_000 / d_ref(5400.0, dose=2e8), rel=1e-12)
    assert set(f.overrides_applied) == {
        "weight_kg",
        "injected_dose_bq",
        "injection_datetime",
        "height_m",
        "sex",
    }
    assert f.injection_time_source == "override"
    assert f.to_dict()["overrides_applied"]


def test_enhanced_multiframe_pet():
    ds = Dataset()
    ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.Modality = f"{UID}.9", UID, "PT"
    ds.Units, ds.DecayCorrection = "BQML", "START"
    ds.AttenuationCorrected, ds.DecayCorrected = "YES", "YES"
    ds.PatientWeight, ds.PatientSize, ds.PatientSex = "75", "1.85", "M"
    ds.SeriesDate, ds.SeriesTime = "20250101", "110000"
    ds.RadiopharmaceuticalInformationSequence = [rp(pet())]
    frames = []
    for n in range(2):
        fg = Dataset()
        fc = Dataset()
        fc.FrameAcquisitionDateTime = "20250101110000"
        fc.FrameAcquisitionDuration = 180000
        fg.FrameContentSequence = [fc]
        pv = Dataset()
        pv.RescaleSlope, pv.RescaleIntercept = str(1.0 + n), "0"
        fg.PixelValueTransformationSequence = [pv]
        frames.append(fg)
    ds.PerFrameFunctionalGroupsSequence = frames
    acq = read_pet_acquisition([ds])
    assert [r.sop_instance_uid for r in acq.instances] == [f"{UID}.9#1", f"{UID}.9#2"]
    assert [r.rescale_slope for r in acq.instances] == [1.0, 2.0]
    f = compute_suv_factors(acq)
    assert f.bw_factor == pytest.approx(W * 1000 / d_ref(), rel=1e-12)


# ----------------------------------------------------------------------------- refusals
def _del_rp(*names):
    def e(ds):
        for n in names:
            delattr(rp(ds), n)

    return e


REFUSALS = {
    "weight_absent": (
        lambda ds: delattr(ds, "PatientWeight"),
        {},
        "MISSING_WEIGHT",
        "PatientWeight (0010,1030)",
    ),
    "weight_zero": (
        lambda ds: setattr(ds, "PatientWeight", "0"),
        {},
        "MISSING_WEIGHT",
        "--weight-kg",
    ),
    "weight_negative": (
        lambda ds: setattr(ds, "PatientWeight", "-70"),
        {},
        "IMPLAUSIBLE_VALUE",
        "PatientWeight",
    ),
    "weight_absurd": (
        lambda ds: setattr(ds, "PatientWeight", "700"),
        {},
        "IMPLAUSIBLE_VALUE",
        "PatientWeight",
    ),
    "height_absent_cm2ml": (
        lambda ds: (setattr(ds, "Units", "CM2ML"), delattr(ds, "PatientSize")),
        {},
        "MISSING_HEIGHT",
        "PatientSize (0010,1020)",
    ),
    "height_zero_gml_lbm": (
        lambda ds: (
            setattr(ds, "Units", "GML"),
            setattr(ds, "SUVType", "LBMJANMA"),
            setattr(ds, "PatientSize", "0"),
        ),
        {},
        "MISSING_HEIGHT",
        "--height-m",
    ),
    "sex_absent_gml_ibw": (
        lambda ds: (
            setattr(ds, "Units", "GML"),
            setattr(ds, "SUVType", "IBW"),
            delattr(ds, "PatientSex"),
        ),
        {},
        "MISSING_SEX",
        "PatientSex (0010,0040)",
    ),
    "dose_absent": (
        _del_rp("RadionuclideTotalDose"),
        {},
        "MISSING_DOSE",
        "RadionuclideTotalDose (0018,1074)",
    ),
    "dose_zero": (
        lambda ds: setattr(rp(ds), "RadionuclideTotalDose", "0"),
        {},
        "MISSING_DOSE",
        "--injected-dose-bq",
    ),
    "dose_negative": (
        lambda ds: setattr(rp(ds), "RadionuclideTotalDose", "-3.7e8"),
        {},
        "NEGATIVE_DOSE",
        "RadionuclideTotalDose",
    ),
    "dose_neither_mbq_nor_bq": (
        lambda ds: setattr(rp(ds), "RadionuclideTotalDose", "50000"),
        {},
        "IMPLAUSIBLE_VALUE",
        "RadionuclideTotalDose",
    ),
    "injection_time_absent": (
        _del_rp("RadiopharmaceuticalStartDateTime", "RadiopharmaceuticalStartTime"),
        {},
        "MISSING_INJECTION_TIME",
        "--injection-datetime",
    ),
    "zr89_time_only": (
        lambda ds: (
            delattr(rp(ds), "RadiopharmaceuticalStartDateTime"),
            setattr(rp(ds), "RadionuclideHalfLife", "282276"),
        ),
        {},
        "INJECTION_DATETIME_REQUIRED",
        "RadiopharmaceuticalStartTime (0018,1072)",
    ),
    "half_life_and_code_absent": (
        _del_rp("RadionuclideHalfLife", "RadionuclideCodeSequence"),
        {},
        "MISSING_HALF_LIFE",
        "RadionuclideHalfLife (0018,1075)",
    ),
    "half_life_absurd": (
        lambda ds: setattr(rp(ds), "RadionuclideHalfLife", "1"),
        {},
        "IMPLAUSIBLE_VALUE",
        "RadionuclideHalfLife",
    ),
    "units_propcnts": (
        lambda ds: setattr(ds, "Units", "PROPCNTS"),
        {},
        "UNSUPPORTED_UNITS",
        "'PROPCNTS'",
    ),
    "units_cps": (
        lambda ds: setattr(ds, "Units", "CPS"),
        {},
        "UNSUPPORTED_UNITS",
        "Units (0054,1001)",
    ),
    "units_absent": (lambda ds: delattr(ds, "Units"), {}, "UNSUPPORTED_UNITS", "absent"),
    "cnts_without_factors": (
        lambda ds: setattr(ds, "Units", "CNTS"),
        {},
        "CNTS_WITHOUT_SCALE_FACTOR",
        "(7053,1000)",
    ),
    "cnts_zero_factor": (
        lambda ds: (
            setattr(ds, "Units", "CNTS"),
            set_private(ds, 0x7053, "Philips PET Private Group", 0x00, "DS", "0.0"),
        ),
        {},
        "CNTS_WITHOUT_SCALE_FACTOR",
        "(7053,1009)",
    ),
    "not_attenuation_corrected": (
        lambda ds: setattr(ds, "CorrectedImage", ["NORM", "DECY"]),
        {},
        "NOT_ATTENUATION_CORRECTED",
        "CorrectedImage (0028,0051)",
    ),
    "corrected_image_absent": (
        lambda ds: delattr(ds, "CorrectedImage"),
        {},
        "NOT_ATTENUATION_CORRECTED",
        "ATTN",
    ),
    "start_without_decy": (
        lambda ds: setattr(ds, "CorrectedImage", ["ATTN"]),
        {},
        "NOT_DECAY_CORRECTED",
        "DECY",
    ),
    "none_with_decy": (
        lambda ds: setattr(ds, "DecayCorrection", "NONE"),
        {},
        "NOT_DECAY_CORRECTED",
        "NONE",
    ),
    "decay_correction_absent": (
        lambda ds: delattr(ds, "DecayCorrection"),
        {},
        "UNSUPPORTED_DECAY_CORRECTION",
        "DecayCorrection (0054,1102)",
    ),
    "decay_correction_unknown": (
        lambda ds: setattr(ds, "DecayCorrection", "SOMETIME"),
        {},
        "UNSUPPORTED_DECAY_CORRECTION",
        "'SOMETIME'",
    ),
    "nonzero_intercept": (
        lambda ds: setattr(ds, "RescaleIntercept", "-10"),
        {},
        "NONZERO_INTERCEPT",
        "RescaleIntercept (0028,1052)",
    ),
    "none_without_frame_duration": (
        lambda ds: (
            setattr(ds, "DecayCorrection", "NONE"),
            setattr(ds, "CorrectedImage", ["ATTN"]),
            delattr(ds, "ActualFrameDuration"),
        ),
        {},
        "MISSING_FRAME_DURATION",
        "ActualFrameDuration (0018,1242)",
    ),
    "series_after_acquisition_without_frame_timing": (
        lambda ds: (setattr(ds, "SeriesTime", "113000"), delattr(ds, "FrameReferenceTime")),
        {},
        "MISSING_FRAME_DURATION",
        "FrameReferenceTime (0054,1300)",
    ),
    "injection_after_reference": (
        lambda ds: setattr(rp(ds), "RadiopharmaceuticalStartDateTime", "20250101120000"),
        {},
        "NEGATIVE_DECAY_TIME",
        "injection",
    ),
    "decay_interval_over_10_half_lives": (
        lambda ds: (
            setattr(rp(ds), "RadiopharmaceuticalStartDateTime", "20250101003000"),
            setattr(ds, "SeriesTime", "233000"),
            setattr(ds, "AcquisitionTime", "233000"),
        ),
        {},
        "IMPLAUSIBLE_VALUE",
        "half-lives",
    ),
    "zr89_datetime_after_reference": (
        lambda ds: (
            setattr(rp(ds), "RadionuclideHalfLife", "282276"),
            setattr(rp(ds), "RadiopharmaceuticalStartDateTime", "20250109100000"),
        ),
        {},
        "NEGATIVE_DECAY_TIME",
        "injection",
    ),
    "no_reference_time": (
        lambda ds: (delattr(ds, "SeriesTime"), delattr(ds, "AcquisitionTime")),
        {},
        "MISSING_REFERENCE_TIME",
        "SeriesDate/SeriesTime",
    ),
    "gml_with_bsa_suvtype": (
        lambda ds: (setattr(ds, "Units", "GML"), setattr(ds, "SUVType", "BSA")),
        {},
        "UNSUPPORTED_SUV_TYPE",
        "SUVType (0054,1006)",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusal_code_and_message(name):
    edit, kw, code, fragment = REFUSALS[name]
    with pytest.raises(SuvError) as e:
        factors(series(edit=edit), **kw)
    assert e.value.code == code, str(e.value)
    msg = str(e.value)
    assert UID in msg and "catalogue" in msg  # names the series and its source
    assert fragment in msg


def test_inconsistent_series_refused_naming_the_attribute():
    dss = series()
    dss[1].PatientWeight = "80"
    with pytest.raises(SuvError) as e:
        factors(dss)
    assert e.value.code == "INCONSISTENT_SERIES"
    assert "PatientWeight (0010,1030): [75.0, 80.0]" in str(e.value)


def test_every_documented_code_is_exercised():
    from carpet.suv import REFUSAL_CODES

    exercised = {v[2] for v in REFUSALS.values()} | {
        "INCONSISTENT_SERIES",
        "NORMALIZATION_UNAVAILABLE",
        "UNIT_MISMATCH",
        "MISSING_SLICE_UIDS",
    }
    assert set(REFUSAL_CODES) == exercised
    import carpet.suv as suv

    for code in REFUSAL_CODES:
        assert code in suv.__doc__


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
def test_malformed_value_is_named_in_the_refusal():
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    def edit(ds):
        ds[0x00101030] = RawDataElement(
            Tag(0x00101030), "DS", 4, b"abc ", 0, False, True, True, False
        )

    acq = read_pet_acquisition(series(edit=edit), source="catalogue")
    assert any("PatientWeight" in p and "'abc'" in p for p in acq.header_problems)
    with pytest.raises(SuvError) as e:
        compute_suv_factors(acq)
    assert (
        e.value.code == "MISSING_WEIGHT"
        and "malformed in the header" in str(e.value)
        and "'abc'" in str(e.value)
    )


def test_weight_override_renormalises_already_suv_images():
    """GML/SUVbw stored with the header weight 75 kg; an override of 90 kg gives SUVbw x 90/75."""
    gml = series(edit=lambda ds: setattr(ds, "Units", "GML"))
    f = factors(gml, overrides=SuvOverrides(weight_kg=90.0))
    assert f.bw_factor == pytest.approx(90 / 75, rel=1e-12)
    assert any("differs from the header" in w for w in f.warnings)
    assert f.overrides_applied == ("weight_kg",)

    def philips(ds):
        ds.Units = "CNTS"
        set_private(ds, 0x7053, "Philips PET Private Group", 0x00, "DS", "0.000551")

    f = factors(series(edit=philips), overrides=SuvOverrides(weight_kg=90.0, injected_dose_bq=2e8))
    assert f.bw_factor == pytest.approx(0.000551 * 90 / 75, rel=1e-12)
    assert any("injected_dose_bq not applicable" in w for w in f.warnings)


def test_header_weight_absent_override_taken_as_scanner_weight():
    gml = series(edit=lambda ds: (setattr(ds, "Units", "GML"), delattr(ds, "PatientWeight")))
    with pytest.raises(SuvError) as e:
        factors(gml)
    assert e.value.code == "MISSING_WEIGHT"
    f = factors(gml, overrides=SuvOverrides(weight_kg=80.0))
    assert f.bw_factor == pytest.approx(1.0) and any(
        "assumed to be the weight" in w for w in f.warnings
    )


def test_ge_multibed_single_acquisition_time_is_the_scan_start():
    """GE: every bed has AcquisitionTime = scan start and its own FrameReferenceTime; a re-processed series
    (SeriesTime later) without the private time decays to that single AcquisitionTime."""
    dss = series()
    for i, ds in enumerate(dss):
        ds.SeriesTime = "113000"
        ds.FrameReferenceTime = str(303000 + 606000 * i)
    f = factors(dss)
    assert f.reference_time_source == "earliest_acquisition_datetime"
    assert f.bw_factor == pytest.approx(W * 1000 / d_ref(), rel=1e-12)
    assert any("GE multi-bed convention" in w for w in f.warnings)


def test_weight_mis_stored_in_patient_size_is_pointed_out_not_used():
    def edit(ds):
        del ds.PatientWeight
        ds.PatientSize = "72"

    with pytest.raises(SuvError) as e:
        factors(series(edit=edit))
    assert e.value.code == "MISSING_WEIGHT" and "PatientSize (0010,1020) holds 72" in str(e.value)


def test_start_datetime_on_a_shifted_date_keeps_its_time_of_day():
    """De-identification may shift DT and DA differently: 23 days off -> time of day on the series date."""
    f = factors(
        series(
            edit=lambda ds: setattr(rp(ds), "RadiopharmaceuticalStartDateTime", "20241209100000")
        )
    )
    assert f.decay_interval_s == 3600.0
    assert f.bw_factor == pytest.approx(W * 1000 / d_ref(), rel=1e-12)
    assert "its own date inconsistent" in f.injection_time_source
    assert any("days from the reference" in w for w in f.warnings)


@pytest.mark.parametrize(
    ("duration_ms", "reference_ms"),
    [(1e12, 5.0), (1.0, 1e30), (1.0, -1e30), (-5.0, 100.0)],
)
def test_absurd_frame_timing_is_not_used_for_back_computation(duration_ms, reference_ms):
    """Finite but absurd DS values (a header can hold 1e30) must give a coded refusal, not an overflow."""

    def edit(ds):
        ds.SeriesTime = "113000"
        ds.ActualFrameDuration = int(duration_ms) if abs(duration_ms) < 2**31 else 2**31 - 1
        ds.FrameReferenceTime = f"{reference_ms:g}"

    with pytest.raises(SuvError) as e:
        factors(series(edit=edit))
    assert e.value.code == "MISSING_FRAME_DURATION"


def test_absurd_values_in_a_hand_built_acquisition():
    from datetime import date, time

    from carpet.core.acquisition import InstanceRecord, PetAcquisition

    base = dict(
        series_instance_uid="1",
        units="BQML",
        decay_correction="START",
        corrected_image=("ATTN", "DECY"),
        radionuclide_total_dose=3.7e8,
        radionuclide_half_life_s=6586.2,
        patient_weight=70.0,
        radiopharmaceutical_start_datetime=datetime(2025, 1, 1, 9),
        series_date=date(2025, 1, 1),
        series_time=time(11, 30),
    )
    for fd, frt in [
        (float("nan"), 1.0),
        (float("inf"), 1.0),
        (1.0, float("nan")),
        (1e30, 1.0),
        (1.0, 1e30),
    ]:
        rec = InstanceRecord(
            sop_instance_uid="a",
            acquisition_datetime=datetime(2025, 1, 1, 11),
            frame_duration_ms=fd,
            frame_reference_time_ms=frt,
        )
        with pytest.raises(SuvError) as e:
            compute_suv_factors(PetAcquisition(**base, instances=(rec,)))
        assert e.value.code == "MISSING_FRAME_DURATION"
    rec = InstanceRecord(
        sop_instance_uid="a",
        acquisition_datetime=datetime(2025, 1, 1, 11),
        philips_suv_scale_factor=1e300,
    )
    with pytest.raises(SuvError) as e:
        compute_suv_factors(PetAcquisition(**{**base, "units": "CNTS"}, instances=(rec,)))
    assert e.value.code == "IMPLAUSIBLE_VALUE" and "(7053,1000)" in str(e.value)


def test_date_arithmetic_overflow_is_a_coded_refusal():
    from datetime import date, time

    from carpet.core.acquisition import PetAcquisition

    a = PetAcquisition(
        series_instance_uid="1",
        units="BQML",
        decay_correction="START",
        corrected_image=("ATTN", "DECY"),
        radionuclide_total_dose=3.7e8,
        radionuclide_half_life_s=6586.2,
        radiopharmaceutical_start_time=time(23, 30),
        patient_weight=70.0,
        series_date=date(1, 1, 1),
        series_time=time(0, 30),
    )
    with pytest.raises(SuvError) as e:
        compute_suv_factors(a)
    assert e.value.code == "IMPLAUSIBLE_VALUE" and "out of range" in str(e.value)


def test_fdg_uptake_time_outside_eanm_window_is_warned():
    assert not any("uptake time" in w for w in factors(series()).warnings)  # 60 min
    late = factors(
        series(
            edit=lambda ds: setattr(rp(ds), "RadiopharmaceuticalStartDateTime", "20250101083000")
        )
    )
    assert any(
        "uptake time 150 min is outside the EANM window 55-75 min" in w for w in late.warnings
    )
    custom = factors(
        series(
            edit=lambda ds: setattr(rp(ds), "RadiopharmaceuticalStartDateTime", "20250101083000")
        ),
        fdg_uptake_window_min=(30.0, 180.0),
    )
    assert not any("uptake time" in w for w in custom.warnings)
