"""Reference-time orderings of calculate-suv's ``calculateScanTimes.test.ts`` (cornerstonejs/calculate-suv).

Their expected scan times are reproduced where carpet agrees; the one deliberate divergence (a GE
private scan datetime on another date than the public tags) is tested as carpet's refusal.
"""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from carpet.core.acquisition import InstanceRecord, PetAcquisition
from carpet.errors import SuvError
from carpet.suv import compute_suv_factors


def acq(series_date, series_time, acq_date, acq_times, ge=None):
    sd = date.fromisoformat(series_date)
    st = time.fromisoformat(series_time)
    ad = date.fromisoformat(acq_date)
    return PetAcquisition(
        series_instance_uid="1.2.3",
        units="BQML",
        decay_correction="START",
        corrected_image=("ATTN", "DECY"),
        radionuclide_total_dose=3.7e8,
        radionuclide_half_life_s=6586.2,
        radiopharmaceutical_start_time=time(9, 0),
        patient_weight=70.0,
        series_date=sd,
        series_time=st,
        ge_private_scan_datetime=ge,
        instances=tuple(
            InstanceRecord(
                sop_instance_uid=f"1.2.3.{i}",
                acquisition_datetime=datetime.combine(ad, time.fromisoformat(t)),
            )
            for i, t in enumerate(acq_times)
        ),
    )


@pytest.mark.parametrize(
    ("series_date", "series_time", "acq_date", "acq_times"),
    [
        (
            "2020-11-27",
            "09:30:10.100010",
            "2020-11-27",
            ["09:50:10.120010", "09:47:10.120040", "09:53:40.120010"],
        ),
        (
            "2020-11-27",
            "11:30:10",
            "2020-11-28",
            ["11:50:10", "11:30:10", "12:30:10"],
        ),  # next-day acquisition
        (
            "2020-11-27",
            "17:30:10",
            "2020-11-28",
            ["11:50:10", "11:30:10", "12:30:10"],
        ),  # later time, earlier date
        (
            "2020-11-27",
            "11:30:10",
            "2020-11-27",
            ["11:50:10", "11:30:10", "12:30:10"],
        ),  # equal to earliest
    ],
)
def test_series_datetime_used_when_not_after_earliest_acquisition(
    series_date, series_time, acq_date, acq_times
):
    f = compute_suv_factors(acq(series_date, series_time, acq_date, acq_times))
    assert f.reference_time_source == "series_datetime"
    assert f.reference_datetime == datetime.combine(
        date.fromisoformat(series_date), time.fromisoformat(series_time)
    )


def test_ge_private_on_the_public_date_is_used():
    a = acq(
        "2020-11-27", "13:30:10", "2020-11-27", ["12:30:10"], ge=datetime(2020, 11, 27, 12, 30, 10)
    )
    f = compute_suv_factors(a)
    assert f.reference_time_source == "ge_private_scan_datetime"
    assert f.reference_datetime == datetime(2020, 11, 27, 12, 30, 10)


def test_ge_private_on_another_date_is_refused_where_calculate_suv_uses_it():
    """calculate-suv returns the GE private 2020-11-28 18:30:10 here; with the de-identification date-shift
    trap (ACRIN: 23 days) in mind carpet does not mix dates, and nothing else gives the reference time."""
    a = acq(
        "2020-11-27", "13:30:10", "2020-11-27", ["12:30:10"], ge=datetime(2020, 11, 28, 18, 30, 10)
    )
    with pytest.raises(SuvError) as e:
        compute_suv_factors(a)
    assert e.value.code == "MISSING_FRAME_DURATION"
    assert "ActualFrameDuration (0018,1242)" in str(e.value)
