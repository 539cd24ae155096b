"""Scores on hand-worked patients at every boundary value (methods.md §3.1, §4)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from carpet.config import ScoreConfig
from carpet.errors import InputError
from carpet.score import (
    SCORE_INFOS,
    compute_aaipi,
    compute_car_hematotox,
    compute_dean,
    compute_impi,
    compute_ipi,
    compute_nccn_ipi,
    compute_scores,
    compute_vercellino,
    compute_voltin,
    count_nccn_sites,
)


# ---------------------------------------------------------------- IPI
@pytest.mark.parametrize(
    ("age", "ldh", "ecog", "stage", "en", "points"),
    [
        (60, 250, 1, 2, 1, 0),  # every factor exactly at its boundary, not scoring
        (61, 250, 1, 2, 1, 1),  # age > 60
        (60, 251, 1, 2, 1, 1),  # LDH > ULN (ULN 250)
        (60, 250, 2, 2, 1, 1),  # ECOG >= 2
        (60, 250, 1, 3, 1, 1),  # stage III
        (60, 250, 1, 2, 2, 1),  # > 1 extranodal site
        (61, 251, 2, 4, 2, 5),
    ],
)
def test_ipi_each_factor_at_boundary(age, ldh, ecog, stage, en, points):
    out = compute_ipi(age, ldh, 250, ecog, stage, en)
    assert out["ipi_points"].iloc[0] == points


@pytest.mark.parametrize(
    ("points", "group"),
    [
        (0, "low"),
        (1, "low"),
        (2, "low-intermediate"),
        (3, "high-intermediate"),
        (4, "high"),
        (5, "high"),
    ],
)
def test_ipi_groups(points, group):
    # build a patient with exactly `points` factors
    flags = [1] * points + [0] * (5 - points)
    age = 61 if flags[0] else 60
    ldh = 251 if flags[1] else 250
    ecog = 2 if flags[2] else 1
    stage = 3 if flags[3] else 2
    en = 2 if flags[4] else 1
    out = compute_ipi(age, ldh, 250, ecog, stage, en)
    assert (out["ipi_points"].iloc[0], out["ipi_group"].iloc[0]) == (points, group)


def test_ipi_vectorised_and_missing_gives_missing():
    out = compute_ipi([70, None], [300, 300], [250, 250], [0, 0], [1, 1], [0, 0])
    assert out["ipi_points"].iloc[0] == 2
    assert math.isnan(out["ipi_points"].iloc[1]) and out["ipi_group"].iloc[1] is None


def test_score_input_errors_are_clear():
    with pytest.raises(
        InputError, match=r"score input 'age_years': value 'old' \(position 0\) is not a number"
    ):
        compute_ipi("old", 1, 1, 1, 1, 1)
    with pytest.raises(InputError, match=r"different lengths \[2, 3"):
        compute_ipi([1, 2], [1, 2, 3], 1, 1, 1, 1)


# ---------------------------------------------------------------- aaIPI
@pytest.mark.parametrize(
    ("ldh", "ecog", "stage", "points", "group"),
    [
        (250, 1, 2, 0, "low"),
        (251, 1, 2, 1, "low-intermediate"),
        (250, 2, 3, 2, "high-intermediate"),
        (251, 2, 3, 3, "high"),
    ],
)
def test_aaipi(ldh, ecog, stage, points, group):
    out = compute_aaipi(55, ldh, 250, ecog, stage).iloc[0]
    assert (out["aaipi_points"], out["aaipi_group"]) == (points, group)


def test_aaipi_age_applicability_boundary():
    out = compute_aaipi([60, 61], 250, 250, 0, 1)
    assert out["aaipi_age_applicable"].tolist() == [True, False]


# ---------------------------------------------------------------- NCCN-IPI
@pytest.mark.parametrize(
    ("age", "pts"), [(40, 0), (40.5, 1), (60, 1), (60.5, 2), (75, 2), (75.5, 3)]
)
def test_nccn_age_bands(age, pts):
    assert compute_nccn_ipi(age, 250, 250, 0, 1, 0)["nccn_ipi_points"].iloc[0] == pts


@pytest.mark.parametrize(("ldh", "pts"), [(250, 0), (251, 1), (750, 1), (751, 2)])
def test_nccn_ldh_ratio_bands(ldh, pts):
    assert compute_nccn_ipi(30, ldh, 250, 0, 1, 0)["nccn_ipi_points"].iloc[0] == pts


def test_nccn_other_factors_and_groups():
    base = dict(
        age_years=30, ldh_u_per_l=250, ldh_uln_u_per_l=250, ecog=1, ann_arbor_stage=2, nccn_sites=0
    )
    assert compute_nccn_ipi(**base)["nccn_ipi_points"].iloc[0] == 0
    assert compute_nccn_ipi(**(base | {"ecog": 2}))["nccn_ipi_points"].iloc[0] == 1
    assert compute_nccn_ipi(**(base | {"ann_arbor_stage": 3}))["nccn_ipi_points"].iloc[0] == 1
    assert compute_nccn_ipi(**(base | {"nccn_sites": 1}))["nccn_ipi_points"].iloc[0] == 1
    # group boundaries 1|2, 3|4, 5|6
    groups = {}
    for age, ldh, stage, ecog in [
        (30, 250, 1, 1),
        (45, 250, 1, 1),
        (45, 251, 1, 1),
        (65, 251, 1, 1),
        (65, 251, 3, 1),
        (65, 751, 3, 1),
        (76, 751, 3, 1),
        (76, 751, 3, 2),
    ]:
        out = compute_nccn_ipi(age, ldh, 250, ecog, stage, 0).iloc[0]
        groups[int(out["nccn_ipi_points"])] = out["nccn_ipi_group"]
    assert groups == {
        0: "low",
        1: "low",
        2: "low-intermediate",
        3: "low-intermediate",
        4: "high-intermediate",
        5: "high-intermediate",
        6: "high",
        7: "high",
    }


def test_nccn_site_counting():
    assert count_nccn_sites(["Bone marrow; CNS", "spleen;skin", ""]).tolist() == [2.0, 0.0, 0.0]


# ---------------------------------------------------------------- CAR-HEMATOTOX
@pytest.mark.parametrize(
    ("plt", "anc", "hb", "crp", "fer", "pts"),
    [
        (175.1, 1.2, 9.0, 3.0, 649, 0),
        (175, 1.2, 9.0, 3.0, 649, 1),  # platelets 75-175: 1
        (75, 1.2, 9.0, 3.0, 649, 1),
        (74.9, 1.2, 9.0, 3.0, 649, 2),  # < 75: 2
        (176, 1.19, 9.0, 3.0, 649, 1),  # ANC < 1.2
        (176, 1.2, 8.99, 3.0, 649, 1),  # Hb < 9.0
        (176, 1.2, 9.0, 3.01, 649, 1),  # CRP > 3.0
        (176, 1.2, 9.0, 3.0, 650, 1),  # ferritin 650-2000: 1
        (176, 1.2, 9.0, 3.0, 2000, 1),
        (176, 1.2, 9.0, 3.0, 2000.1, 2),  # > 2000: 2
        (74, 1.1, 8.9, 3.1, 2001, 7),
    ],
)
def test_car_hematotox_boundaries(plt, anc, hb, crp, fer, pts):
    out = compute_car_hematotox(plt, anc, hb, crp, fer).iloc[0]
    assert out["car_hematotox_points"] == pts
    assert out["car_hematotox_group"] == ("low" if pts <= 1 else "high")
    assert not out["car_hematotox_verified"]


def test_car_hematotox_is_labelled_unverified():
    info = SCORE_INFOS["car_hematotox"]
    assert info.verified is False
    assert any("NOT checked against Rejeski 2021 Table 1" in r for r in info.unverified_rules)


# ---------------------------------------------------------------- Vercellino / Dean / Voltin
def test_vercellino_boundaries_and_parameters():
    out = compute_vercellino([80, 80.01, 80, 81], [1, 1, 2, 3])
    assert out["vercellino_points"].tolist() == [0, 1, 1, 2]
    assert out["vercellino_group"].tolist() == ["0 factors", "1 factor", "1 factor", "2 factors"]
    strict = compute_vercellino([10, 10], [2, 3], min_extranodal_sites=3)  # the review's "> 2"
    assert strict["vercellino_points"].tolist() == [0, 1]


def test_dean_boundary():
    assert compute_dean([147.5, 147.51, None])["dean_points"].tolist()[:2] == [0, 1]
    assert compute_dean([100], threshold_ml=99)["dean_group"].tolist() == ["high"]


def test_voltin_boundaries():
    out = compute_voltin([11, 11.01, 5], [16.7, 5, 16.71])
    assert out["voltin_mtv_high"].tolist() == [0, 1, 0]
    assert out["voltin_suv_max_high"].tolist() == [0, 0, 1]


# ---------------------------------------------------------------- IMPI
def test_impi_linear_predictor_hand_computed():
    # below the knot: 0.003077330*300 + 0.008092449*50 + 0.281141117 (stage 3)
    below = 0.003077330 * 300 + 0.008092449 * 50 + 0.281141117
    # above: 0.003077330*500 - 0.002761985*(500-307.9) + 0.008092449*70 + 0.322247142
    above = 0.003077330 * 500 - 0.002761985 * (500 - 307.9) + 0.008092449 * 70 + 0.322247142
    stage2 = 0.003077330 * 10 + 0.008092449 * 40 - 0.114645415
    out = compute_impi([300, 500, 10], [50, 70, 40], [3, 4, 2])["impi_lp"].to_numpy()
    np.testing.assert_allclose(out, [below, above, stage2], rtol=0, atol=1e-12)
    # continuity at the knot
    k = compute_impi([307.9, 307.9 + 1e-9], 60, 1)["impi_lp"].to_numpy()
    assert abs(k[1] - k[0]) < 1e-9
    assert SCORE_INFOS["impi"].verified is False


# ---------------------------------------------------------------- all together
def test_compute_scores_adds_columns_and_reports_skips():
    t = pd.DataFrame(
        {
            "age_years": [70.0],
            "ldh_u_per_l": [300.0],
            "ldh_uln_u_per_l": [250.0],
            "ecog": [1.0],
            "ann_arbor_stage": [4.0],
            "extranodal_sites": [2.0],
            "tmtv_ml": [200.0],
            "suv_max": [20.0],
        }
    )
    scored, skipped = compute_scores(t, ScoreConfig(dean_mtv_ml=250.0))
    assert scored["ipi_points"].iloc[0] == 4
    assert scored["dean_points"].iloc[0] == 0  # threshold from the config
    assert scored["vercellino_points"].iloc[0] == 2
    assert set(skipped) == {"nccn_ipi", "car_hematotox"}
    assert "extranodal_site_list" in skipped["nccn_ipi"]
    assert "ipi_points" not in t.columns  # input not modified


def test_impi_within_cohort_ranking():
    from carpet.score import rank_impi_in_cohort

    groups = rank_impi_in_cohort(np.arange(10.0))
    assert groups.count("highest 10 %") == 1 and groups[9] == "highest 10 %"
    assert groups[6:9] == ["intermediate 30 %"] * 3
    assert groups[:6] == ["lowest 60 %"] * 6
    # ties share a group; missing stays missing
    assert rank_impi_in_cohort([1.0, 1.0, np.nan]) == ["highest 10 %", "highest 10 %", None]
