"""Benchmark: DICOM SEG export and import of a 200-lesion whole-body label map.

Side by side in one process, same label map and same source PET headers:

export
  * carpet ``labels_to_seg`` (BINARY, one segment per lesion, lesion ids kept in TrackingID)
  * highdicom plain usage: ``hd.seg.Segmentation`` given the label map directly (BINARY)
  * highdicom LABELMAP segmentation type (DICOM 2024; fewer readers support it) — file size peer
import
  * carpet ``read_seg`` (frames placed on the PET grid, pairing and overlap checks)
  * highdicom plain usage: ``segread(...).get_volume(combine_segments=True)``
  * numpy floor: ``pydicom.dcmread`` + ``pixel_array`` (bit unpacking only, no placement)

pydicom-seg (0.4.1, the latest) is not run: it does not import with pydicom 3
(``pydicom._storage_sopclass_uids`` was removed) and it pins numpy < 2, so it cannot
be installed into carpet's environment.

Run: ``.venv/bin/python benchmarks/bench_seg.py [--lesions 200] [--repeat 3]``.
Prints times (best of ``repeat``), file sizes, ratios vs carpet, and peak Python heap (tracemalloc).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
import warnings
from io import BytesIO
from pathlib import Path

import numpy as np


def make_case(n_lesions: int, shape: tuple[int, int, int], seed: int = 0):
    """Whole-body-sized PET headers (written with carpet.synthetic) and a label map with n lesions."""
    import pydicom

    from carpet.core.volume import Volume
    from carpet.export.seg import complete_type2
    from carpet.ingest import read_series_volume
    from carpet.synthetic import PetHeaderSpec, write_pet_dicom
    from carpet.units import Unit

    rng = np.random.default_rng(seed)
    aff = np.array([[0, 0, 4.0, -288.0], [0, 4.0, 0, -288.0], [4.0, 0, 0, -1000.0], [0, 0, 0, 1]])
    suv = Volume(rng.uniform(0.5, 2.0, shape).astype(np.float32), aff, unit=Unit.SUV_BW)
    folder = Path(tempfile.mkdtemp(prefix="bench-seg-"))
    files = write_pet_dicom(
        suv, folder / "PT", header=PetHeaderSpec(weight_kg=70.0), per_slice_slope=False
    )
    vol = read_series_volume(files)
    # The synthetic writer omits PatientSex (Type 2); plain highdicom needs it, so every
    # implementation gets the completed headers.
    sources = complete_type2([pydicom.dcmread(f, stop_before_pixels=True) for f in vol.meta["files"]])
    lab = np.zeros(shape, np.int32)
    kk, jj, ii = np.ogrid[: shape[0], : shape[1], : shape[2]]
    for lid in range(1, n_lesions + 1):
        r = rng.uniform(1.5, 5.0)
        c = [rng.uniform(r, s - r) for s in shape]
        box = tuple(
            slice(max(int(ci - r - 1), 0), min(int(ci + r + 2), s)) for ci, s in zip(c, shape, strict=True)
        )
        ball = (kk[box[0]] - c[0]) ** 2 + (jj[:, box[1]] - c[1]) ** 2 + (
            ii[:, :, box[2]] - c[2]
        ) ** 2 <= r * r
        sub = lab[box]
        sub[ball & (sub == 0)] = lid
    present = np.unique(lab)
    assert len(present) - 1 == n_lesions, "lesions must not hide each other"
    return vol.with_array(lab, unit=Unit.LABEL), vol, sources, folder


def best(fns, repeat: int):
    """Best time and last result of each function; runs are interleaved (round robin) so that
    a change of machine load affects every implementation alike."""
    times = [[] for _ in fns]
    outs = [None] * len(fns)
    for fn in fns:  # warm-up round, not timed (imports, highdicom's standard tables)
        fn()
    for _ in range(repeat):
        for n, fn in enumerate(fns):
            gc.collect()
            t = time.perf_counter()
            outs[n] = fn()
            times[n].append(time.perf_counter() - t)
    return [(min(t), o) for t, o in zip(times, outs, strict=True)]


def peak_mib(fn) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def to_bytes(ds) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def main() -> None:
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    from carpet.export.seg import labels_to_seg
    from carpet.ingest.seg import MaskReference, read_seg

    ap = argparse.ArgumentParser()
    ap.add_argument("--lesions", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slices", type=int, default=250)
    args = ap.parse_args()
    shape = (args.slices, 144, 144)
    labels, pet, sources, folder = make_case(args.lesions, shape)
    ids = sorted(int(v) for v in np.unique(labels.array) if v)
    print(
        f"label map {shape} (4 mm, whole body), {len(ids)} lesions, {int((labels.array > 0).sum())} voxels"
    )

    def carpet_export():
        return to_bytes(labels_to_seg(labels, sources))

    def hd_plain(seg_type: str):
        def run():
            descs = [
                hd.seg.SegmentDescription(
                    n,
                    f"Lesion {n}",
                    codes.SCT.MorphologicallyAbnormalStructure,
                    codes.SCT.Neoplasm,
                    "AUTOMATIC",
                    hd.AlgorithmIdentificationSequence(
                        "x", codes.cid7162.ArtificialIntelligence, "1"
                    ),
                )
                for n in ids
            ]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seg = hd.seg.Segmentation(
                    sources,
                    labels.array.astype(np.uint16),
                    seg_type,
                    descs,
                    hd.UID(),
                    1,
                    hd.UID(),
                    1,
                    "m",
                    "m",
                    "1",
                    "1",
                )
            return to_bytes(seg)

        return run

    rows = []
    (t_c, b_c), (t_h, b_h), (t_l, b_l) = best(
        [carpet_export, hd_plain("BINARY"), hd_plain("LABELMAP")], args.repeat
    )
    rows.append(("export", "carpet labels_to_seg (BINARY)", t_c, len(b_c), peak_mib(carpet_export)))
    rows.append(("export", "highdicom plain (BINARY)", t_h, len(b_h), peak_mib(hd_plain("BINARY"))))
    rows.append(
        ("export", "highdicom plain (LABELMAP)", t_l, len(b_l), peak_mib(hd_plain("LABELMAP")))
    )

    path = folder / "seg.dcm"
    path.write_bytes(b_c)
    ref = MaskReference.from_volume(pet)

    def carpet_import():
        return read_seg(path, pet, reference_uids=ref).labels.array

    def hd_import():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return hd.seg.segread(path).get_volume(combine_segments=True, relabel=False).array

    def floor_import():
        return pydicom.dcmread(path).pixel_array

    (ti_c, arr_c), (ti_h, arr_h), (ti_f, _) = best([carpet_import, hd_import, floor_import], args.repeat)
    assert np.array_equal(arr_c, labels.array), "carpet import must give back the label map"
    n_c = int((arr_c > 0).sum())
    n_h = int((np.asarray(arr_h) > 0).sum())
    assert n_c == n_h, (n_c, n_h)
    rows.append(
        ("import", "carpet read_seg (placed on PET grid)", ti_c, len(b_c), peak_mib(carpet_import))
    )
    rows.append(("import", "highdicom segread+get_volume", ti_h, len(b_c), peak_mib(hd_import)))
    rows.append(
        ("import", "numpy floor: dcmread+pixel_array", ti_f, len(b_c), peak_mib(floor_import))
    )
    print("pydicom-seg 0.4.1: not run (does not import with pydicom 3; pins numpy<2)")
    print(
        f"{'step':7s} {'implementation':40s} {'time s':>8s} {'size MiB':>9s} {'peak MiB':>9s} {'t/carpet':>9s} {'size/carpet':>11s}"
    )
    for step, name, t, size, peak in rows:
        base_t = t_c if step == "export" else ti_c
        print(
            f"{step:7s} {name:40s} {t:8.3f} {size / 2**20:9.2f} {peak:9.1f} {t / base_t:9.2f} {size / len(b_c):11.3f}"
        )


if __name__ == "__main__":
    main()
