"""Property tests: biomarkers do not depend on how the same voxels are stored."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carpet.core.volume import Volume
from carpet.measure import measure_lesions, patient_metrics
from carpet.segment.components import preselect_regions
from carpet.units import Unit

KEYS = [
    "tmtv_ml",
    "tlg",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "lesion_count",
    "dmax_mm",
    "dmax_voxel_mm",
    "dbulk_mm",
]


def _metrics(a: np.ndarray, aff: np.ndarray) -> dict:
    regions, _ = preselect_regions(a, threshold_suv=4.0, min_voxels=2, connectivity=26)
    suv = Volume(a, aff, unit=Unit.SUV_BW)
    return patient_metrics(measure_lesions(suv, Volume(regions, aff, unit=Unit.LABEL)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    flips=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    perm=st.permutations([0, 1, 2]),
    spacing=st.tuples(*[st.sampled_from([1.5, 2.0, 3.27, 4.6875])] * 3),
)
def test_metrics_invariant_to_storage_order(seed, flips, perm, spacing):
    """Flipping or transposing the array (with the affine adjusted) keeps every biomarker."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.0, 1.0, (14, 12, 10)).astype(np.float32)
    for _ in range(4):
        c = rng.integers(1, [13, 11, 9])
        r = rng.integers(1, 3, 3)
        a[c[0] - r[0] : c[0] + r[0], c[1] - r[1] : c[1] + r[1], c[2] - r[2] : c[2] + r[2]] = (
            rng.uniform(4.5, 20)
        )
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = (-10.0, 5.0, 30.0)
    ref = _metrics(a, aff)
    b, baff = a, aff.copy()
    for ax, flip in enumerate(flips):
        if flip:  # index k' = n-1-k: the origin moves to the last voxel, the step reverses
            n = b.shape[ax]
            baff[:3, 3] = baff[:3, 3] + baff[:3, ax] * (n - 1)
            baff[:3, ax] = -baff[:3, ax]
            b = np.flip(b, axis=ax)
    b = np.ascontiguousarray(np.transpose(b, perm))
    baff2 = baff.copy()
    baff2[:3, :3] = baff[:3, :3][:, list(perm)]
    got = _metrics(b, baff2)
    for key in KEYS:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-9, atol=1e-9, err_msg=key)
    v = float(np.prod(spacing)) / 1000
    assert np.isclose(ref["tlg"], ref["tmtv_ml"] * ref["suv_mean"])
    mask = preselect_regions(a, threshold_suv=4.0, min_voxels=2)[0] > 0
    np.testing.assert_allclose(ref["tmtv_ml"], mask.sum() * v)
    np.testing.assert_allclose(ref["tlg"], a[mask].astype(float).sum() * v, rtol=1e-9)
