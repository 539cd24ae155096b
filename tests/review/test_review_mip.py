"""The review MIP: radiological orientation for any acquisition and exact ray picks."""

from __future__ import annotations

import numpy as np
import pytest

from carpet.core.volume import Volume
from carpet.review.mip import coronal_mip

AFFINES = {
    # axial head-first: k -> -z (feet), j -> +y (posterior), i -> +x (left)
    "head_first": np.array([[0, 0, 3.0, -50], [0, 2.0, 0, -40], [-4.0, 0, 0, 100], [0, 0, 0, 1]]),
    # feet-first and columns towards patient right
    "feet_first": np.array([[0, 0, -3.0, 50], [0, 2.0, 0, -40], [4.0, 0, 0, -100], [0, 0, 0, 1]]),
    # coronal acquisition: k -> +y, j -> -z, i -> +x
    "coronal": np.array([[0, 0, 2.5, -50], [0, -3.0, 0, 60], [2.0, 0, 0, -30], [0, 0, 0, 1]]),
}


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_orientation_and_picks_match_brute_force(name, rng):
    aff = AFFINES[name]
    suv = rng.random((12, 14, 16)).astype(np.float32)
    labels = np.zeros(suv.shape, np.int32)
    labels[2:5, 3:7, 4:9] = 1
    labels[7:10, 8:12, 10:14] = 2
    suv[labels > 0] += 5.0
    vol = Volume(suv, aff)
    m = coronal_mip(vol, labels)
    w, h = m.size
    # picture axes: columns go towards patient left (+x), rows towards the feet (-z)
    p00 = vol.index_to_world([m.pixel_to_index(0, 0, 0)])[0]
    p10 = vol.index_to_world([m.pixel_to_index(1, 0, 0)])[0]
    p01 = vol.index_to_world([m.pixel_to_index(0, 1, 0)])[0]
    assert p10[0] > p00[0] and p01[2] < p00[2]
    for row in range(h):
        for col in range(w):
            ray = [m.pixel_to_index(col, row, d) for d in range(suv.shape[m.axes[2]])]
            vals = np.array([suv[i] for i in ray])
            assert m.image[row, col] == vals.max()
            lid, idx = m.pick(col, row)
            labs = np.array([labels[i] for i in ray])
            if (labs > 0).any():
                best = ray[int(np.argmax(np.where(labs > 0, vals, -np.inf)))]
                assert (lid, idx) == (labels[best], best)
            else:
                assert lid == 0 and idx == ray[int(np.argmax(vals))]
    # centroid of lesion 2 maps to a pixel whose ray crosses it
    c = np.argwhere(labels == 2).mean(axis=0)
    col, row = m.index_to_pixel(c)
    assert m.pick(col, row)[0] == 2


def test_box_update_equals_full_recompute(rng):
    aff = AFFINES["head_first"]
    suv = rng.random((12, 14, 16)).astype(np.float32)
    labels = np.zeros(suv.shape, np.int32)
    labels[2:5, 3:7, 4:9] = 1
    m = coronal_mip(Volume(suv, aff), labels)
    labels[7:10, 8:12, 10:14] = 2
    m.update_lesions(suv, labels, (slice(7, 10), slice(8, 12), slice(10, 14)))
    ref = coronal_mip(Volume(suv, aff), labels)
    assert np.array_equal(m.lesion_id, ref.lesion_id) and np.array_equal(
        m.lesion_depth, ref.lesion_depth
    )


def test_png_colours(rng):
    aff = AFFINES["head_first"]
    suv = np.zeros((12, 14, 16), np.float32)
    labels = np.zeros(suv.shape, np.int32)
    labels[2:5, 3:7, 4:9] = 1
    suv[labels > 0] = 20.0
    excluded = np.zeros(suv.shape, np.uint8)
    excluded[8:10, 2:4, 2:4] = 1
    suv[excluded > 0] = 20.0
    m = coronal_mip(Volume(suv, aff), labels, excluded)
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(m.render_png({1: "auto"}))))
    col, row = m.index_to_pixel(np.array([3, 4, 6]))
    assert tuple(img[row, col]) == (230, 40, 30)  # active lesion: red
    removed = np.asarray(Image.open(io.BytesIO(m.render_png({1: "removed"}))))
    assert tuple(removed[row, col]) == (150, 150, 150)
    col, row = m.index_to_pixel(np.array([9, 3, 3]))
    assert tuple(img[row, col]) == (40, 110, 235)  # excluded organ: blue
    assert tuple(img[0, 0]) == (255, 255, 255)  # SUV 0: white
