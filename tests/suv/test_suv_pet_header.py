"""read_pet_acquisition: tolerant reading, private tags by creator, sorting, inconsistencies."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from suv_helpers import UID, pet, rp

from carpet.ingest.pet_header import read_pet_acquisition


def test_reads_the_suv_facts_as_stored():
    acq = read_pet_acquisition(
        [pet(2, acq_time="110500"), pet(0), pet(1, acq_time="110200")], source="here"
    )
    assert acq.units == "BQML" and acq.decay_correction == "START" and acq.is_decay_corrected
    assert acq.radionuclide_total_dose == 1e8 and acq.radionuclide_half_life_s == 6586.2
    assert acq.radionuclide_code == "C-111A1" and acq.radionuclide_code_meaning == "^18^Fluorine"
    assert acq.radiopharmaceutical_start_datetime == datetime(2025, 1, 1, 10)
    assert acq.radiopharmaceutical_start_time == time(10)
    assert acq.series_datetime == datetime(2025, 1, 1, 11)
    assert (acq.patient_weight, acq.patient_size, acq.patient_sex) == (75.0, 1.85, "M")
    assert acq.series_instance_uid == UID and acq.source == "here"
    # instances sorted by acquisition time, whatever the input order
    assert [r.sop_instance_uid for r in acq.instances] == [f"{UID}.1", f"{UID}.2", f"{UID}.3"]
    assert acq.earliest_acquisition_datetime == datetime(2025, 1, 1, 11)
    assert acq.instances[0].rescale_slope == 1.5 and acq.instances[0].frame_duration_ms == 180000
    assert acq.inconsistencies == () and acq.header_problems == ()
    assert acq.to_dict()["instances"][0]["acquisition_datetime"] == "2025-01-01T11:00:00"


def test_private_factors_by_creator_in_any_block():
    ds = pet()
    ds.Units = "CNTS"
    ds.add_new(0x70530011, "LO", "Philips PET Private Group")  # block 0x11, not the usual 0x10
    ds.add_new(0x70531100, "DS", "0.000551")
    ds.add_new(0x70531109, "DS", "1.6")
    ds.add_new(0x00090012, "LO", "GEMS_PETD_01")
    ds.add_new(0x0009120D, "DT", "20250101110000")
    ds.add_new(0x0009123B, "DT", "20250101100000")
    acq = read_pet_acquisition([ds])
    r = acq.instances[0]
    assert (
        r.philips_suv_scale_factor == 0.000551
        and r.philips_activity_concentration_scale_factor == 1.6
    )
    assert acq.ge_private_scan_datetime == datetime(2025, 1, 1, 11)
    assert acq.ge_private_admin_datetime == datetime(2025, 1, 1, 10)


def test_philips_factor_without_creator_uses_conventional_tag():
    ds = pet()
    ds[0x70531000] = RawDataElement(
        Tag(0x70531000), "UN", 8, b"0.000551", 0, False, True, True, False
    )
    assert read_pet_acquisition([ds]).instances[0].philips_suv_scale_factor == 0.000551


def test_ge_private_creator_elsewhere_is_not_mistaken():
    ds = pet()
    ds.add_new(0x00090010, "LO", "SOME OTHER VENDOR")
    ds.add_new(0x0009100D, "DT", "20250101113000")  # same element number, different creator
    assert read_pet_acquisition([ds]).ge_private_scan_datetime is None


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
def test_malformed_values_are_recorded_not_raised():
    ds = pet()
    ds[0x00101030] = RawDataElement(Tag(0x00101030), "DS", 4, b"abc ", 0, False, True, True, False)
    ds[0x00080031] = RawDataElement(Tag(0x00080031), "TM", 4, b"2599", 0, False, True, True, False)
    ds[0x00080021] = RawDataElement(
        Tag(0x00080021), "DA", 8, b"20251301", 0, False, True, True, False
    )
    rp(ds)[0x00181074] = RawDataElement(
        Tag(0x00181074), "DS", 6, b"1e400 ", 0, False, True, True, False
    )
    ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = "2025"
    acq = read_pet_acquisition([ds])
    assert acq.patient_weight is None and acq.series_time is None and acq.series_date is None
    assert acq.radionuclide_total_dose is None and acq.radiopharmaceutical_start_datetime is None
    text = " | ".join(acq.header_problems)
    for frag in (
        "PatientWeight (0010,1030): 'abc'",
        "SeriesTime (0008,0031)",
        "SeriesDate (0008,0021)",
        "RadionuclideTotalDose (0018,1074)",
        "RadiopharmaceuticalStartDateTime (0018,1078)",
    ):
        assert frag in text


def test_empty_and_missing_structures():
    acq = read_pet_acquisition([])
    assert acq.header_problems == ("no datasets given",) and acq.instances == ()
    ds = Dataset()
    ds.RadiopharmaceuticalInformationSequence = []
    acq = read_pet_acquisition([ds])
    assert acq.radionuclide_total_dose is None and acq.units is None and len(acq.instances) == 1
    assert read_pet_acquisition([Dataset()]).corrected_image == ()


def test_inconsistent_series_level_attributes_listed():
    a, b = pet(0), pet(1)
    b.Units = "CNTS"
    rp(b).RadionuclideTotalDose = "2e8"
    b.SeriesTime = "120000"
    inc = read_pet_acquisition([a, b]).inconsistencies
    assert "Units (0054,1001): ['BQML', 'CNTS']" in inc
    assert "RadionuclideTotalDose (0018,1074): [100000000.0, 200000000.0]" in inc
    assert any(i.startswith("SeriesTime (0008,0031)") for i in inc)
    # numerically equal spellings are not inconsistent
    c = pet(2)
    c.PatientWeight = "75.00"
    assert read_pet_acquisition([a, c]).inconsistencies == ()


def test_acquisition_time_without_date_is_kept():
    ds = pet()
    del ds.AcquisitionDate
    acq = read_pet_acquisition([ds])
    assert acq.instances[0].acquisition_datetime is None
    assert acq.instances[0].acquisition_time_only == time(11)
