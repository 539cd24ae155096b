"""Real data (../shared/data/acrin-nsclc-fdg-pet-042): compressed vs uncompressed, SimpleITK as an independent reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from carpet.ingest import discover, read_ct_for, read_pet, read_series_volume, resample_to
from carpet.units import Unit

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def acrin(shared_data):
    root = shared_data / "acrin-nsclc-fdg-pet-042"
    return discover(root / "study_jpegls"), discover(root / "pet_uncompressed")


def _by_desc(disc, desc):
    return next(s for s in disc.series if s.series_description == desc)


def test_discovery_classifies_the_study(acrin):
    jls, _ = acrin
    kinds = sorted(s.kind for s in jls.series)
    assert kinds == ["CT", "CT", "PT", "PT", "RWV", "RWV", "RWV", "SEG", "SEG", "SEG"]
    assert jls.problems == []
    pick = jls.pick_pet()
    assert (
        pick.series_description == "PET AC" and pick.units == "BQML"
    )  # NAC (PROPCNTS, labelled ATTN) not picked
    scout = next(s for s in jls.series if s.series_description == "SCOUT")
    assert scout.is_localizer


@pytest.mark.parametrize("desc", ["PET AC", "PET NAC"])
def test_jpegls_and_uncompressed_arrays_identical(acrin, desc):
    jls, raw = acrin
    a = read_series_volume(_by_desc(jls, desc))
    b = read_series_volume(_by_desc(raw, desc))
    assert _by_desc(jls, desc).instances[0].transfer_syntax == "1.2.840.10008.1.2.4.80"
    assert np.array_equal(a.array, b.array)
    assert np.array_equal(a.affine, b.affine)
    assert a.meta["sop_instance_uids"] == b.meta["sop_instance_uids"]


def test_charls_fast_path_equals_pydicom_decoding(acrin):
    import pydicom

    from carpet.ingest.dicom import _charls_decoded

    jls, _ = acrin
    for s in (_by_desc(jls, "PET AC"), _by_desc(jls, "CT IMAGES")):
        for h in s.instances[::40]:
            assert np.array_equal(_charls_decoded(h), pydicom.dcmread(h.path).pixel_array)


def test_geometry_and_values_agree_with_simpleitk(acrin):
    import SimpleITK as sitk

    _, raw = acrin
    s = _by_desc(raw, "PET AC")
    vol = read_series_volume(s)
    assert vol.shape == (135, 128, 128) and vol.unit is Unit.BQML
    assert np.allclose(vol.spacing_mm, (3.27, 4.6875, 4.6875), atol=1e-3)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(
        sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(s.files[0].parent), s.series_instance_uid)
    )
    img = reader.Execute()
    arr = sitk.GetArrayFromImage(img)  # (z, y, x)
    # SimpleITK voxel (x, y, z) → LPS; carpet voxel (k, j, i) → LPS: compare at corners and centre
    for kji in [(0, 0, 0), (134, 127, 127), (67, 10, 100)]:
        k, j, i = kji
        p_sitk = img.TransformIndexToPhysicalPoint((i, j, k))
        assert np.allclose(vol.index_to_world([kji])[0], p_sitk, atol=1e-3)
        assert vol.array[k, j, i] == pytest.approx(float(arr[k, j, i]), rel=1e-6, abs=1e-3)
    assert np.allclose(vol.array, arr, rtol=1e-6, atol=1e-3)


def test_read_pet_applies_the_series_factor(acrin, shared_data):
    jls, _ = acrin
    pet = read_pet(shared_data / "acrin-nsclc-fdg-pet-042" / "study_jpegls")
    assert pet.suv.unit is Unit.SUV_BW and pet.suv.array.dtype == np.float32
    assert pet.suv_factors.bw_factor == pytest.approx(4.2111e-4, rel=1e-4)
    bq = read_series_volume(jls.pick_pet())
    assert np.allclose(pet.suv.array, bq.array * pet.suv_factors.bw_factor, rtol=1e-6)
    assert pet.patient.weight_kg == 91 and pet.patient.sex == "M"
    assert pet.series.series_description == "PET AC"
    ct = read_ct_for(pet)
    assert ct.shape == (135, 512, 512) and ct.unit is Unit.HU
    assert ct.frame_of_reference_uid == pet.suv.frame_of_reference_uid
    ct_on_pet = resample_to(ct, pet.suv)
    assert ct_on_pet.shape == pet.suv.shape
    # lungs are air-like, the body is soft tissue: a coarse sanity check of the resampled CT
    assert (
        ct_on_pet.array.min() < -800 and 0 < np.median(ct_on_pet.array[pet.suv.array > 1.5]) < 100
    )


def test_carpet_info_json_contract(cli, shared_data):
    res = cli("info", shared_data / "acrin-nsclc-fdg-pet-042" / "study_jpegls", "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert len(doc["series"]) == 10 and doc["problems"] == []
    for s in doc["series"]:
        assert {"series_instance_uid", "modality", "units", "suv", "suv_error"} <= set(s)
    ac = next(s for s in doc["series"] if s["series_description"] == "PET AC")
    nac = next(s for s in doc["series"] if s["series_description"] == "PET NAC")
    assert ac["suv"]["bw_factor"] == pytest.approx(4.2111e-4, rel=1e-4)
    assert ac["suv"]["lbm_factor"] > 0 and ac["suv"]["reference_time_source"]
    assert ac["suv_error"] is None
    assert ac["geometry"]["shape"] == [135, 128, 128] and ac["geometry"]["orientation"] == "SPL"
    assert nac["suv"] is None and nac["suv_error"]["code"] == "UNSUPPORTED_UNITS"
    seg = next(s for s in doc["series"] if s["modality"] == "SEG")
    assert seg["suv"] is None and seg["suv_error"] is None
