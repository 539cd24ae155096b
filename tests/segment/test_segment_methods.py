"""Each segmentation method on a phantom whose answer is known by construction."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seg_builders import axial_affine, phantom, world_grid  # noqa: E402

from carpet.config import AnalysisConfig  # noqa: E402
from carpet.errors import ConfigError, SegmentationError  # noqa: E402
from carpet.segment.components import label_components, preselect_regions  # noqa: E402
from carpet.segment.methods import GrowthParams, grow_lesions, seeds_from_regions  # noqa: E402

AFF = axial_affine((2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
SHAPE = (40, 40, 60)


def _shells(
    core_suv, shell_suv, centre=(40.0, 40.0, 40.0), r_core=8.0, r_shell=12.0, bg=0.5, extra=()
):
    return phantom(
        SHAPE,
        AFF,
        [("sphere", centre, r_shell, shell_suv), ("sphere", centre, r_core, core_suv), *extra],
        background=bg,
    )


def _run(suv, method, **kw):
    regions, n = preselect_regions(suv.array, threshold_suv=4.0, min_voxels=0)
    seeds = seeds_from_regions(suv.array, regions)
    params = GrowthParams(**kw)
    labels, th = grow_lesions(
        suv.array, seeds, method=method, params=params, spacing_mm=suv.spacing_mm
    )
    return labels, th


def _sphere_mask(centre, r):
    x, y, z = world_grid(SHAPE, AFF)
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= r * r


def test_preselection_min_volume_and_connectivity():
    a = np.zeros((10, 10, 10), np.float32)
    a[1:4, 1:4, 1:4] = 5.0  # 27 voxels
    a[4, 4, 4] = 9.0  # touches the cube only diagonally
    a[7:9, 7:9, 7:9] = 6.0  # 8 voxels
    lab26, n26 = preselect_regions(a, min_voxels=0, connectivity=26)
    lab6, n6 = preselect_regions(a, min_voxels=0, connectivity=6)
    assert (n26, n6) == (2, 3)
    assert lab6[4, 4, 4] == 1  # hottest region gets id 1
    _, n_big = preselect_regions(a, min_voxels=9, connectivity=26)
    assert n_big == 1
    with pytest.raises(ConfigError, match="connectivity"):
        label_components(a > 0, connectivity=10)


def test_suv4_and_suv25_are_the_threshold_regions():
    suv = _shells(10.0, 3.0)
    lab4, th4 = _run(suv, "suv4")
    lab25, th25 = _run(suv, "suv2.5")
    np.testing.assert_array_equal(lab4 > 0, _sphere_mask((40, 40, 40), 8.0))
    np.testing.assert_array_equal(lab25 > 0, _sphere_mask((40, 40, 40), 12.0))
    assert th4 == {1: 4.0} and th25 == {1: 2.5}


def test_pct41_uses_each_lesions_own_max_and_never_steals():
    # A: max 20 -> threshold 8.2, its 5.0 halo excluded; B: max 10 -> 4.1, its 5.0 halo included.
    # The two halos touch: contested voxels go to the nearest core, cores never change hands.
    a_c, b_c = (30.0, 40.0, 36.0), (30.0, 40.0, 84.0)
    suv = phantom(
        SHAPE,
        AFF,
        [
            ("sphere", a_c, 14.0, 5.0),
            ("sphere", b_c, 14.0, 5.0),
            ("sphere", a_c, 7.0, 20.0),
            ("sphere", b_c, 7.0, 10.0),
        ],
        background=0.5,
    )
    lab, th = _run(suv, "pct41")
    assert th[1] == pytest.approx(8.2) and th[2] == pytest.approx(4.1)
    np.testing.assert_array_equal(lab == 1, _sphere_mask(a_c, 7.0))
    expected_b = _sphere_mask(b_c, 14.0) | (_sphere_mask(b_c, 7.0))
    # B's halo is its own; where it overlaps A's halo (x <= 60) the nearest core decides
    x = world_grid(SHAPE, AFF)[0]
    both = _sphere_mask(a_c, 14.0) & _sphere_mask(b_c, 14.0)
    assert not both.any() or (lab[both & (x > 60)] == 2).all()
    assert (lab[expected_b & ~_sphere_mask(a_c, 14.0)] == 2).all()
    assert not (
        lab[_sphere_mask(a_c, 14.0) & ~_sphere_mask(a_c, 7.0) & ~_sphere_mask(b_c, 14.0)] > 0
    ).any()


def test_contested_halo_split_by_nearest_core():
    a_c, b_c = (40.0, 40.0, 40.0), (60.0, 40.0, 40.0)  # halos overlap for 46 < x < 54
    suv = phantom(
        SHAPE,
        AFF,
        [
            ("sphere", a_c, 14.0, 3.0),
            ("sphere", b_c, 14.0, 3.0),
            ("sphere", a_c, 6.0, 9.0),
            ("sphere", b_c, 6.0, 8.0),
        ],
        background=0.5,
    )
    lab, _ = _run(suv, "suv2.5")
    x = world_grid(SHAPE, AFF)[0]
    assert set(np.unique(lab)) == {0, 1, 2}
    assert (lab[(lab > 0) & (x <= 48)] == 1).all()
    assert (lab[(lab > 0) & (x >= 52)] == 2).all()
    assert ((lab > 0) == (_sphere_mask(a_c, 14.0) | _sphere_mask(b_c, 14.0))).all()


def test_a50p_background_adapted_threshold():
    # core SUV 10 (radius 9 mm, SUVpeak 10), background 1 -> threshold 1 + 0.5 * 9 = 5.5
    c = (40.0, 40.0, 40.0)
    suv = phantom(SHAPE, AFF, [("sphere", c, 11.0, 5.6), ("sphere", c, 9.0, 10.0)], background=1.0)
    lab, th = _run(suv, "a50p")
    assert th[1] == pytest.approx(1.0 + 0.5 * (10.0 - 1.0), abs=0.05)
    np.testing.assert_array_equal(lab > 0, _sphere_mask(c, 11.0))
    suv2 = phantom(SHAPE, AFF, [("sphere", c, 11.0, 5.4), ("sphere", c, 9.0, 10.0)], background=1.0)
    lab2, _ = _run(suv2, "a50p")
    np.testing.assert_array_equal(lab2 > 0, _sphere_mask(c, 9.0))


def test_majority_votes_mv2_mv3():
    # max 6 -> 41 % threshold 2.46: the 3.0 shell is in SUV2.5 and 41 % (2 votes), not in SUV4
    suv = _shells(6.0, 3.0)
    mv2, _ = _run(suv, "mv2")
    mv3, _ = _run(suv, "mv3")
    np.testing.assert_array_equal(mv2 > 0, _sphere_mask((40, 40, 40), 12.0))
    np.testing.assert_array_equal(mv3 > 0, _sphere_mask((40, 40, 40), 8.0))


def test_percist_uses_the_liver_threshold_and_needs_it():
    suv = _shells(10.0, 3.6)
    lab, th = _run(suv, "percist", percist_threshold_suv=1.5 * 2.0 + 2 * 0.25)  # 3.5
    np.testing.assert_array_equal(lab > 0, _sphere_mask((40, 40, 40), 12.0))
    with pytest.raises(SegmentationError, match="liver"):
        _run(suv, "percist")


def test_unknown_method_is_refused():
    with pytest.raises(ConfigError, match="unknown segmentation method"):
        AnalysisConfig(method="suv3")
    suv = _shells(10.0, 3.0)
    with pytest.raises(ConfigError):
        _run(suv, "otsu")


def test_low_threshold_growth_never_floods_a_neighbouring_organ():
    """pct41 of a faint lesion (max 5 -> 2.05) next to a large uniform 'liver' at 2.2 stays local."""
    liver = ("cube", (40.0, 40.0, 80.0), 30.0, 2.2)
    suv = phantom(SHAPE, AFF, [liver, ("sphere", (40.0, 40.0, 44.0), 7.0, 5.0)], background=0.5)
    lab, th = _run(suv, "pct41")
    assert th[1] == pytest.approx(0.41 * 5.0)
    core = _sphere_mask((40.0, 40.0, 44.0), 7.0)
    grown = lab == 1
    assert (grown & core).sum() == core.sum()
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~core, sampling=(2.0, 2.0, 2.0))
    assert dist[grown].max() <= 20.0  # limited to 20 mm around its preselected region
    unlimited, _ = _run(suv, "pct41", max_growth_mm=None)
    assert (unlimited == 1).sum() > grown.sum()  # without the limit it floods the 'liver'
