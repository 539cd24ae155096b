"""Load a whole PET series to a float32 SUVbw volume: carpet vs SimpleITK vs a plain pydicom loop.

Run: ``python benchmarks/bench_load.py [--acrin PATH] [--skip-wholebody] [--repeats N]``

Cases
-----
* ACRIN PT AC (``../shared/data/acrin-nsclc-fdg-pet-042``): the JPEG-LS study folder
  (all 412 files of the study are scanned) and the uncompressed PET folder.
* A generated 2 mm whole-body series (~350×350×900, uncompressed, per-slice slope),
  written once to a temporary folder.

Methods (each in a fresh ``spawn``ed process, so peak memory is its own)
-----------------------------------------------------------------------
* ``carpet``: :func:`carpet.ingest.read_pet` (discovery + headers + SUV factors +
  parallel pixel read, SUV applied in place).
* ``simpleitk``: ``ImageSeriesReader.GetGDCMSeriesFileNames`` + ``Execute`` (float32
  output, per-slice rescale) + one multiply by the SUV factor (factor given for free).
* ``pydicom``: ``dcmread`` every file of the series, ``pixel_array·slope+intercept``,
  sort by position along the normal, stack, multiply.

Time is the best of ``--repeats`` runs (warm file cache), as wall time and as the
process's CPU time (``time.process_time``: all threads; on a shared machine the
wall time mostly measures the other load, the CPU time much less so); peak memory is the
increase of the process's peak RSS (VmHWM, reset through /proc/self/clear_refs)
over its RSS before the first load, reported against the size of the float32
volume (for the small ACRIN volume this is dominated by allocator noise).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _load_carpet(folder: str, series_uid: str, factor: float):
    from carpet.ingest import read_pet

    return read_pet(folder, series_uid=series_uid).suv.array


def _load_sitk(folder: str, series_uid: str, factor: float):
    import SimpleITK as sitk

    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, series_uid, False, True)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.SetOutputPixelType(sitk.sitkFloat32)
    img = reader.Execute()
    arr = sitk.GetArrayViewFromImage(img)
    out = arr * factor  # the one multiply (float32)
    return out


def _load_pydicom(folder: str, series_uid: str, factor: float):
    import numpy as np
    import pydicom

    slices = []
    for dirpath, _, names in os.walk(folder):
        for name in names:
            p = os.path.join(dirpath, name)
            try:
                ds = pydicom.dcmread(p)
            except Exception:  # noqa: BLE001 - the plain loop skips what it cannot read
                continue
            if ds.get("SeriesInstanceUID") != series_uid:
                continue
            iop = np.array(ds.ImageOrientationPatient, dtype=float)
            pos = float(
                np.dot(np.array(ds.ImagePositionPatient, dtype=float), np.cross(iop[:3], iop[3:]))
            )
            arr = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(
                ds.get("RescaleIntercept", 0)
            )
            slices.append((pos, arr))
    slices.sort(key=lambda t: t[0])
    vol = np.stack([a for _, a in slices])
    vol *= factor
    return vol


METHODS = {"carpet": _load_carpet, "simpleitk": _load_sitk, "pydicom": _load_pydicom}


def _child(method: str, folder: str, series_uid: str, factor: float, inbox, outbox) -> None:
    """A long-lived worker: runs ``method`` each time it is asked, reports time/peak."""
    sys.path.insert(0, str(REPO / "src"))
    import numpy as np  # noqa: F401 - import cost outside the measurement
    import pydicom  # noqa: F401
    import SimpleITK  # noqa: F401

    import carpet.ingest  # noqa: F401
    import carpet.suv  # noqa: F401

    fn = METHODS[method]
    first = True
    while inbox.get() == "run":
        base = _status_kb("VmRSS")
        _reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        arr = fn(folder, series_uid, factor)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = (_status_kb("VmHWM") - base) / 1024.0
        outbox.put(
            {
                "time_s": dt,
                "cpu_s": cpu,
                "peak_mib": peak if first else None,
                "shape": tuple(arr.shape),
                "checksum": float(arr.astype("float64").sum()),
            }
        )
        first = False
        del arr


def run_case(name: str, folder: Path, repeats: int) -> dict:
    """Run every method ``repeats`` times, interleaved (so load changes hit all alike)."""
    sys.path.insert(0, str(REPO / "src"))
    from carpet.ingest import discover
    from carpet.ingest.pet_header import read_pet_acquisition
    from carpet.suv import compute_suv_factors

    disc = discover(folder)
    s = disc.pick_pet()
    factor = compute_suv_factors(read_pet_acquisition(s.datasets)).bw_factor
    ctx = mp.get_context("spawn")
    workers = {}
    for method in METHODS:
        inbox, outbox = ctx.Queue(), ctx.Queue()
        p = ctx.Process(
            target=_child, args=(method, str(folder), s.series_instance_uid, factor, inbox, outbox)
        )
        p.start()
        workers[method] = (p, inbox, outbox)
    results: dict[str, dict] = {m: {"times": [], "cpus": []} for m in METHODS}
    for _ in range(repeats):
        for method, (_, inbox, outbox) in workers.items():
            inbox.put("run")
            r = outbox.get()
            results[method]["times"].append(r["time_s"])
            results[method]["cpus"].append(r["cpu_s"])
            if r["peak_mib"] is not None:
                results[method]["peak_mib"] = r["peak_mib"]
            results[method]["shape"] = r["shape"]
            results[method]["checksum"] = r["checksum"]
    for p, inbox, _ in workers.values():
        inbox.put("stop")
        p.join()
    for r in results.values():
        r["time_s"] = min(r["times"])
        r["cpu_s"] = min(r["cpus"])
    shape = results["carpet"]["shape"]
    vol_mib = shape[0] * shape[1] * shape[2] * 4 / 2**20
    print(
        f"\n== {name}: {folder} — {s.n_instances} files, volume {shape}, float32 {vol_mib:.1f} MiB"
    )
    print(
        f"{'method':10s} {'best s':>8s} {'median s':>9s} {'×carpet':>8s} {'best cpu s':>10s} "
        f"{'×carpet':>8s} {'peak MiB':>9s} {'peak/vol':>9s}  checksum"
    )
    for m, r in results.items():
        med = sorted(r["times"])[len(r["times"]) // 2]
        print(
            f"{m:10s} {r['time_s']:8.3f} {med:9.3f} {r['time_s'] / results['carpet']['time_s']:8.2f} "
            f"{r['cpu_s']:10.3f} {r['cpu_s'] / results['carpet']['cpu_s']:8.2f} "
            f"{r['peak_mib']:9.1f} {r['peak_mib'] / vol_mib:9.2f}  {r['checksum']:.6g}"
        )
    c, k = results["carpet"], results["simpleitk"]
    print(
        f"ratio carpet/SimpleITK time = {c['time_s'] / k['time_s']:.2f} (goal ≤ 1.0); "
        f"CPU time (all threads; insensitive to other load) = {c['cpu_s'] / k['cpu_s']:.2f}; "
        f"carpet/pydicom time = {c['time_s'] / results['pydicom']['time_s']:.2f}; "
        f"carpet peak memory = {c['peak_mib'] / vol_mib:.2f}× the float32 volume (goal ≤ 2)"
    )
    rel = abs(c["checksum"] - k["checksum"]) / max(abs(k["checksum"]), 1e-12)
    print(f"carpet vs SimpleITK checksum relative difference {rel:.2e}")
    print(f"(load average during the case: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--acrin", type=Path, default=REPO.parent / "shared" / "data" / "acrin-nsclc-fdg-pet-042"
    )
    ap.add_argument("--skip-wholebody", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--spacing-mm", type=float, default=2.0, help="whole-body grid spacing (2 → ~350×350×900)"
    )
    args = ap.parse_args()
    if args.acrin.is_dir():
        run_case("ACRIN PT AC, JPEG-LS study folder", args.acrin / "study_jpegls", args.repeats)
        run_case("ACRIN PT AC, uncompressed", args.acrin / "pet_uncompressed", args.repeats)
    else:
        print(f"ACRIN data not found at {args.acrin}; skipping")
    if not args.skip_wholebody:
        sys.path.insert(0, str(REPO / "src"))
        from carpet.synthetic import make_whole_body_study, write_pet_dicom

        with tempfile.TemporaryDirectory(prefix="carpet-bench-") as tmp:
            t0 = time.perf_counter()
            sp = args.spacing_mm
            study = make_whole_body_study(spacing_mm=(sp, sp, sp), with_ct=False, seed=0)
            write_pet_dicom(study, tmp)
            print(
                f"\n(generated and wrote the {study.suv.shape} whole-body series in {time.perf_counter() - t0:.1f} s)"
            )
            del study
            run_case(f"synthetic whole body {sp:g} mm", Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
