"""Bad inputs: each is listed or refused with a clear, coded error — never a traceback."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pydicom
import pytest

from carpet.errors import (
    DicomHeaderError,
    HeaderWarning,
    InconsistentSeriesError,
    InputError,
    NoPetSeriesError,
)
from carpet.ingest import discover, read_pet, read_series_volume
from carpet.synthetic import (
    PetHeaderSpec,
    make_whole_body_study,
    write_pet_dicom,
    write_study_dicom,
)


@pytest.fixture(scope="module")
def phantom():
    return make_whole_body_study(
        fov="head_neck", spacing_mm=(10.0, 10.0, 10.0), n_lesions=1, seed=1
    )


@pytest.fixture
def series(phantom, tmp_path):
    files = write_pet_dicom(phantom, tmp_path / "pt")
    return tmp_path / "pt", files


def _edit(path, **changes):
    ds = pydicom.dcmread(path)
    for k, v in changes.items():
        setattr(ds, k, v)
    ds.save_as(path)


def test_truncated_file_is_listed_and_its_slice_reported_missing(series):
    folder, files = series
    data = files[5].read_bytes()
    files[5].write_bytes(data[: len(data) - 300])
    d = discover(folder)
    assert [p.path for p in d.problems] == [files[5]]
    assert "truncated" in d.problems[0].reason and d.problems[0].code == "TRUNCATED_FILE"
    with pytest.raises(InconsistentSeriesError) as exc:
        read_series_volume(d.pick_pet())
    assert exc.value.code == "MISSING_SLICE" and "1 slice(s) missing" in str(exc.value)


def test_truncated_header_is_listed(series):
    folder, files = series
    files[0].write_bytes(files[0].read_bytes()[:400])
    d = discover(folder)
    assert [p.path for p in d.problems] == [files[0]]


def test_non_dicom_files_are_listed_and_skipped(series):
    folder, files = series
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "empty").write_bytes(b"")
    (folder / "sub").mkdir()
    (folder / "sub" / "random.bin").write_bytes(np.random.default_rng(0).bytes(5000))
    d = discover(folder)
    assert sorted(p.path.name for p in d.problems) == ["empty", "notes.txt", "random.bin"]
    assert {p.code for p in d.problems} <= {"NOT_DICOM", "UNREADABLE_FILE"}
    assert all("not a DICOM file" in p.reason or "cannot be parsed" in p.reason for p in d.problems)
    assert d.pick_pet().n_instances == len(files)
    assert read_series_volume(d.pick_pet()).shape[0] == len(files)


def test_missing_slice(series):
    folder, files = series
    files[7].unlink()
    files[8].unlink()
    with pytest.raises(InconsistentSeriesError) as exc:
        read_series_volume(discover(folder).pick_pet())
    assert exc.value.code == "MISSING_SLICE" and "2 slice(s) missing" in str(exc.value)


def test_identical_duplicate_is_dropped_with_a_warning(series, phantom):
    folder, files = series
    shutil.copy(files[3], folder / "copy_of_slice_4")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        vol = read_series_volume(discover(folder).pick_pet())
    assert vol.shape == phantom.suv.shape
    assert any(issubclass(w.category, HeaderWarning) and "duplicate" in str(w.message) for w in rec)
    assert any("duplicate" in w for w in vol.meta["warnings"])


def test_different_image_at_the_same_position_is_refused(series):
    folder, files = series
    ds = pydicom.dcmread(files[3])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    arr = ds.pixel_array.copy()
    arr[0, 0] += 100
    ds.PixelData = arr.tobytes()
    ds.save_as(folder / "other_recon")
    with pytest.raises(InconsistentSeriesError) as exc:
        read_series_volume(discover(folder).pick_pet())
    assert exc.value.code == "DUPLICATE_SLICE" and "same position" in str(exc.value)


def test_non_uniform_spacing(series):
    folder, files = series
    ds = pydicom.dcmread(files[6])
    ipp = [float(x) for x in ds.ImagePositionPatient]
    _edit(files[6], ImagePositionPatient=[ipp[0], ipp[1], ipp[2] + 3.0])
    with pytest.raises(InconsistentSeriesError) as exc:
        read_series_volume(discover(folder).pick_pet())
    assert exc.value.code == "NON_UNIFORM_SPACING"


@pytest.mark.parametrize(
    "change",
    [
        dict(PixelSpacing=[9.0, 9.0]),
        dict(ImageOrientationPatient=[1, 0, 0, 0, 0.9950042, -0.0998334]),
    ],
    ids=["pixel-spacing", "orientation"],
)
def test_mixed_geometry(series, change):
    folder, files = series
    _edit(files[4], **change)
    with pytest.raises(InconsistentSeriesError) as exc:
        read_series_volume(discover(folder).pick_pet())
    assert exc.value.code == "MIXED_GEOMETRY" and str(files[4]) in str(exc.value)


def test_mixed_matrix_size(series):
    folder, files = series
    ds = pydicom.dcmread(files[2])
    ds.Rows, ds.Columns = 10, 10
    ds.PixelData = np.zeros((10, 10), np.int16).tobytes()
    ds.save_as(files[2])
    with pytest.raises(InconsistentSeriesError, match="Rows×Columns") as exc:
        read_series_volume(discover(folder).pick_pet())
    assert exc.value.code == "MIXED_GEOMETRY"


def test_missing_position_is_a_header_error(series):
    folder, files = series
    ds = pydicom.dcmread(files[2])
    del ds.ImagePositionPatient
    ds.save_as(files[2])
    with pytest.raises(DicomHeaderError) as exc:
        read_series_volume(discover(folder).pick_pet())
    assert exc.value.code == "MISSING_GEOMETRY" and exc.value.tag == "(0020,0032)"


def test_empty_folder(tmp_path):
    d = discover(tmp_path)
    assert d.series == [] and d.problems == []
    with pytest.raises(NoPetSeriesError) as exc:
        read_pet(tmp_path)
    assert exc.value.code == "NO_PET_SERIES" and str(tmp_path) in str(exc.value)


def test_missing_path():
    with pytest.raises(InputError) as exc:
        discover("/nonexistent/carpet/path")
    assert exc.value.code == "PATH_NOT_FOUND"


def test_no_attenuation_corrected_pet(phantom, tmp_path):
    write_pet_dicom(phantom, tmp_path, header=PetHeaderSpec(corrected_image=("DECY", "SCAT")))
    with pytest.raises(NoPetSeriesError) as exc:
        read_pet(tmp_path)
    assert exc.value.code == "NO_AC_PET_SERIES" and "ATTN" in str(exc.value)


def test_series_uid_selection(phantom, tmp_path):
    write_study_dicom(phantom, tmp_path)
    d = discover(tmp_path)
    ct = next(s for s in d.series if s.kind == "CT")
    with pytest.raises(NoPetSeriesError) as exc:
        d.pick_pet(ct.series_instance_uid)
    assert exc.value.code == "NOT_PET_SERIES"
    with pytest.raises(NoPetSeriesError) as exc:
        d.pick_pet("1.2.3.4")
    assert exc.value.code == "SERIES_NOT_FOUND"


def test_mixed_studies_dicomdir_and_extensionless_names(phantom, tmp_path):
    from pydicom.fileset import FileSet

    src = tmp_path / "src"
    write_study_dicom(phantom, src / "one", random_file_names=True)
    write_pet_dicom(
        phantom,
        src / "two",
        header=PetHeaderSpec(uid_seed="second-patient", patient_id="SYNTH-2"),
        random_file_names=True,
    )
    fs = FileSet()
    for p in sorted(src.rglob("*")):
        if p.is_file():
            fs.add(p)
    fs.write(tmp_path / "media")  # DICOMDIR + extension-less files in nested folders
    assert (tmp_path / "media" / "DICOMDIR").is_file()
    d = discover(tmp_path / "media")
    assert d.problems == []
    kinds = sorted((s.kind, s.n_instances) for s in d.series)
    n = phantom.suv.shape[0]
    assert kinds == [("CT", n), ("PT", n), ("PT", n)]
    assert len({s.study_instance_uid for s in d.series}) == 2
    for s in d.series:
        if s.kind == "PT":
            assert read_pet(tmp_path / "media", series_uid=s.series_instance_uid).suv.same_grid_as(
                phantom.suv
            )
    # without series_uid one is picked, and the choice is stated in the warnings
    pet = read_pet(tmp_path / "media")
    assert any("2 attenuation-corrected PET series" in w for w in pet.warnings)


def test_nifti_needs_units(tmp_path, phantom):
    from carpet.ingest import write_nifti

    p = write_nifti(phantom.suv, tmp_path / "suv.nii.gz")
    with pytest.raises(InputError) as exc:
        read_pet(p)
    assert exc.value.code == "NIFTI_UNITS_REQUIRED" and "--units suv" in str(exc.value)
    pet = read_pet(p, units="suv")
    assert np.array_equal(pet.suv.array, phantom.suv.array) and pet.suv.same_grid_as(phantom.suv)


def test_truncated_compressed_file_is_listed(phantom, tmp_path):
    from pydicom.uid import JPEGLSLossless

    files = write_pet_dicom(phantom, tmp_path, transfer_syntax=JPEGLSLossless)
    data = files[4].read_bytes()
    files[4].write_bytes(data[: len(data) - 40])
    d = discover(tmp_path)
    assert [p.path for p in d.problems] == [files[4]] and "truncated" in d.problems[0].reason


def test_image_without_pixel_data_is_listed(series):
    folder, files = series
    ds = pydicom.dcmread(files[6])
    del ds.PixelData
    ds.save_as(files[6])
    d = discover(folder)
    assert [p.path for p in d.problems] == [files[6]] and "without PixelData" in d.problems[
        0
    ].reason


def test_a_copied_series_folder_is_deduplicated_with_one_warning(series, phantom, tmp_path):
    folder, files = series
    shutil.copytree(folder, tmp_path / "copy")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        vol = read_series_volume(discover(tmp_path).pick_pet())
    assert vol.shape == phantom.suv.shape
    dup = [w for w in rec if issubclass(w.category, HeaderWarning)]
    assert len(dup) == 1 and f"{len(files)} duplicate instance(s)" in str(dup[0].message)


def test_large_non_dicom_file_is_not_parsed(tmp_path):
    # 0xFFFFFFFF-looking lengths in garbage would make a forced parse read the whole file
    big = tmp_path / "video.bin"
    big.write_bytes(b"\xff" * (8 << 20))
    d = discover(tmp_path)
    assert [(p.path.name, p.code) for p in d.problems] == [("video.bin", "NOT_DICOM")]


def test_fifo_in_tree_does_not_block(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe")
    d = discover(tmp_path)
    assert [(p.path.name, p.reason) for p in d.problems] == [("pipe", "not a regular file")]
