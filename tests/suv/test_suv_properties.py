"""Property tests of compute_suv_factors (hypothesis, fixed seed, few examples to stay fast)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from suv_helpers import pet, rp

from carpet.ingest.pet_header import read_pet_acquisition
from carpet.suv import compute_suv_factors

FAST = settings(max_examples=25, deadline=None, derandomize=True)


def _series(weight="75", dose="1e8", start="20250101100000", n=3):
    dss = [pet(i) for i in range(n)]
    for ds in dss:
        ds.PatientWeight = weight
        rp(ds).RadionuclideTotalDose = dose
        rp(ds).RadiopharmaceuticalStartDateTime = start
    return dss


def _f(dss):
    return compute_suv_factors(read_pet_acquisition(dss))


@seed(3)
@FAST
@given(w=st.floats(1.0, 300.0), dose_mbq=st.floats(20.0, 2000.0), minutes=st.integers(5, 600))
def test_bw_factor_matches_closed_form(w, dose_mbq, minutes):
    start = f"20250101{(11 * 60 - minutes) // 60:02d}{(11 * 60 - minutes) % 60:02d}00"
    f = _f(_series(weight=f"{w:.4f}", dose=f"{dose_mbq * 1e6:.1f}", start=start))
    w_kg = float(f"{w:.4f}")
    d = float(f"{dose_mbq * 1e6:.1f}")
    expected = w_kg * 1000 / (d * math.exp(-math.log(2) / 6586.2 * minutes * 60))
    assert f.bw_factor == pytest.approx(expected, rel=1e-9)
    assert f.decay_interval_s == minutes * 60


@seed(4)
@FAST
@given(w=st.floats(2.0, 300.0), dose_mbq=st.floats(20.0, 2000.0))
def test_unit_spellings_give_the_same_factor(w, dose_mbq):
    """Dose in MBq vs Bq and weight in g vs kg are recognised by plausibility."""
    base = _f(_series(weight=f"{w:.3f}", dose=f"{dose_mbq * 1e6:.1f}")).bw_factor
    alt = _f(_series(weight=f"{w * 1000:.0f}", dose=f"{dose_mbq:.1f}")).bw_factor  # grams, MBq
    assert alt == pytest.approx(base, rel=2e-3)


@seed(5)
@FAST
@given(st.randoms(use_true_random=False))
def test_instance_order_does_not_matter(r: random.Random):
    dss = _series(n=5)
    for i, ds in enumerate(dss):
        ds.AcquisitionTime = f"1100{i:02d}"
        ds.DecayCorrection = "NONE"
        ds.CorrectedImage = ["ATTN"]
    a = _f(dss)
    r.shuffle(dss)
    b = _f(dss)
    assert a.bw_factor == b.bw_factor and a.slice_bw_factors == b.slice_bw_factors
