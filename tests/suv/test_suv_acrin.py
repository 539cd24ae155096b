"""Acceptance on a real GE study (TCIA ACRIN-NSCLC-FDG-PET, data README): factors, NAC refusal, GE date trap."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pydicom
import pytest

from carpet.errors import SuvError
from carpet.ingest.pet_header import read_pet_acquisition
from carpet.suv import compute_suv_factors


def headers(folder):
    return [
        pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir()) if p.is_file()
    ]


@pytest.fixture(scope="module")
def ac(acrin_root):
    folder = acrin_root / "PT_1_PET_AC_081015"
    return read_pet_acquisition(headers(folder), source=str(folder))


def test_acrin_factors_match_reference(ac):
    """README: SUVbw 4.2111e-4, SUL (James, male) 3.2444e-4, SUVibw 3.98713e-4 (IBW 86.16 kg)."""
    f = compute_suv_factors(ac, lbm_formula="james128")
    assert f.bw_factor == pytest.approx(4.2111e-4, rel=1e-4)
    assert f.lbm_factor == pytest.approx(3.2444e-4, rel=1e-4)
    assert f.ibw_factor == pytest.approx(3.98713e-4, rel=1e-4)
    assert f.ibw_kg == pytest.approx(86.16, abs=1e-3)
    assert f.reference_time_source == "series_datetime"
    assert f.injection_time_source.startswith("RadiopharmaceuticalStartTime (0018,1072)")
    assert f.dose_bq_used == 588802304.0 and f.half_life_s_used == 6588.0
    # default SUL is Janmahasatian and differs from James
    assert compute_suv_factors(ac).lbm_factor != pytest.approx(f.lbm_factor, rel=1e-3)


def test_acrin_ge_private_date_trap(ac):
    """The GE private (0009,xx0D) scan datetime is on a different shifted date than the public tags."""
    assert ac.manufacturer.startswith("GE")
    assert ac.ge_private_scan_datetime is not None
    assert (
        ac.series_datetime - ac.ge_private_scan_datetime
    ).days == 23  # mixing them = 23-day decay
    f = compute_suv_factors(ac)
    assert f.decay_interval_s == pytest.approx(9527.0)  # 07:21:00 -> 09:59:47, not 23 days
    # GE multi-bed FrameReferenceTime is not mistaken for a timing conflict; the only warning is the
    # long uptake (159 min, outside EANM's 55-75 min)
    assert len(f.warnings) == 1 and "uptake time 159 min" in f.warnings[0]
    # Same header as if post-processed (SeriesTime after AcquisitionTime): the GE private time is the QIBA
    # next choice, but it must be rejected for its shifted date.
    later = (ac.series_datetime + timedelta(hours=1)).time()
    f2 = compute_suv_factors(dataclasses.replace(ac, series_time=later))
    assert (
        f2.reference_time_source == "earliest_acquisition_datetime"
    )  # GE: one AcquisitionTime = scan start
    assert f2.decay_interval_s == pytest.approx(9527.0)
    assert f2.bw_factor == pytest.approx(4.2111e-4, rel=1e-4)
    assert any("GE private scan datetime" in w and "different date" in w for w in f2.warnings)


def test_acrin_nac_refused_with_unsupported_units(acrin_root):
    folder = acrin_root / "PT_2_PET_NAC_462754"
    acq = read_pet_acquisition(headers(folder), source=str(folder))
    with pytest.raises(SuvError) as e:
        compute_suv_factors(acq)
    assert e.value.code == "UNSUPPORTED_UNITS"
    assert "PROPCNTS" in str(e.value) and acq.series_instance_uid in str(e.value)


def test_acrin_jpegls_headers_give_identical_factors(ac, acrin_root):
    folder = acrin_root.parent / "study_jpegls" / "PT_1_PET_AC_081015"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    acq = read_pet_acquisition(headers(folder), source=str(folder))
    assert compute_suv_factors(acq).bw_factor == compute_suv_factors(ac).bw_factor
