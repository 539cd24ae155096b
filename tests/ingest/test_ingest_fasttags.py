"""The raw-bytes header readers agree with pydicom's converted values (raw, converted, malformed, absent)."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian

from carpet.ingest._fasttags import MALFORMED, fast_number, fast_numbers, fast_text, fast_us
from carpet.ingest.discover import read_instance_header
from carpet.synthetic import make_whole_body_study, write_pet_dicom


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    s = make_whole_body_study(
        fov="head_neck", spacing_mm=(15.0, 15.0, 15.0), n_lesions=0, with_ct=False
    )
    out = tmp_path_factory.mktemp("ft")
    return write_pet_dicom(s, out / "ex"), write_pet_dicom(
        s, out / "im", transfer_syntax=ImplicitVRLittleEndian
    )


@pytest.mark.parametrize("which", [0, 1], ids=["explicit", "implicit"])
def test_raw_and_converted_agree(files, which):
    path = files[which][2]
    ds = read_instance_header(path).dataset
    raw = {
        k: fast_numbers(ds, k)
        for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
    }
    slope, rows = fast_number(ds, "RescaleSlope", None), fast_us(ds, "Rows", None)
    sop = fast_text(ds, "SOPInstanceUID")
    ref = pydicom.dcmread(path)
    for k, v in raw.items():
        assert v == [float(x) for x in ref[k].value]
    assert slope == float(ref.RescaleSlope) and rows == ref.Rows and sop == ref.SOPInstanceUID
    # after pydicom converted them, the same answers
    _ = ds.ImagePositionPatient, ds.Rows, ds.SOPInstanceUID
    assert fast_numbers(ds, "ImagePositionPatient") == raw["ImagePositionPatient"]
    assert fast_us(ds, "Rows", None) == rows and fast_text(ds, "SOPInstanceUID") == sop


def test_absent_and_malformed(files, tmp_path):
    from carpet.errors import DicomHeaderError
    from carpet.ingest import read_series_volume

    ds = pydicom.dcmread(files[0][0])
    del ds.RescaleSlope
    del ds.PixelSpacing
    ds.add_new(0x00280030, "LO", "abc\\4")  # not numbers
    ds.save_as(tmp_path / "bad.dcm")
    hdr = read_instance_header(tmp_path / "bad.dcm").dataset
    assert fast_numbers(hdr, "PixelSpacing") is MALFORMED
    assert (
        fast_number(hdr, "RescaleSlope", 1.0) == 1.0 and fast_numbers(hdr, "RescaleSlope") is None
    )
    with pytest.raises(DicomHeaderError) as exc:
        read_series_volume([tmp_path / "bad.dcm"])
    assert (
        exc.value.code == "MISSING_GEOMETRY"
        and "abc" in str(exc.value)
        and exc.value.tag == "(0028,0030)"
    )
