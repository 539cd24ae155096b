"""Batch export adds per-patient kinetics (issue 9: batch groups one patient's studies)."""

from __future__ import annotations

import math

import pytest

from carpet.batch.export import _with_kinetics


def _row(pid, tp, key, tmtv, suv_max=10.0):
    return {"patient_id": pid, "timepoint": tp, "study_key": key, "timepoint_index": 0,
            "tmtv_ml": tmtv, "tlg": tmtv * 5, "suv_max": suv_max, "suv_peak": suv_max * 0.8}


def test_kinetics_vs_first_and_previous_per_patient():
    rows = [
        _row("a", "2024-01-01", "a1", 100.0, 10.0),
        _row("a", "2024-01-11", "a2", 200.0, 5.0),
        _row("a", "2024-01-21", "a3", 100.0, 5.0),
        _row("b", "2024-03-01", "b1", 50.0),
    ]
    out = list(_with_kinetics(iter(rows)))
    assert [r["study_key"] for r in out] == ["a1", "a2", "a3", "b1"]
    a1, a2, a3, b1 = out
    assert a1["delta_tmtv_ml_vs_first"] is None and a1["days_from_first"] == 0
    assert a2["delta_tmtv_ml_vs_first"] == pytest.approx(100.0)
    assert a2["delta_tmtv_pct_vs_first"] == pytest.approx(100.0)
    assert a2["delta_suv_max_pct_vs_previous"] == pytest.approx(-50.0)
    assert a2["delta_tmtv_growth_per_day_vs_first"] == pytest.approx(math.log(2) / 10)
    assert a3["days_from_first"] == 20
    assert a3["delta_tmtv_pct_vs_previous"] == pytest.approx(-50.0)
    assert a3["delta_tmtv_pct_vs_first"] == pytest.approx(0.0)
    assert b1["delta_tmtv_ml_vs_first"] is None  # a patient's only study has no kinetics


def test_manifest_labels_without_dates_leave_kinetics_empty():
    rows = [_row("a", "TD", "a1", 100.0), _row("a", "TT", "a2", 200.0)]
    out = list(_with_kinetics(iter(rows)))
    assert all(r["delta_tmtv_ml_vs_first"] is None for r in out)
    assert set(out[0]) == set(list(_with_kinetics(iter([_row("z", "2024-01-01", "z", 1.0)])))[0])
