"""Timepoints (roles and refusals), kinetics and the proposed categories: exact rules."""

from __future__ import annotations

import math
from datetime import date

import pytest

from carpet.config import ResponseConfig
from carpet.errors import ConfigError, InputError
from carpet.response.categories import (
    deauville_proxy,
    lugano_proxy,
    lyric_candidates,
    propose_categories,
    qpet_score,
)
from carpet.response.kinetics import compute_kinetics
from carpet.response.timepoints import (
    StudyIdentity,
    assign_roles,
    check_chronology,
    check_same_patient,
    check_same_tracer,
    normalize_tracer,
    parse_date,
)


def ident(label, **kw):
    return StudyIdentity(label=label, **kw)


# ----------------------------------------------------------------------------- refusals (exact messages)


def test_response_refuses_different_patient_ids():
    a, b = ident("bl", patient_id="P1"), ident("fu", patient_id="P2")
    with pytest.raises(InputError) as e:
        check_same_patient([a, b])
    assert e.value.code == "DIFFERENT_PATIENTS"
    assert str(e.value) == (
        "studies of different patients: bl and fu have different PatientID. "
        "Pass --allow-different-patients if this is intended."
    )
    notes = check_same_patient([a, b], allow_different_patients=True)
    assert notes == ["bl and fu have different PatientID (allowed by --allow-different-patients)"]


def test_response_refuses_anonymised_sex_and_birth_date_mismatch():
    a = ident("bl", sex="M", birth_date=date(1960, 1, 2))
    b = ident("fu", sex="F", birth_date=date(1971, 5, 6))
    with pytest.raises(InputError) as e:
        check_same_patient([a, b])
    assert str(e.value) == (
        "studies of different patients: bl and fu have no PatientID to compare, and their sex (M vs F) "
        "and birth date (1960-01-02 vs 1971-05-06) differ. Pass --allow-different-patients if this is intended."
    )
    # only one of the two differs: not a clear mismatch, accepted with a note
    c = ident("fu", sex="F", birth_date=date(1960, 1, 2))
    assert check_same_patient([a, c]) == [
        "fu: no PatientID to compare with bl; sex and birth date do not contradict"
    ]
    assert check_same_patient([ident("bl", patient_id="X"), ident("fu", patient_id=" X ")]) == []


def test_response_refuses_followup_before_baseline():
    a, b = ident("bl", study_date=date(2024, 3, 1)), ident("fu", study_date=date(2024, 2, 1))
    with pytest.raises(InputError) as e:
        check_chronology([a, b])
    assert e.value.code == "FOLLOWUP_BEFORE_BASELINE"
    assert str(e.value) == (
        "follow-up fu is dated 2024-02-01, before its baseline bl (2024-03-01); give the baseline first "
        "and the studies in chronological order."
    )
    check_chronology([a, ident("fu", study_date=date(2024, 3, 1)), ident("x", study_date=None)])


def test_response_refuses_different_tracers():
    a = ident("bl", tracer=normalize_tracer("Fluorodeoxyglucose"))
    b = ident("fu", tracer=normalize_tracer("Ga-68 PSMA-11"))
    with pytest.raises(InputError) as e:
        check_same_tracer([a, b])
    assert e.value.code == "DIFFERENT_TRACERS"
    assert str(e.value) == (
        "different tracers: bl is FDG, fu is GA68; response assessment compares studies made with the "
        "same tracer."
    )
    # radionuclide-only F-18 is compatible with FDG; unknown tracer is not refused
    check_same_tracer([a, ident("fu", tracer=normalize_tracer(None, "^18^Fluorine")), ident("x")])


def test_response_roles_from_dates_and_order():
    d = [date(2024, 1, 2), date(2024, 1, 20), date(2024, 2, 26), date(2024, 4, 25)]
    tps = assign_roles(d, infusion_date=date(2024, 1, 27))
    assert [(t.role, t.day_from_infusion) for t in tps] == [
        ("TD", -25),
        ("TT", -7),
        ("M1", 30),
        ("M3", 89),
    ]
    tps = assign_roles(d[:2])
    assert [t.role for t in tps] == ["TD", "TT"] and tps[0].day_from_infusion is None
    tps = assign_roles([date(2024, 1, 20), date(2024, 7, 1)], infusion_date=date(2024, 1, 27))
    assert [t.role for t in tps] == ["TT", "other"]
    assert [t.role for t in assign_roles(d[:2], roles=["TT", "M1"])] == ["TT", "M1"]
    with pytest.raises(
        ConfigError, match=r"--roles: expected 2 roles from \['TD', 'TT', 'M1', 'M3', 'other'\]"
    ):
        assign_roles(d[:2], roles=["TT", "M2"])
    with pytest.raises(
        ConfigError, match="--infusion-date: expected a date YYYY-MM-DD; got '2024-13-01'"
    ):
        parse_date("2024-13-01")


# ----------------------------------------------------------------------------- kinetics


def test_response_kinetics_exact_and_null_where_undefined():
    b = {"tmtv_ml": 80.0, "tlg": 400.0, "suv_max": 20.0, "suv_peak": 16.0}
    f = {"tmtv_ml": 160.0, "tlg": 500.0, "suv_max": 5.0, "suv_peak": 4.0}
    k = compute_kinetics(b, f, interval_days=14)
    assert k["tmtv_ml"] == 80.0 and k["tmtv_pct"] == 100.0
    assert k["tlg"] == 100.0 and k["tlg_pct"] == 25.0
    assert (
        k["suv_max_pct"] == -75.0
        and k["suv_peak_pct"] == -75.0
        and k["suv_max_reduction_pct"] == 75.0
    )
    assert k["tmtv_growth_per_day"] == pytest.approx(math.log(2) / 14)
    assert k["tmtv_doubling_time_days"] == pytest.approx(14.0)
    # shrinking: rate negative, no doubling time
    k = compute_kinetics(f, b, interval_days=14)
    assert (
        k["tmtv_growth_per_day"] == pytest.approx(-math.log(2) / 14)
        and k["tmtv_doubling_time_days"] is None
    )
    # zero baseline, zero follow-up, zero or unknown interval, missing values: null, never an error
    zero = {"tmtv_ml": 0.0, "tlg": 0.0, "suv_max": None, "suv_peak": float("nan")}
    k = compute_kinetics(zero, f, interval_days=10)
    assert k["tmtv_pct"] is None and k["tlg_pct"] is None and k["suv_max_pct"] is None
    assert k["tmtv_growth_per_day"] is None and k["tmtv_ml"] == 160.0
    assert compute_kinetics(b, zero, interval_days=10)["tmtv_pct"] == -100.0
    assert compute_kinetics(b, zero, interval_days=10)["tmtv_growth_per_day"] is None
    assert compute_kinetics(b, f, interval_days=0)["tmtv_growth_per_day"] is None
    assert compute_kinetics(b, f, interval_days=None)["tmtv_doubling_time_days"] is None


# ----------------------------------------------------------------------------- categories


@pytest.mark.parametrize(
    ("uptake", "expected"),
    [
        (None, 1),
        (0.75, 1),  # = 0.5 x MBP: no uptake above background
        (0.76, 2),
        (1.5, 2),  # = MBP
        (1.51, 3),
        (2.0, 3),  # = liver
        (2.01, 4),
        (4.0, 4),  # = 2 x liver
        (4.01, 5),
    ],
)
def test_response_deauville_each_boundary(uptake, expected):
    assert deauville_proxy(uptake, liver_ref=2.0, mbp_ref=1.5) == expected


def test_response_deauville_new_lesion_and_multiplier():
    assert deauville_proxy(1.0, liver_ref=2.0, mbp_ref=1.5, new_lesions=True) == 5
    assert deauville_proxy(5.0, liver_ref=2.0, mbp_ref=1.5, marked_multiplier=3.0) == 4
    assert deauville_proxy(6.01, liver_ref=2.0, mbp_ref=1.5, marked_multiplier=3.0) == 5


def test_response_qpet_bands():
    assert qpet_score(1.9, 2.0) == (0.95, "1-3")
    assert qpet_score(1.92, 2.0)[1] == "4"
    assert qpet_score(4.0, 2.0) == (2.0, "5")
    assert qpet_score(3.0, None) == (None, None)


@pytest.mark.parametrize(
    ("ds", "new", "change", "expected"),
    [
        (3, False, -80.0, "CMR"),
        (1, False, None, "CMR"),
        (4, False, -30.0, "PMR"),
        (5, False, -29.9, "NMR"),
        (4, False, 29.9, "NMR"),
        (4, False, 30.0, "PMD"),
        (2, True, -90.0, "PMD"),
    ],
)
def test_response_lugano_each_category(ds, new, change, expected):
    assert lugano_proxy(ds, new_lesions=new, uptake_change_pct=change) == expected


def test_response_lyric_candidates():
    grow = [{"delta_volume_pct": 10.0, "delta_suv_max_pct": 5.0}]
    assert lyric_candidates(
        "PMD", day_from_infusion=28, new_lesion_count=0, tmtv_pct=60.0, lesion_changes=grow
    ) == ["IR1"]
    assert lyric_candidates("PMD", day_from_infusion=28, new_lesion_count=1, tmtv_pct=10.0) == [
        "IR2"
    ]
    big = [{"delta_volume_pct": 70.0, "delta_suv_max_pct": 0.0}]
    assert lyric_candidates(
        "PMD", day_from_infusion=28, new_lesion_count=0, tmtv_pct=20.0, lesion_changes=big
    ) == ["IR2"]
    hot = [{"delta_volume_pct": 5.0, "delta_suv_max_pct": 45.0}]
    assert lyric_candidates(
        "PMD", day_from_infusion=28, new_lesion_count=0, tmtv_pct=5.0, lesion_changes=hot
    ) == ["IR3"]
    # outside 12 weeks, unknown infusion, or not PMD: none
    assert lyric_candidates("PMD", day_from_infusion=85, new_lesion_count=1, tmtv_pct=10.0) == []
    assert lyric_candidates("PMD", day_from_infusion=None, new_lesion_count=1, tmtv_pct=10.0) == []
    assert lyric_candidates("NMR", day_from_infusion=28, new_lesion_count=0, tmtv_pct=60.0) == []


def test_response_proposals_are_marked_proposed_with_sources():
    p = propose_categories(
        uptake_suv=3.0,
        uptake_source="residual",
        lesion_suv_peak=2.5,
        baseline_suv_max=12.0,
        liver={"suv_mean": 2.0, "suv_max": 2.0},
        mbp={"suv_mean": 1.5, "suv_max": 1.5},
        new_lesion_count=0,
        tmtv_pct=-80.0,
        day_from_infusion=30,
    )
    assert p["status"] == "proposed" and p["reader_confirmed"] == {
        "deauville": None,
        "lugano": None,
        "lyric": None,
    }
    assert (
        p["deauville_proxy"] == 4 and p["lugano_proxy"] == "PMR" and p["uptake_change_pct"] == -75.0
    )
    assert p["qpet"] == 1.25 and p["lesion_to_liver"] == 1.5 and p["lesion_to_mbp"] == 2.0
    assert "Wahl" in p["thresholds"]["lugano_decrease_pct"]["source"]
    # a missing reference: no Deauville unless new lesions force 5
    p = propose_categories(
        uptake_suv=3.0,
        uptake_source="x",
        lesion_suv_peak=None,
        baseline_suv_max=12.0,
        liver=None,
        mbp=None,
        new_lesion_count=0,
        tmtv_pct=None,
        day_from_infusion=None,
    )
    assert p["deauville_proxy"] is None and p["lugano_proxy"] is None and p["qpet"] is None
    with pytest.raises(ConfigError, match="qpet_ds4_cutoff"):
        ResponseConfig(qpet_ds4_cutoff=3.0)


def test_response_kinetics_table_per_patient():
    import pandas as pd

    from carpet.errors import TableValidationError
    from carpet.response.kinetics import kinetics_table

    t = pd.DataFrame(
        {
            "patient_id": ["b", "a", "a", "a", "b"],
            "study_date": ["2024-03-01", "2024-01-20", "2024-01-01", "2024-02-27", "2024-02-01"],
            "tmtv_ml": [30.0, 100.0, 50.0, 10.0, 60.0],
            "tlg": [1.0, 2.0, 1.0, 1.0, 1.0],
            "suv_max": [6.0, 12.0, 10.0, 3.0, 12.0],
            "suv_peak": [5.0, 10.0, 8.0, 2.0, 10.0],
        }
    )
    k = kinetics_table(t)
    assert list(k["patient_id"]) == ["a", "a", "a", "b", "b"]
    assert list(k["timepoint_index"]) == [0, 1, 2, 0, 1] and list(k["days_from_first"]) == [
        0,
        19,
        57,
        0,
        29,
    ]
    assert k["delta_tmtv_pct_vs_first"].tolist() == [None, 100.0, -80.0, None, -50.0]
    assert k["delta_tmtv_pct_vs_previous"].tolist()[2] == -90.0
    assert k["delta_tmtv_growth_per_day_vs_first"][1] == pytest.approx(math.log(2) / 19)
    with pytest.raises(TableValidationError, match="column 'study_date' missing"):
        kinetics_table(t.drop(columns=["study_date"]))
