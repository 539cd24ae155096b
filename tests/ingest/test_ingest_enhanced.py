"""Enhanced (multi-frame) PET: frames placed by their own PlanePositionSequence, rescaled per frame."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from carpet.ingest import discover, read_series_volume
from carpet.synthetic import make_whole_body_study


def _item(**kw):
    ds = Dataset()
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def _write_enhanced(vol, path, order):
    """One Enhanced PET file whose frames are stored in ``order`` (a permutation of slices)."""
    n, rows, cols = vol.shape
    slopes = np.array([max(float(vol.array[k].max()), 1e-3) / 30000.0 for k in range(n)])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.130"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "PT"
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Units = "BQML"
    ds.CorrectedImage = ["ATTN", "DECY"]
    ds.Rows, ds.Columns = rows, cols
    ds.NumberOfFrames = n
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    aff = vol.affine
    iop = [*(aff[:3, 2] / np.linalg.norm(aff[:3, 2])), *(aff[:3, 1] / np.linalg.norm(aff[:3, 1]))]
    ds.SharedFunctionalGroupsSequence = Sequence(
        [
            _item(
                PlaneOrientationSequence=Sequence(
                    [_item(ImageOrientationPatient=[f"{x:.8g}" for x in iop])]
                ),
                PixelMeasuresSequence=Sequence(
                    [
                        _item(
                            PixelSpacing=[
                                f"{np.linalg.norm(aff[:3, 1]):.8g}",
                                f"{np.linalg.norm(aff[:3, 2]):.8g}",
                            ],
                            SliceThickness="1",
                        )
                    ]
                ),
            )
        ]
    )
    frames, pixels = [], []
    for k in order:
        ipp = vol.index_to_world([[k, 0, 0]])[0]
        frames.append(
            _item(
                PlanePositionSequence=Sequence(
                    [_item(ImagePositionPatient=[f"{x:.8g}" for x in ipp])]
                ),
                PixelValueTransformationSequence=Sequence(
                    [
                        _item(
                            RescaleSlope=f"{slopes[k]:.9g}",
                            RescaleIntercept="0",
                            RescaleType="BQML",
                        )
                    ]
                ),
            )
        )
        pixels.append(np.rint(vol.array[k] / float(f"{slopes[k]:.9g}")).astype(np.int16))
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.stack(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return slopes


def test_enhanced_pet_frames_in_any_order(tmp_path):
    s = make_whole_body_study(
        fov="head_neck", spacing_mm=(10.0, 10.0, 10.0), n_lesions=1, with_ct=False
    )
    n = s.suv.shape[0]
    order = np.random.default_rng(0).permutation(n)
    slopes = _write_enhanced(s.suv, tmp_path / "enhanced.dcm", order)
    series = discover(tmp_path).pick_pet()
    assert series.kind == "PT" and series.n_instances == 1
    vol = read_series_volume(series)
    assert vol.same_grid_as(s.suv, atol_mm=1e-6)
    assert np.abs(vol.array - s.suv.array).max() <= slopes.max() / 2 + 1e-6
    # per-frame keys follow "<SOPInstanceUID>#<1-based frame number>" in slice order
    uid = pydicom.dcmread(tmp_path / "enhanced.dcm", stop_before_pixels=True).SOPInstanceUID
    assert vol.meta["sop_instance_uids"][0] == f"{uid}#{int(np.argmax(order == 0)) + 1}"
