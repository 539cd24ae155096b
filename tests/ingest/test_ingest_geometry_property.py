"""Property test: any orientation, spacing, patient position and file order round-trips exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carpet.core.volume import Volume
from carpet.ingest import discover, read_series_volume
from carpet.synthetic import PetHeaderSpec, write_pet_dicom
from carpet.units import Unit


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    angles=st.tuples(*[st.floats(-np.pi, np.pi, allow_nan=False)] * 3),
    spacing=st.tuples(*[st.floats(0.5, 6.0, allow_nan=False)] * 3),
    origin=st.tuples(*[st.floats(-500, 500, allow_nan=False)] * 3),
    ffs=st.booleans(),
    shuffle=st.booleans(),
    descending=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_geometry_round_trips(
    tmp_path_factory, angles, spacing, origin, ffs, shuffle, descending, seed
):
    rng = np.random.default_rng(seed)
    aff = np.eye(4)
    aff[:3, :3] = _rotation(*angles) @ np.diag(spacing)
    aff[:3, 3] = origin
    vol = Volume(rng.uniform(0, 20, size=(5, 6, 7)).astype(np.float32), aff, unit=Unit.SUV_BW)
    folder = tmp_path_factory.mktemp("prop")
    write_pet_dicom(
        vol,
        folder,
        header=PetHeaderSpec(weight_kg=70.0),
        orientation="FFS" if ffs else "HFS",
        shuffle_files=shuffle,
        descending_instance_numbers=descending,
        random_file_names=shuffle,
        seed=seed,
    )
    back = read_series_volume(discover(folder).pick_pet())
    # voxel centres: the read grid is the written one up to a reversal of axes
    m = np.linalg.inv(vol.affine) @ back.affine
    assert np.allclose(m, np.rint(m), atol=1e-5), m
    m = np.rint(m).astype(int)
    k, j, i = np.meshgrid(*[np.arange(n) for n in back.shape], indexing="ij")
    src = (m @ np.stack([k.ravel(), j.ravel(), i.ravel(), np.ones(k.size, int)]))[:3]
    expected = vol.array[src[0], src[1], src[2]].reshape(back.shape)
    # values: Bq/mL = SUV · D·2^(−uptake/T½) / W[g] (the writer's header), within half a stored step
    hdr = PetHeaderSpec(weight_kg=70.0)
    bq_per_suv = hdr.injected_dose_bq * 2.0 ** (-hdr.uptake_s / hdr.half_life_s) / 70000.0
    half_step = np.array(back.meta["rescale_slopes"])[:, None, None] / 2
    want = expected * bq_per_suv
    f32_rounding = np.abs(want) * 2.0**-23  # the output is float32 (~0.008 Bq/mL at 70 kBq/mL)
    assert np.all(np.abs(back.array - want) <= half_step * 1.001 + 1e-3 + f32_rounding)
