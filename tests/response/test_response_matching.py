"""Lesion matching on phantom pairs: the patient moved, headers differ, truth known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from carpet.pipeline import analyze
from carpet.response.compare import AnalysedTimepoint, compare_pair
from carpet.response.matching import MATCH_COLUMNS, match_lesions
from carpet.response.registration import register_studies
from carpet.response.timepoints import assign_roles
from carpet.synthetic.phantom import (
    ORGAN_SUV,
    LesionSpec,
    PatientSpec,
    RigidPose,
    make_whole_body_study,
)

SP = (4.0, 4.0, 4.0)
POSE = RigidPose(rotation_deg=(1.5, -1.0, 3.0), translation_mm=(28.0, -17.0, 35.0))

# anatomical sites (LPS mm, before the pose)
STAY = (-5.0, -35.0, -370.0)  # mediastinal: shrinks, less uptake
HOTTER = (-55.0, 20.0, -430.0)  # right hilar: same size, hotter
GONE = (-80.0, 0.0, -560.0)  # in the liver dome: vanishes (residual = liver)
NEW = (130.0, 10.0, -330.0)  # left axilla: new at follow-up
PAIR_A, PAIR_B = (-130.0, 10.0, -340.0), (-130.0, 10.0, -370.0)  # right axilla: two -> one (merged)
SPLIT = (60.0, 0.0, -300.0)  # left supraclavicular/upper chest: one -> two (split)
SPLIT_A, SPLIT_B = (60.0, 0.0, -285.0), (60.0, 0.0, -315.0)


@pytest.fixture(scope="module")
def pair():  # ~5 s: two analyses and a registration, shared by the module
    base = [
        LesionSpec(STAY, 14.0, 12.0, "stay"),
        LesionSpec(HOTTER, 11.0, 8.0, "hotter"),
        LesionSpec(GONE, 12.0, 9.0, "gone"),
        LesionSpec(PAIR_A, 10.0, 7.0, "pair_a"),
        LesionSpec(PAIR_B, 10.0, 6.5, "pair_b"),
        LesionSpec(SPLIT, 25.0, 10.0, "split"),
    ]
    fu = [
        LesionSpec(STAY, 10.0, 6.0, "stay"),
        LesionSpec(HOTTER, 11.0, 15.0, "hotter"),
        LesionSpec(NEW, 11.0, 9.5, "new"),
        LesionSpec(
            ((PAIR_A[0] + PAIR_B[0]) / 2, 10.0, (PAIR_A[2] + PAIR_B[2]) / 2), 26.0, 7.5, "merged"
        ),
        LesionSpec(SPLIT_A, 10.0, 8.0, "split_a"),
        LesionSpec(SPLIT_B, 10.0, 8.5, "split_b"),
    ]
    a = make_whole_body_study(fov="thorax", spacing_mm=SP, lesions=base, seed=2)
    b = make_whole_body_study(
        fov="thorax",
        spacing_mm=SP,
        lesions=fu,
        seed=2,
        pose=POSE,
        patient=PatientSpec(weight_kg=68.0),
    )
    ra, rb = analyze(a, ct=a.ct), analyze(b, ct=b.ct)
    reg = register_studies(a.suv, b.suv, baseline_ct=a.ct, followup_ct=b.ct)
    return a, b, ra, rb, reg


def _lesion_id(result, study, site):
    """analyze's lesion id of the synthetic lesion at ``site`` (by the truth label map)."""
    les = next(s for s in study.lesions if s.site == site)
    truth = study.lesion_truth.array == les.lesion_id
    ids = np.unique(result.labels.array[truth])
    ids = ids[ids > 0]
    assert len(ids) == 1, (site, ids)
    return int(ids[0]), les


def test_response_registration_recovers_the_pose(pair):
    a, b, _, _, reg = pair
    pts = a.suv.index_to_world(np.argwhere(a.organs.array > 0)[::97])
    err = np.linalg.norm(reg.followup_to_baseline(POSE.anatomy_to_scanner(pts)) - pts, axis=1)
    assert err.max() < 2.0 and reg.method == "ct"
    assert reg.rotation_deg == pytest.approx(
        np.degrees(np.arccos((np.trace(POSE.rotation_matrix) - 1) / 2)), abs=0.5
    )
    # the residual (body-surface distance) is small after registration and large without it
    from carpet.response.registration import _fraction, _residual_mm

    assert reg.residual_mm < 3.0
    fa, fb = _fraction(a.ct, -500.0, 8.0), _fraction(b.ct, -500.0, 8.0)
    assert _residual_mm(fa, fb, np.eye(4)) > 10.0
    assert _residual_mm(fa, fb, reg.matrix) == pytest.approx(reg.residual_mm)


def test_response_matching_exact_statuses_and_deltas(pair):
    a, b, ra, rb, reg = pair
    m = match_lesions(
        ra.lesions,
        rb.lesions,
        baseline_labels=ra.labels,
        followup_labels=rb.labels,
        followup_suv=rb.suv,
        registration=reg,
    )
    t = m.table
    assert list(t.columns) == list(MATCH_COLUMNS)
    got = {
        (
            None if pd_na(r.baseline_id) else int(r.baseline_id),
            None if pd_na(r.followup_id) else int(r.followup_id),
        ): r.status
        for r in t.itertuples()
    }
    bid = {
        s: _lesion_id(ra, a, s)[0] for s in ("stay", "hotter", "gone", "pair_a", "pair_b", "split")
    }
    fid = {
        s: _lesion_id(rb, b, s)[0]
        for s in ("stay", "hotter", "new", "merged", "split_a", "split_b")
    }
    expected = {
        (bid["stay"], fid["stay"]): "matched",
        (bid["hotter"], fid["hotter"]): "matched",
        (bid["gone"], None): "disappeared",
        (None, fid["new"]): "new",
        (bid["pair_a"], fid["merged"]): "merged",
        (bid["pair_b"], fid["merged"]): "merged",
        (bid["split"], fid["split_a"]): "split",
        (bid["split"], fid["split_b"]): "split",
    }
    assert got == expected
    # Δ metrics exact against each timepoint's truth
    row = t[(t.baseline_id == bid["stay"])].iloc[0]
    _, lb = _lesion_id(ra, a, "stay")
    _, lf = _lesion_id(rb, b, "stay")
    assert row.suv_max_baseline == pytest.approx(12.0) and row.suv_max_followup == pytest.approx(
        6.0
    )
    assert row.delta_suv_max_pct == pytest.approx(
        -50.0
    ) and row.delta_suv_peak_pct == pytest.approx(-50.0)
    assert row.volume_ml_baseline == pytest.approx(
        lb.volume_ml
    ) and row.volume_ml_followup == pytest.approx(lf.volume_ml)
    assert row.delta_volume_ml == pytest.approx(lf.volume_ml - lb.volume_ml)
    assert row.distance_mm < 3.0
    hot = t[(t.baseline_id == bid["hotter"])].iloc[0]
    assert hot.delta_suv_max_pct == pytest.approx(87.5)
    # residual uptake at the vanished liver site = the liver's uniform SUV
    gone = t[t.status == "disappeared"].iloc[0]
    assert gone.residual_suv_max_followup == pytest.approx(ORGAN_SUV["liver"], abs=1e-6)
    assert m.residual[bid["gone"]] == pytest.approx(ORGAN_SUV["liver"], abs=1e-6)
    # matched lesions share the picture number; the new one has its own
    assert len(set(t.match_number)) == 6


def test_response_distance_gate_is_a_parameter(pair):
    _, _, ra, rb, reg = pair
    m = match_lesions(
        ra.lesions,
        rb.lesions,
        baseline_labels=ra.labels,
        followup_labels=rb.labels,
        followup_suv=rb.suv,
        registration=reg,
        distance_gate_mm=0.01,
    )
    # nothing within 0.01 mm: only overlap-based links survive
    assert m.count("matched") == 0 and m.count("merged") == 2 and m.count("split") == 2
    with pytest.raises(Exception, match="distance_gate_mm must be > 0 mm"):
        match_lesions(
            ra.lesions,
            rb.lesions,
            baseline_labels=ra.labels,
            followup_labels=rb.labels,
            followup_suv=rb.suv,
            registration=reg,
            distance_gate_mm=0,
        )
    with pytest.raises(
        Exception, match=r"baseline lesion table lacks column\(s\) \['centroid_x_mm'\]"
    ):
        match_lesions(
            ra.lesions.drop(columns=["centroid_x_mm"]),
            rb.lesions,
            baseline_labels=ra.labels,
            followup_labels=rb.labels,
            followup_suv=rb.suv,
            registration=reg,
        )


def test_response_compare_pair_summary(pair):
    a, b, ra, rb, reg = pair
    from datetime import date

    tps = assign_roles([date(2024, 1, 10), date(2024, 2, 25)], infusion_date=date(2024, 1, 26))
    ta = AnalysedTimepoint(
        tps[0], ra.suv, ra.labels, ra.lesions, ra.patient, ra.context["liver"], ra.context["mbp"]
    )
    tb = AnalysedTimepoint(
        tps[1], rb.suv, rb.labels, rb.lesions, rb.patient, rb.context["liver"], rb.context["mbp"]
    )
    s = compare_pair(ta, tb, reg).summary
    truth_a = sum(les.volume_ml for les in a.lesions)
    truth_b = sum(les.volume_ml for les in b.lesions)
    assert s["baseline"]["tmtv_ml"] == pytest.approx(truth_a) and s["followup"][
        "tmtv_ml"
    ] == pytest.approx(truth_b)
    assert s["delta"]["tmtv_ml"] == pytest.approx(truth_b - truth_a)
    assert s["delta"]["tmtv_pct"] == pytest.approx((truth_b - truth_a) / truth_a * 100)
    assert s["delta"]["suv_max_pct"] == pytest.approx((15.0 - 12.0) / 12.0 * 100)
    assert s["interval_days"] == 46 and s["followup"]["day_from_infusion"] == 30
    assert s["baseline"]["liver_suv_mean"] == pytest.approx(ORGAN_SUV["liver"])
    assert s["followup"]["mbp_suv_mean"] == pytest.approx(ORGAN_SUV["blood_pool"])
    # a new lesion: proposed Deauville 5 and Lugano PMD; LYRIC IR2 within 12 weeks
    assert s["new_lesion_count"] == 1 and s["deauville_proxy"] == 5 and s["lugano_proxy"] == "PMD"
    assert s["categories"]["status"] == "proposed"
    assert s["qpet"] == pytest.approx(15.0 / ORGAN_SUV["liver"], rel=1e-6)


def pd_na(v):
    import pandas as pd

    return bool(pd.isna(v))


@pytest.mark.parametrize("modality", ["ct", "pet"])
def test_response_registration_with_different_scan_ranges(modality):
    """Whole-body baseline, chest-only follow-up: the body centres of mass do not correspond."""
    from carpet.response.registration import register_rigid

    pose = RigidPose((2.0, -1.0, 4.0), (30.0, -20.0, 50.0))
    a = make_whole_body_study(fov="whole_body", spacing_mm=(8.0, 8.0, 8.0), n_lesions=3, seed=1)
    b = make_whole_body_study(
        fov="thorax", spacing_mm=(8.0, 8.0, 8.0), n_lesions=3, seed=1, pose=pose
    )
    fixed, moving = (a.ct, b.ct) if modality == "ct" else (a.suv, b.suv)
    reg = register_rigid(fixed, moving, modality=modality)
    pts = b.suv.index_to_world(np.argwhere(b.organs.array > 0)[::101])
    err = np.linalg.norm(reg.followup_to_baseline(pts) - pose.scanner_to_anatomy(pts), axis=1)
    assert err.mean() < 2.0 and err.max() < 3.0, (err.mean(), err.max())
    assert reg.residual_mm < 3.0
