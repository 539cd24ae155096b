"""The analytic phantom: anatomy placement, organ values, lesion truth, pose, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carpet.errors import ConfigError
from carpet.synthetic import (
    ORGAN_LABELS,
    ORGAN_SUV,
    LesionSpec,
    PatientSpec,
    RigidPose,
    make_whole_body_study,
)
from carpet.units import Unit


@pytest.fixture(scope="module")
def wb():
    return make_whole_body_study(spacing_mm=(6.0, 6.0, 6.0), seed=3)


def _centroid(study, name):
    idx = np.argwhere(study.organs.array == ORGAN_LABELS[name]).mean(axis=0)
    return study.organs.index_to_world([idx])[0]  # LPS: +x left, +y posterior, +z superior


def test_grid_types_and_units(wb):
    assert wb.suv.unit is Unit.SUV_BW and wb.suv.array.dtype == np.float32
    assert wb.ct.unit is Unit.HU
    assert wb.organs.array.dtype == np.uint8 and wb.lesion_truth.array.dtype == np.int16
    for v in (wb.ct, wb.organs, wb.lesion_truth):
        assert v.same_grid_as(wb.suv)
    # head-first-supine reader convention: slices towards the head, rows posterior, columns left
    assert wb.suv.orientation == "SPL"
    # whole-body FOV covers vertex to feet
    z = wb.suv.index_to_world([[0, 0, 0], [wb.suv.shape[0] - 1, 0, 0]])[:, 2]
    assert z[1] - z[0] > 1700


def test_every_organ_present_and_anatomically_placed(wb):
    c = {name: _centroid(wb, name) for name in ORGAN_LABELS if name != "body"}
    assert all(np.isfinite(v).all() for v in c.values())
    # head at the top, bladder lowest of the organs, midline
    assert c["brain"][2] == max(v[2] for v in c.values())
    assert c["bladder"][2] == min(v[2] for k, v in c.items() if k not in ("bone", "marrow"))
    assert abs(c["bladder"][0]) < 10
    # liver right (LPS x < 0), spleen left, kidneys paravertebral and posterior
    assert c["liver"][0] < -40 and c["spleen"][0] > 40
    assert c["kidney_left"][0] > 40 and c["kidney_right"][0] < -40
    assert c["kidney_left"][1] > 30 and c["kidney_right"][1] > 30
    # heart left-anterior chest, between the lungs' heights; liver below the heart
    assert c["myocardium"][0] > 0 and c["myocardium"][1] < 0
    assert c["liver"][2] < c["myocardium"][2] < c["lungs"][2] + 100
    # descending aorta is left paravertebral: blood-pool voxels at kidney height are left and posterior
    z_kid = c["kidney_left"][2]
    k = int(round(wb.suv.world_to_index([[0, 0, z_kid]])[0][0]))
    pts = np.argwhere(wb.organs.array[k] == ORGAN_LABELS["blood_pool"])
    world = wb.suv.index_to_world(np.c_[np.full(len(pts), k), pts])
    assert len(pts) > 0 and world[:, 0].mean() > 10 and world[:, 1].mean() > 20


def test_organ_values_are_uniform_and_match_table(wb):
    suv, org, les = wb.suv.array, wb.organs.array, wb.lesion_truth.array
    for name, lab in ORGAN_LABELS.items():
        vals = suv[(org == lab) & (les == 0)]
        assert vals.size > 0, name
        assert np.all(vals == np.float32(ORGAN_SUV[name])), name
    assert np.all(suv[org == 0][les[org == 0] == 0] == 0)
    assert wb.ct.array[org == 0].max() == -1000
    assert wb.ct.array[org == ORGAN_LABELS["lungs"]].max() < -500
    assert wb.ct.array[org == ORGAN_LABELS["bone"]].min() > 300


def test_lesion_truth_counts_and_sites(wb):
    assert len(wb.lesions) == 8
    sites = {les.site for les in wb.lesions}
    assert "liver" in sites and any(s.startswith("iliac") for s in sites)  # beside the bladder
    ids, counts = np.unique(wb.lesion_truth.array[wb.lesion_truth.array > 0], return_counts=True)
    assert dict(zip(ids.tolist(), counts.tolist(), strict=True)) == {
        les.lesion_id: les.n_voxels for les in wb.lesions
    }
    for les in wb.lesions:
        assert 5 <= les.suv <= 25
        assert les.volume_ml == pytest.approx(les.n_voxels * wb.suv.voxel_volume_ml)
        assert np.all(wb.suv.array[wb.lesion_truth.array == les.lesion_id] == np.float32(les.suv))


def test_lesion_volume_converges_to_sphere_volume():
    # voxel-centre counting of a 15 mm sphere on a 1×2×2 mm grid: within 2 % of 4/3·π·r³
    spec = LesionSpec((-5.0, -35.0, -370.0), 15.0, 10.0, "mediastinal")
    s = make_whole_body_study(
        fov="thorax", spacing_mm=(1.0, 2.0, 2.0), lesions=[spec], with_ct=False
    )
    exact = 4.0 / 3.0 * math.pi * 15.0**3 / 1000.0
    assert s.lesions[0].volume_ml == pytest.approx(exact, rel=0.02)


def test_pose_translation_shifts_the_image_exactly():
    kw = dict(fov="thorax", spacing_mm=(4.0, 8.0, 8.0), n_lesions=3, with_ct=False, seed=1)
    a = make_whole_body_study(**kw)
    b = make_whole_body_study(pose=RigidPose(translation_mm=(16.0, -8.0, 8.0)), **kw)
    # +16 mm in x = +2 columns, −8 mm in y = −1 row, +8 mm in z = +2 slices
    assert np.array_equal(b.organs.array[4:, :-2, 4:], a.organs.array[2:-2, 1:-1, 2:-2])
    for la, lb in zip(a.lesions, b.lesions, strict=True):
        assert np.allclose(np.subtract(lb.center_mm, la.center_mm), (16.0, -8.0, 8.0))
        assert la.n_voxels == lb.n_voxels


def test_pose_rotation_moves_organs_rigidly():
    kw = dict(fov="thorax", spacing_mm=(4.0, 4.0, 4.0), n_lesions=0, with_ct=False)
    a = make_whole_body_study(**kw)
    pose = RigidPose(rotation_deg=(0.0, 0.0, 10.0), translation_mm=(5.0, 0.0, 0.0))
    b = make_whole_body_study(pose=pose, **kw)
    for organ in ("liver", "myocardium", "spleen"):
        expected = pose.anatomy_to_scanner(_centroid(a, organ))[0]
        assert np.linalg.norm(_centroid(b, organ) - expected) < 2.0, organ
    # matrix and inverse are consistent
    p = np.array([[10.0, -20.0, -400.0]])
    assert np.allclose(pose.scanner_to_anatomy(pose.anatomy_to_scanner(p)), p)
    assert np.allclose((pose.matrix @ np.r_[p[0], 1.0])[:3], pose.anatomy_to_scanner(p)[0])


def test_deterministic_and_seeded():
    kw = dict(fov="head_neck", spacing_mm=(8.0, 8.0, 8.0), n_lesions=2, with_ct=False)
    a, b, c = (make_whole_body_study(seed=s, **kw) for s in (5, 5, 6))
    assert np.array_equal(a.suv.array, b.suv.array) and a.lesions == b.lesions
    assert a.lesions != c.lesions


def test_noise_is_relative_and_seeded():
    kw = dict(fov="head_neck", spacing_mm=(8.0, 8.0, 8.0), n_lesions=0, with_ct=False)
    clean = make_whole_body_study(**kw)
    noisy = make_whole_body_study(noise_sd=0.1, **kw)
    brain = clean.organs.array == ORGAN_LABELS["brain"]
    assert noisy.suv.array[clean.suv.array == 0].max() == 0  # relative noise: air stays 0
    rel = noisy.suv.array[brain] / clean.suv.array[brain] - 1.0
    assert 0.07 < rel.std() < 0.13 and abs(rel.mean()) < 0.02


def test_height_scales_anatomy_and_patient_is_recorded():
    tall = make_whole_body_study(
        fov="head_neck",
        spacing_mm=(8, 8, 8),
        n_lesions=0,
        with_ct=False,
        patient=PatientSpec(weight_kg=90, height_m=1.95, sex="F", age_years=40),
    )
    assert tall.patient.sex == "F"
    assert (
        tall.suv.shape[0]
        > make_whole_body_study(
            fov="head_neck", spacing_mm=(8, 8, 8), n_lesions=0, with_ct=False
        ).suv.shape[0]
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fov="legs"), "fov must be one of"),
        (dict(spacing_mm=(0, 2, 2)), "spacing_mm"),
        (dict(n_lesions=99), "n_lesions must be"),
        (dict(noise_sd=-1), "noise_sd"),
        (dict(fwhm_mm=-1), "fwhm_mm"),
    ],
)
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_whole_body_study(**kwargs)


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: PatientSpec(weight_kg=5), "weight_kg"),
        (lambda: PatientSpec(sex="X"), "sex"),
        (lambda: LesionSpec((0, 0, 0), -1, 5), "radius_mm"),
    ],
)
def test_bad_specs_are_refused(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()


def test_blur_conserves_activity_and_lowers_small_lesion_peaks():
    kw = dict(
        fov="thorax",
        spacing_mm=(4.0, 4.0, 4.0),
        with_ct=False,
        seed=2,
        lesions=[LesionSpec((-5.0, -35.0, -370.0), 6.0, 10.0, "mediastinal")],
    )
    sharp = make_whole_body_study(**kw)
    blurred = make_whole_body_study(fwhm_mm=8.0, **kw)
    no_lesion = make_whole_body_study(fwhm_mm=8.0, **{**kw, "lesions": []})
    # blurring is linear and conserves what is far from the FOV edges: the lesion's excess activity
    excess = float(
        (sharp.suv.array - make_whole_body_study(**{**kw, "lesions": []}).suv.array).sum(
            dtype=np.float64
        )
    )
    blurred_excess = float((blurred.suv.array - no_lesion.suv.array).sum(dtype=np.float64))
    assert blurred_excess == pytest.approx(excess, rel=1e-4)
    les = sharp.lesion_truth.array == 1
    assert sharp.suv.array[les].max() == np.float32(10.0)
    assert blurred.suv.array[les].max() < 8.0  # partial-volume loss in a 12 mm sphere at 8 mm FWHM
    assert np.array_equal(blurred.lesion_truth.array, sharp.lesion_truth.array)
