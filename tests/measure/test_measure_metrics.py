"""Measurements against analytic truth: volumes, TLG, SUVmax/peak, centroids, Dmax, Dbulk, SDmax."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from carpet.core.volume import Volume
from carpet.errors import InputError, SuvError
from carpet.measure import measure_lesions, patient_metrics
from carpet.measure.distance import dmax_voxel_mm, hull_points_mm, sdmax_per_m
from carpet.measure.uptake import peak_radius_mm
from carpet.units import Unit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "segment"))
from seg_builders import axial_affine, labels_like, phantom, world_grid  # noqa: E402

SHAPE = (40, 50, 60)


def _cubes(feet_first=False, spacing=(3.0, 2.0, 2.5)):
    aff = axial_affine(spacing, feet_first=feet_first, n_slices=SHAPE[0])
    # cube half-edges chosen so that voxel counts are exact multiples
    objs = [("cube", (10.0, 20.0, 20.0), 8.0, 6.0), ("cube", (60.0, 40.0, 50.0), 6.0, 12.0)]
    suv = phantom(SHAPE, aff, objs, background=0.5)
    lab = np.zeros(SHAPE, np.int32)
    lab[suv.array == 6.0] = 1
    lab[suv.array == 12.0] = 2
    return suv, labels_like(suv, lab)


@pytest.mark.parametrize("feet_first", [False, True])
def test_measure_lesions_exact_on_cubes_any_slice_order(feet_first):
    suv, lab = _cubes(feet_first)
    t = measure_lesions(suv, lab)
    assert list(t["lesion_id"]) == [1, 2]
    x, y, z = world_grid(SHAPE, suv.affine)
    v_ml = 3.0 * 2.0 * 2.5 / 1000
    for lid, s in ((1, 6.0), (2, 12.0)):
        m = lab.array == lid
        row = t[t.lesion_id == lid].iloc[0]
        assert row.n_voxels == m.sum()
        assert row.volume_ml == pytest.approx(m.sum() * v_ml)
        assert row.suv_max == pytest.approx(s) and row.suv_mean == pytest.approx(s)
        assert row.tlg == pytest.approx(m.sum() * v_ml * s)
        assert row.centroid_x_mm == pytest.approx(x[m].mean())
        assert row.centroid_y_mm == pytest.approx(y[m].mean())
        assert row.centroid_z_mm == pytest.approx(z[m].mean())
    p = patient_metrics(t)
    c = t[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy()
    assert p["lesion_count"] == 2
    assert p["tmtv_ml"] == pytest.approx(t.volume_ml.sum())
    assert p["tlg"] == pytest.approx(v_ml * suv.array[lab.array > 0].astype(float).sum())
    assert p["suv_mean"] == pytest.approx(p["tlg"] / p["tmtv_ml"])
    assert p["suv_max"] == 12.0
    assert p["dmax_mm"] == pytest.approx(np.linalg.norm(c[0] - c[1]))
    assert p["dbulk_mm"] == pytest.approx(p["dmax_mm"])


def test_head_first_and_feet_first_give_identical_tables():
    cols = [
        "lesion_id",
        "volume_ml",
        "suv_max",
        "suv_peak",
        "suv_mean",
        "tlg",
        "centroid_x_mm",
        "centroid_y_mm",
        "centroid_z_mm",
        "n_voxels",
    ]
    a = measure_lesions(*_cubes(False))[cols]
    b = measure_lesions(*_cubes(True))[cols]
    np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float))


def test_dmax_voxel_equals_brute_force_all_pairs(rng):
    aff = axial_affine((3.0, 2.0, 2.5))
    a = np.zeros((20, 24, 24), np.float32)
    lab = np.zeros(a.shape, np.int32)
    for lid in (1, 2, 3):
        pts = rng.integers(0, 20, size=(15, 3))
        lab[pts[:, 0], pts[:, 1], pts[:, 2]] = lid
    a[lab > 0] = 5.0
    suv = Volume(a, aff, unit=Unit.SUV_BW)
    t = measure_lesions(suv, labels_like(suv, lab))
    pts = suv.index_to_world(np.argwhere(lab > 0))
    brute = max(np.linalg.norm(p - q) for p, q in itertools.combinations(pts, 2))
    assert patient_metrics(t)["dmax_voxel_mm"] == pytest.approx(brute)


def test_hull_of_degenerate_lesions():
    line = np.array([[0, 0, z] for z in range(10)], float)
    h = hull_points_mm(line)
    assert dmax_voxel_mm([h]) == pytest.approx(9.0)
    plane = np.array([[x, y, 0] for x in range(5) for y in range(5)], float)
    assert dmax_voxel_mm([hull_points_mm(plane)]) == pytest.approx(np.hypot(4, 4))


def test_suv_peak_of_uniform_sphere_equals_its_suv():
    aff = axial_affine((2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
    suv = phantom((30, 30, 30), aff, [("sphere", (30.0, 30.0, 30.0), 15.0, 10.0)], background=1.0)
    lab = labels_like(suv, suv.array == 10.0)
    t = measure_lesions(suv, lab)
    assert t.suv_peak[0] == pytest.approx(10.0)
    assert peak_radius_mm(1.0) == pytest.approx(6.2035, abs=1e-4)


def test_suv_peak_searches_whole_lesion_and_matches_monte_carlo(rng):
    """A lone hot voxel at the rim of a lesion: the peak lies in the hot bulk, not at the max voxel."""
    aff = axial_affine((3.0, 2.5, 2.0), origin_mm=(0, 0, 0))
    shape = (30, 36, 44)
    x, y, z = world_grid(shape, aff)
    a = np.full(shape, 1.0, np.float32)
    blob = (x - 44) ** 2 + (y - 45) ** 2 + (z - 45) ** 2 <= 16.0**2
    a[blob] = 6.0 + 0.1 * (x[blob] - 44)  # gradient inside, hottest towards +x
    rim = np.argwhere(blob)[np.argmin(x[blob])]
    a[tuple(rim)] = 30.0  # isolated max voxel on the -x rim
    suv = Volume(a, aff, unit=Unit.SUV_BW)
    lab = labels_like(suv, blob)
    anywhere = measure_lesions(suv, lab).suv_peak[0]
    at_max = measure_lesions(suv, lab, peak_center="max_voxel").suv_peak[0]
    assert anywhere > at_max
    # independent truth: Monte-Carlo mean of the SUV over a 1 mL sphere at the chosen centre
    from scipy import ndimage

    from carpet.measure.uptake import suv_peak_in_box

    box = ndimage.find_objects(blob.astype(np.uint8))[0]
    val, centre = suv_peak_in_box(a, box, blob[box], suv.spacing_mm)
    c_mm = suv.index_to_world(centre)[0]
    r = peak_radius_mm(1.0)
    u = rng.normal(size=(400_000, 3))
    u = u / np.linalg.norm(u, axis=1, keepdims=True) * r * rng.random((400_000, 1)) ** (1 / 3)
    idx = np.rint(suv.world_to_index(c_mm + u)).astype(int)
    mc = a[idx[:, 0], idx[:, 1], idx[:, 2]].mean()
    assert val == pytest.approx(mc, rel=2e-3)
    assert anywhere == pytest.approx(val)


def test_zero_lesions_is_a_valid_result():
    suv, lab = _cubes()
    empty = labels_like(suv, np.zeros(SHAPE))
    t = measure_lesions(suv, empty)
    assert len(t) == 0 and "suv_peak" in t.columns
    p = patient_metrics(t, bsa_m2={"dubois": 1.9, "mosteller": 1.9})
    assert (
        p["lesion_count"] == 0 and p["tmtv_ml"] == 0 and p["dmax_mm"] == 0 and p["sdmax_per_m"] == 0
    )


def test_sdmax_uses_bsa_and_is_null_without_it():
    assert sdmax_per_m(640.0, 2.0) == pytest.approx(0.32)
    assert sdmax_per_m(640.0, None) is None
    suv, lab = _cubes()
    t = measure_lesions(suv, lab)
    p = patient_metrics(t, bsa_m2={"dubois": 1.8, "mosteller": 2.0}, bsa_formula="mosteller")
    assert p["sdmax_per_m"] == pytest.approx(p["dmax_mm"] / 1000 / 2.0)
    assert p["sdmax_dubois_per_m"] == pytest.approx(p["dmax_mm"] / 1000 / 1.8)
    assert patient_metrics(t)["sdmax_per_m"] is None


def test_refuses_non_suv_and_mismatched_grid():
    suv, lab = _cubes()
    with pytest.raises(SuvError, match="SUV"):
        measure_lesions(suv.with_array(suv.array, unit=Unit.BQML), lab)
    other = Volume(np.zeros((5, 5, 5), np.int32), np.eye(4), unit=Unit.LABEL)
    with pytest.raises(InputError, match="grid"):
        measure_lesions(suv, other)


def test_remeasure_one_lesion_matches_full_table():
    suv, lab = _cubes()
    full = measure_lesions(suv, lab).set_index("lesion_id")
    one = measure_lesions(suv, lab, lesion_ids=[2]).set_index("lesion_id")
    assert one.loc[2, "suv_peak"] == full.loc[2, "suv_peak"]
    assert one.loc[2, "volume_ml"] == full.loc[2, "volume_ml"]


def test_oblique_grid_measures_through_the_affine():
    """Same voxels on an oblique, anisotropic grid: volumes unchanged, centroids = affine of mean index."""
    suv, lab = _cubes()
    th = np.deg2rad(25.0)
    rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1.0]])
    aff = suv.affine.copy()
    aff[:3, :3] = rot @ aff[:3, :3]
    o_suv = Volume(suv.array, aff, unit=Unit.SUV_BW)
    o_lab = Volume(lab.array, aff, unit=Unit.LABEL)
    a = measure_lesions(suv, lab)
    b = measure_lesions(o_suv, o_lab)
    np.testing.assert_allclose(b.volume_ml, a.volume_ml)
    np.testing.assert_allclose(b.suv_peak, a.suv_peak)
    for lid in (1, 2):
        idx = np.argwhere(lab.array == lid).mean(axis=0)
        expect = aff[:3, :3] @ idx + aff[:3, 3]
        row = b[b.lesion_id == lid].iloc[0]
        np.testing.assert_allclose(
            [row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm], expect
        )
    pa, pb = patient_metrics(a), patient_metrics(b)
    assert pb["dmax_mm"] == pytest.approx(pa["dmax_mm"]) and pb["dmax_voxel_mm"] == pytest.approx(
        pa["dmax_voxel_mm"]
    )
