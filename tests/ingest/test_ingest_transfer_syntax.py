"""Compressed transfer syntaxes decode to exactly the uncompressed values; overrides reach SUV; single files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from carpet.errors import SuvError
from carpet.ingest import discover, read_pet, read_series_volume
from carpet.suv import SuvOverrides
from carpet.synthetic import PetHeaderSpec, make_whole_body_study, write_pet_dicom


@pytest.fixture(scope="module")
def phantom():
    return make_whole_body_study(
        fov="head_neck", spacing_mm=(10.0, 10.0, 10.0), n_lesions=2, with_ct=False, seed=8
    )


@pytest.fixture(scope="module")
def plain(phantom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain")
    write_pet_dicom(phantom, folder)
    return read_series_volume(discover(folder).pick_pet())


@pytest.mark.parametrize(
    "ts",
    [
        JPEGLSLossless,
        JPEG2000Lossless,
        RLELossless,
        DeflatedExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    ],
    ids=["jpeg-ls", "jpeg2000", "rle", "deflate", "implicit-vr"],
)
def test_transfer_syntaxes_identical_to_uncompressed(phantom, plain, tmp_path, ts):
    write_pet_dicom(phantom, tmp_path, transfer_syntax=ts)
    series = discover(tmp_path).pick_pet()
    assert {h.transfer_syntax for h in series.instances} == {ts}
    vol = read_series_volume(series)
    assert np.array_equal(vol.array, plain.array)
    assert np.array_equal(vol.affine, plain.affine)


def test_overrides_reach_the_suv(phantom, tmp_path):
    write_pet_dicom(phantom, tmp_path, header=PetHeaderSpec(omit=("PatientWeight",)))
    with pytest.raises(SuvError) as exc:
        read_pet(tmp_path)
    assert exc.value.code == "MISSING_WEIGHT"
    pet = read_pet(tmp_path, overrides=SuvOverrides(weight_kg=75.0))
    assert np.abs(pet.suv.array - phantom.suv.array).max() <= phantom.suv.array.max() / 32000
    assert pet.patient.weight_kg == 75.0 and pet.suv_factors.overrides_applied


def test_single_file_path(cli, phantom, tmp_path):
    files = write_pet_dicom(phantom, tmp_path)
    d = discover(files[0])
    assert len(d.series) == 1 and d.series[0].n_instances == 1
    doc = json.loads(cli("info", files[0], "--json").stdout)
    assert doc["n_files"] == 1 and doc["series"][0]["suv"]["bw_factor"] > 0
    assert doc["series"][0]["geometry"]["shape"] == [1, *phantom.suv.shape[1:]]


def test_units_argument_validated_for_dicom(tmp_path):
    from carpet.errors import ConfigError

    with pytest.raises(ConfigError):
        read_pet(tmp_path, units="bqml")
