"""Fuzz compute_suv_factors directly on PetAcquisition values (hypothesis, derandomised).

Any combination of present/absent/absurd values gives finite positive factors or a coded SuvError.
"""

from __future__ import annotations

import math
from datetime import datetime, time

from hypothesis import given, settings
from hypothesis import strategies as st

from carpet.core.acquisition import InstanceRecord, PetAcquisition
from carpet.errors import SuvError
from carpet.suv import REFUSAL_CODES, compute_suv_factors

NUM = st.one_of(
    st.none(),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 1e-30, 1e30]),
    st.floats(-1e12, 1e12, allow_nan=False),
    st.floats(0.01, 1e9),
)
DT = st.one_of(st.none(), st.datetimes(datetime(2024, 12, 1), datetime(2025, 2, 1)))
TM = st.one_of(st.none(), st.times())
CS = st.one_of(st.none(), st.sampled_from(["BQML", "CNTS", "GML", "CM2ML", "PROPCNTS", "", "X"]))

record = st.builds(
    InstanceRecord,
    sop_instance_uid=st.sampled_from(["1", "2", "3", None]),
    acquisition_datetime=DT,
    acquisition_time_only=TM,
    frame_duration_ms=NUM,
    frame_reference_time_ms=NUM,
    decay_factor=NUM,
    rescale_slope=NUM,
    rescale_intercept=st.one_of(st.none(), st.just(0.0), NUM),
    philips_suv_scale_factor=NUM,
    philips_activity_concentration_scale_factor=NUM,
)

acquisition = st.builds(
    PetAcquisition,
    series_instance_uid=st.just("1.2.3"),
    units=CS,
    suv_type=st.one_of(
        st.none(), st.sampled_from(["BW", "LBM", "LBMJAMES128", "LBMJANMA", "IBW", "BSA", "X"])
    ),
    decay_correction=st.one_of(st.none(), st.sampled_from(["START", "ADMIN", "NONE", "X"])),
    corrected_image=st.sampled_from(
        [(), ("ATTN",), ("ATTN", "DECY"), ("DECY",), ("ATTN", "DECAY")]
    ),
    radionuclide_total_dose=NUM,
    radionuclide_half_life_s=NUM,
    radionuclide_code=st.one_of(st.none(), st.sampled_from(["C-111A1", "C-131A3", "junk"])),
    radiopharmaceutical_start_datetime=DT,
    radiopharmaceutical_start_time=TM,
    series_date=st.one_of(st.none(), st.dates()),
    series_time=TM,
    decay_correction_datetime=st.one_of(st.none(), DT),
    ge_private_scan_datetime=DT,
    patient_weight=NUM,
    patient_size=NUM,
    patient_sex=st.one_of(st.none(), st.sampled_from(["M", "F", "O"])),
    instances=st.lists(record, min_size=0, max_size=4).map(tuple),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    acquisition,
    st.sampled_from(["janma", "james128", "james120"]),
    st.sampled_from(["dubois", "mosteller"]),
)
def test_any_acquisition_gives_factors_or_coded_refusal(acq, lbm, bsa):
    try:
        f = compute_suv_factors(acq, lbm_formula=lbm, bsa_formula=bsa)
    except SuvError as exc:
        assert exc.code in REFUSAL_CODES
        return
    for v in (
        f.bw_factor,
        f.lbm_factor,
        f.bsa_factor,
        f.ibw_factor,
        *(f.slice_bw_factors or {}).values(),
    ):
        assert v is None or (math.isfinite(v) and v > 0)
    f.to_dict()


def test_seeded_corruptions_of_a_realistic_acquisition():
    """2000 variants of a plausible acquisition with 1-4 fields set to absent/absurd values."""
    import dataclasses
    import random
    from datetime import date, timedelta

    base_recs = tuple(
        InstanceRecord(
            sop_instance_uid=f"1.{i}",
            acquisition_datetime=datetime(2025, 1, 1, 11, 0) + timedelta(minutes=3 * i),
            frame_duration_ms=180000.0,
            frame_reference_time_ms=90000.0 + 180000.0 * i,
            decay_factor=1.01,
            rescale_slope=1.0,
            rescale_intercept=0.0,
            philips_suv_scale_factor=5e-4,
            philips_activity_concentration_scale_factor=1.2,
        )
        for i in range(3)
    )
    base = PetAcquisition(
        series_instance_uid="1.2.3",
        units="BQML",
        suv_type=None,
        decay_correction="START",
        corrected_image=("ATTN", "DECY"),
        radionuclide_total_dose=3.7e8,
        radionuclide_half_life_s=6586.2,
        radionuclide_code="C-111A1",
        radiopharmaceutical_start_datetime=datetime(2025, 1, 1, 10),
        radiopharmaceutical_start_time=time(10),
        series_date=date(2025, 1, 1),
        series_time=time(11),
        study_date=date(2025, 1, 1),
        ge_private_scan_datetime=datetime(2025, 1, 1, 11),
        patient_weight=70.0,
        patient_size=1.75,
        patient_sex="M",
        instances=base_recs,
    )
    numbers = [
        None,
        0.0,
        -1.0,
        1e-30,
        1e30,
        -1e30,
        float("nan"),
        float("inf"),
        1e11,
        368.0,
        7e4,
        185.0,
        3.0,
    ]
    pools = {
        "units": [None, "BQML", "CNTS", "GML", "CM2ML", "PROPCNTS"],
        "suv_type": [None, "BW", "LBM", "IBW", "BSA", "LBMJANMA", "X"],
        "decay_correction": [None, "START", "ADMIN", "NONE", "X"],
        "corrected_image": [(), ("ATTN",), ("DECY",), ("ATTN", "DECY")],
        "patient_sex": [None, "M", "F", "O"],
        "radionuclide_code": [None, "C-131A3", "junk"],
        "series_time": [None, time(0), time(10, 59), time(11, 30), time(23, 59)],
        "series_date": [None, date(2024, 12, 9), date(2025, 1, 2)],
        "radiopharmaceutical_start_time": [None, time(12), time(23, 30)],
    }
    dt_pool = [
        None,
        datetime(2024, 12, 9, 10),
        datetime(2025, 1, 1, 12),
        datetime(2025, 1, 2, 10),
        datetime(1900, 1, 1),
    ]
    rng = random.Random(20261201)
    top_fields = [
        f.name
        for f in dataclasses.fields(PetAcquisition)
        if f.name
        not in ("instances", "series_instance_uid", "source", "inconsistencies", "header_problems")
    ]
    rec_fields = [
        f.name for f in dataclasses.fields(InstanceRecord) if f.name != "sop_instance_uid"
    ]
    outcomes = {}
    for _ in range(2000):
        acq = base
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.6:
                name = rng.choice(top_fields)
                if name in pools:
                    value = rng.choice(pools[name])
                elif "datetime" in name:
                    value = rng.choice(dt_pool)
                elif name in ("study_date",):
                    value = rng.choice(pools["series_date"])
                elif (
                    isinstance(getattr(base, name), float)
                    or getattr(base, name) is None
                    and "dose" in name
                ):
                    value = rng.choice(numbers)
                else:
                    value = rng.choice([None, getattr(base, name)])
                acq = dataclasses.replace(acq, **{name: value})
            else:
                name = rng.choice(rec_fields)
                value = rng.choice(dt_pool) if "datetime" in name else rng.choice(numbers)
                if name == "acquisition_time_only":
                    value = rng.choice([None, time(11), time(0)])
                idx = rng.randrange(3) if rng.random() < 0.3 else None
                recs = tuple(
                    dataclasses.replace(r, **{name: value}) if idx is None or i == idx else r
                    for i, r in enumerate(acq.instances)
                )
                acq = dataclasses.replace(acq, instances=recs)
        try:
            f = compute_suv_factors(acq)
        except SuvError as exc:
            assert exc.code in REFUSAL_CODES
            outcomes[exc.code] = outcomes.get(exc.code, 0) + 1
            continue
        for v in (
            f.bw_factor,
            f.lbm_factor,
            f.bsa_factor,
            f.ibw_factor,
            *(f.slice_bw_factors or {}).values(),
        ):
            assert v is None or (math.isfinite(v) and v > 0), (acq, f)
        outcomes["ok"] = outcomes.get("ok", 0) + 1
    assert outcomes.get("ok", 0) > 200 and len(outcomes) >= 10, outcomes
