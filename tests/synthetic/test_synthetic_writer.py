"""The synthetic PET/CT DICOM writer, checked against the plain forward formula read back with pydicom."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pydicom
import pytest

from carpet.errors import ConfigError
from carpet.synthetic import (
    PHILIPS_ACTIVITY_SCALE,
    PetHeaderSpec,
    make_whole_body_study,
    write_ct_dicom,
    write_demo_study,
    write_pet_dicom,
)
from carpet.units import Unit


@pytest.fixture(scope="module")
def small():
    return make_whole_body_study(fov="thorax", spacing_mm=(8.0, 8.0, 8.0), n_lesions=3, seed=2)


def _read_sorted(files):
    dss = [pydicom.dcmread(f) for f in files]
    return sorted(dss, key=lambda d: float(d.ImagePositionPatient[2]))


def _suv_from_header(ds):
    """Independent SUVbw of one BQML/START slice: stored·slope·W / (D·2^(−Δt/T½))."""
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    t_inj = datetime.strptime(rp.RadiopharmaceuticalStartDateTime[:14], "%Y%m%d%H%M%S")
    t_ser = datetime.strptime(ds.SeriesDate + ds.SeriesTime[:6], "%Y%m%d%H%M%S")
    dt = (t_ser - t_inj).total_seconds()
    dose = float(rp.RadionuclideTotalDose) * 2.0 ** (-dt / float(rp.RadionuclideHalfLife))
    return ds.pixel_array * float(ds.RescaleSlope) * float(ds.PatientWeight) * 1000.0 / dose


def test_bqml_start_values_follow_the_forward_formula(tmp_path, small):
    files = write_pet_dicom(small, tmp_path, n_beds=3)
    assert len(files) == small.suv.shape[0]
    dss = _read_sorted(files)
    for k, ds in enumerate(dss):
        suv = _suv_from_header(ds)
        tol = (
            float(ds.RescaleSlope) * float(ds.PatientWeight) * 1000.0 / 3.0e8
        )  # ≤ 1 quantisation step
        assert np.abs(suv - small.suv.array[k]).max() <= tol
    assert {ds.Units for ds in dss} == {"BQML"} and {ds.DecayCorrection for ds in dss} == {"START"}
    assert len({ds.RescaleSlope for ds in dss}) > 3  # a different slope per slice
    assert len({ds.AcquisitionTime for ds in dss}) == 3  # one per bed
    assert all("ATTN" in ds.CorrectedImage and "DECY" in ds.CorrectedImage for ds in dss)
    assert {str(ds.PatientName) for ds in dss} == {"ANONYMOUS^SYNTHETIC"}
    assert dss[0].PatientSex == "M" and float(dss[0].PatientSize) == 1.75
    assert len({ds.FrameOfReferenceUID for ds in dss}) == 1
    # GE private scan datetime on the same date as the public tags
    blk = dss[0].private_block(0x0009, "GEMS_PETD_01")
    assert blk[0x0D].value.startswith(dss[0].SeriesDate)


def test_one_slope_per_series_when_asked(tmp_path, small):
    dss = _read_sorted(write_pet_dicom(small, tmp_path, per_slice_slope=False))
    assert len({ds.RescaleSlope for ds in dss}) == 1


def test_philips_cnts_scale_factors(tmp_path, small):
    dss = _read_sorted(write_pet_dicom(small, tmp_path, vendor="PHILIPS", units="CNTS"))
    for k, ds in enumerate(dss[::5]):
        blk = ds.private_block(0x7053, "Philips PET Private Group")
        suv = ds.pixel_array * float(ds.RescaleSlope) * float(blk[0x00].value)
        assert float(blk[0x09].value) == pytest.approx(PHILIPS_ACTIVITY_SCALE, rel=1e-10)
        assert np.allclose(
            suv, small.suv.array[::5][k], atol=float(ds.RescaleSlope) * float(blk[0x00].value)
        )


def test_gml_stores_suv(tmp_path, small):
    ds = _read_sorted(write_pet_dicom(small, tmp_path, units="GML"))[4]
    assert ds.Units == "GML" and ds.SUVType == "BW"
    assert np.allclose(
        ds.pixel_array * float(ds.RescaleSlope), small.suv.array[4], atol=float(ds.RescaleSlope)
    )


def test_decay_none_is_per_bed(tmp_path, small):
    dss = _read_sorted(write_pet_dicom(small, tmp_path, decay_correction="NONE", n_beds=2))
    hl = float(dss[0].RadiopharmaceuticalInformationSequence[0].RadionuclideHalfLife)
    lam = math.log(2) / hl
    ratios = []
    for k in (len(dss) // 4, 3 * len(dss) // 4):  # one slice in each bed
        ds = dss[k]
        m = small.suv.array[k] > 1
        ratios.append(
            float(np.median(ds.pixel_array[m] * float(ds.RescaleSlope) / small.suv.array[k][m]))
        )
    t = [
        datetime.strptime(dss[k].AcquisitionTime[:6], "%H%M%S")
        for k in (len(dss) // 4, 3 * len(dss) // 4)
    ]
    # later bed: less activity by exactly the decay between the two bed starts
    assert ratios[1] / ratios[0] == pytest.approx(
        math.exp(-lam * (t[1] - t[0]).total_seconds()), rel=1e-3
    )


def test_quirks_and_omissions(tmp_path, small):
    hdr = PetHeaderSpec(
        dose_in_mbq=True,
        weight_in_grams=True,
        omit=("PatientSize", "RadiopharmaceuticalStartDateTime"),
        set_attributes={"SeriesDescription": "QUIRKY"},
    )
    ds = pydicom.dcmread(write_pet_dicom(small, tmp_path, header=hdr)[0])
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    assert float(rp.RadionuclideTotalDose) == 370.0 and float(ds.PatientWeight) == 75000.0
    assert "PatientSize" not in ds and "RadiopharmaceuticalStartDateTime" not in rp
    assert "RadiopharmaceuticalStartTime" in rp and ds.SeriesDescription == "QUIRKY"


def test_ge_private_date_trap_can_be_written(tmp_path, small):
    ds = pydicom.dcmread(
        write_pet_dicom(small, tmp_path, header=PetHeaderSpec(ge_private_scan_datetime="shifted"))[
            0
        ]
    )
    assert not ds.private_block(0x0009, "GEMS_PETD_01")[0x0D].value.startswith(ds.SeriesDate)


def test_file_layout_options(tmp_path, small):
    files = write_pet_dicom(
        small,
        tmp_path,
        random_file_names=True,
        descending_instance_numbers=True,
        shuffle_files=True,
    )
    assert all(p.suffix == "" and len(p.name) == 10 for p in files)
    dss = [pydicom.dcmread(f) for f in files]  # returned in slice order
    assert [int(d.InstanceNumber) for d in dss] == list(range(len(files), 0, -1))


def test_ct_writer(tmp_path, small):
    files = write_ct_dicom(small.ct, tmp_path, patient=small.patient)
    ds = pydicom.dcmread(files[3])
    assert ds.Modality == "CT" and float(ds.RescaleIntercept) == -1024
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.array_equal(hu, np.rint(small.ct.array[3]))
    pet = pydicom.dcmread(write_pet_dicom(small, tmp_path / "pt")[0])
    assert (
        ds.FrameOfReferenceUID == pet.FrameOfReferenceUID
        and ds.StudyInstanceUID == pet.StudyInstanceUID
    )


def test_demo_study_is_deterministic(tmp_path):
    a = write_demo_study(tmp_path / "a", spacing_mm=(20, 20, 20), with_ct=False)
    b = write_demo_study(tmp_path / "b", spacing_mm=(20, 20, 20), with_ct=False)
    fa, fb = sorted((a / "PT").iterdir()), sorted((b / "PT").iterdir())
    assert [p.name for p in fa] == [p.name for p in fb]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb, strict=True))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(vendor="ACME"), "vendor"),
        (dict(units="PROPCNTS"), "units"),
        (dict(decay_correction="X"), "decay"),
        (dict(orientation="HFP"), "orientation"),
    ],
)
def test_writer_refuses_bad_options(tmp_path, small, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        write_pet_dicom(small, tmp_path, **kwargs)


def test_writer_refuses_non_suv_volume(tmp_path, small):
    with pytest.raises(ConfigError, match="SUVbw"):
        write_pet_dicom(small.ct, tmp_path)
    with pytest.raises(ConfigError, match="HU"):
        write_ct_dicom(small.suv, tmp_path)
    assert small.suv.unit is Unit.SUV_BW
