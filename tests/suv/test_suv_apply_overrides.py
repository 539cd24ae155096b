"""apply_suv (uniform and per-slice factors, in place, refusals) and the SUV overrides CSV sidecar."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from suv_helpers import pet

from carpet.core.volume import Volume
from carpet.errors import ConfigError, SuvError, TableValidationError
from carpet.ingest.pet_header import read_pet_acquisition
from carpet.suv import SuvOverrides, apply_suv, compute_suv_factors, read_overrides_csv
from carpet.units import Unit


def _factors(**kw):
    dss = [pet(i) for i in range(3)]
    return compute_suv_factors(read_pet_acquisition(dss, source="apply"), **kw)


def _vol(values, unit="BQML", uids=None):
    arr = np.asarray(values, dtype=np.float64)
    meta = {} if uids is None else {"sop_instance_uids": uids}
    return Volume(arr, np.diag([3.0, 2.0, 2.0, 1.0]), unit=unit, meta=meta)


def test_apply_uniform_factor_each_normalisation(rng):
    f = _factors()
    stored = rng.uniform(0, 20000, size=(3, 4, 5))
    v = _vol(stored)
    for norm, unit in (
        ("bw", Unit.SUV_BW),
        ("lbm", Unit.SUV_LBM),
        ("bsa", Unit.SUV_BSA),
        ("ibw", Unit.SUV_IBW),
    ):
        out = apply_suv(v, f, normalization=norm)
        assert out.unit is unit and out.array.dtype == np.float32
        np.testing.assert_allclose(out.array, stored * getattr(f, f"{norm}_factor"), rtol=1e-6)
        assert out.meta["suv"]["normalization"] == norm and out.meta["suv"]["method"] == "BQML"
        np.testing.assert_array_equal(out.affine, v.affine)
    np.testing.assert_array_equal(v.array, stored)  # input untouched


def test_apply_in_place_reuses_the_float_array(rng):
    f = _factors()
    stored = rng.uniform(0, 100, size=(2, 3, 3)).astype(np.float32)
    expected = stored * np.float32(f.bw_factor)
    v = _vol(stored.copy())
    out = apply_suv(v, f, inplace=True)
    assert np.shares_memory(out.array, v.array)
    np.testing.assert_allclose(out.array, expected, rtol=1e-6)


def test_apply_per_slice_factors_follow_sop_uids():
    base = _factors()
    uids = ["a", "b", "c"]
    f = dataclasses.replace(base, slice_bw_factors={"a": 1.0, "b": 2.0, "c": 3.0}, bw_factor=1.0)
    v = _vol(np.ones((3, 2, 2)), uids=["c", "a", "b"])  # volume slice order != acquisition order
    out = apply_suv(v, f)
    assert out.array[:, 0, 0].tolist() == [3.0, 1.0, 2.0]
    with pytest.raises(SuvError) as e:
        apply_suv(_vol(np.ones((3, 2, 2))), f)
    assert e.value.code == "MISSING_SLICE_UIDS"
    with pytest.raises(SuvError) as e:
        apply_suv(_vol(np.ones((3, 2, 2)), uids=["a", "b", "zz"]), f)
    assert e.value.code == "MISSING_SLICE_UIDS"
    assert uids


def test_apply_refusals():
    f = _factors()
    with pytest.raises(SuvError) as e:
        apply_suv(_vol(np.ones((1, 2, 2)), unit="SUVbw"), f)
    assert e.value.code == "UNIT_MISMATCH" and "BQML" in str(e.value)
    nolbm = dataclasses.replace(
        f, lbm_factor=None, warnings=("lbm: not computed, PatientSex (0010,0040) is absent",)
    )
    with pytest.raises(SuvError) as e:
        apply_suv(_vol(np.ones((1, 2, 2))), nolbm, normalization="lbm")
    assert e.value.code == "NORMALIZATION_UNAVAILABLE" and "PatientSex" in str(e.value)
    with pytest.raises(ConfigError):
        apply_suv(_vol(np.ones((1, 2, 2))), f, normalization="suvmax")


# ----------------------------------------------------------------------------- overrides
def test_overrides_validation():
    assert SuvOverrides().is_empty
    assert SuvOverrides(sex="f").sex == "F"
    for kw in (
        {"weight_kg": 0},
        {"weight_kg": float("nan")},
        {"height_m": 185},
        {"injected_dose_bq": 370},
        {"sex": "X"},
        {"injection_datetime": "2025-01-01"},
        {"weight_kg": "heavy"},
    ):
        with pytest.raises(ConfigError) as e:
            SuvOverrides(**kw)
        assert e.value.code == "INVALID_OVERRIDE"


def test_overrides_csv_roundtrip(tmp_path):
    p = tmp_path / "o.csv"
    p.write_text(
        "series_instance_uid,weight_kg,height_m,injected_dose_mbq,injection_datetime,sex\n"
        "1.2.3,81.5,1.7,370,2025-01-01T09:30:00,F\n"
        "1.2.4,,,,,\n"
    )
    table = read_overrides_csv(str(p))
    assert table["1.2.3"] == SuvOverrides(
        weight_kg=81.5,
        height_m=1.7,
        injected_dose_bq=3.7e8,
        injection_datetime=__import__("datetime").datetime(2025, 1, 1, 9, 30),
        sex="F",
    )
    assert table["1.2.4"].is_empty
    assert table["1.2.3"].to_dict()["injection_datetime"] == "2025-01-01T09:30:00"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("weight_kg\n80\n", ["no key column"]),
        ("key,weight_kg,shoe_size\na,80,44\n", ["unknown column(s) ['shoe_size']"]),
        (
            "key,weight_kg\na,eighty\nb,80\nb,81\n,70\n",
            [
                "row 2, column weight_kg: 'eighty'",
                "row 4, column key: duplicate key 'b'",
                "row 5, column key: empty key",
            ],
        ),
        ("key,weight_kg\na,80000\n", ["row 2: SUV override weight_kg=80000.0"]),
        ("key,injection_datetime\na,yesterday\n", ["row 2, column injection_datetime"]),
        ("key,weight_kg\na,80,1\n", ["row 2: 3 cells, header has 2"]),
        ("", ["is empty"]),
    ],
)
def test_overrides_csv_errors_name_row_and_column(tmp_path, text, fragments):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(TableValidationError) as e:
        read_overrides_csv(p)
    assert e.value.code == "INVALID_OVERRIDES_CSV"
    for frag in fragments:
        assert frag in str(e.value)
    assert str(p) in str(e.value)


def test_overrides_csv_missing_file(tmp_path):
    with pytest.raises(TableValidationError) as e:
        read_overrides_csv(tmp_path / "nope.csv")
    assert e.value.code == "INVALID_OVERRIDES_CSV"
