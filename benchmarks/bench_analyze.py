"""Benchmark of ``carpet analyze`` on a generated 2 mm whole-body scan.

Side by side in one process:

* **carpet**: the whole of :func:`carpet.pipeline.analyze` after loading
  (preselection, physiological-uptake removal, reference regions, per-lesion
  segmentation, every measurement incl. SUVpeak and Dmax) plus
  :func:`carpet.pipeline.write_analysis` (patient.json, lesions.csv,
  mask.nii.gz, mip.png);
* **floor**: plain numpy/scipy — ``suv >= 4``, ``scipy.ndimage.label`` (26-connectivity),
  ``scipy.ndimage.maximum`` per label — which measures nothing else.

Then Dmax and SUVpeak with 500 lesions, against the naive all-voxel-pairs Dmax
(estimated from a timed sample of pairs, as it would take most of an hour).

Run: ``.venv/bin/python benchmarks/bench_analyze.py [--lesions 120] [--spacing 2]``.
Peak memory is tracemalloc's peak of the analyze + write step (numpy arrays
are traced) and the process's maximum RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc

import numpy as np
from scipy import ndimage


def _lesions(n: int, seed: int):
    from carpet.synthetic import LesionSpec

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        x, y, z = rng.uniform(-140, 140), rng.uniform(-70, 60), rng.uniform(-860, -230)
        r = float(rng.uniform(5.0, 14.0))
        if any(
            np.linalg.norm(np.subtract((x, y, z), le.center_mm)) < r + le.radius_mm + 4
            for le in out
        ):
            continue
        out.append(LesionSpec((x, y, z), r, float(rng.uniform(5.0, 25.0)), f"bench{len(out)}"))
    return out


def floor(suv: np.ndarray) -> int:
    """The plain numpy/scipy floor: threshold, label, per-label max."""
    mask = suv >= 4.0
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    ndimage.maximum(suv, labels, np.arange(1, n + 1))
    return n


def bench_500(spacing_mm: float) -> None:
    """Dmax + SUVpeak with 500 lesions vs naive all-voxel-pairs Dmax (estimated)."""
    from carpet.core.volume import Volume
    from carpet.measure import measure_lesions, patient_metrics
    from carpet.units import Unit

    shape = (int(1700 / spacing_mm), int(360 / spacing_mm), int(500 / spacing_mm))
    rng = np.random.default_rng(5)
    suv = np.full(shape, 0.7, np.float32)
    labels = np.zeros(shape, np.int32)
    # one lesion per cell of a regular grid, radius 3-6 voxels (0.9-7 mL at 2 mm, ~3 mL on average)
    step = 15
    centres = [
        (kk, jj, ii)
        for kk in range(8, shape[0] - 8, step)
        for jj in range(8, shape[1] - 8, step)
        for ii in range(8, shape[2] - 8, step)
    ]
    centres = [centres[n] for n in rng.choice(len(centres), 500, replace=False)]
    k, j, i = np.ogrid[-6:7, -6:7, -6:7]
    for lid, (a, b, c) in enumerate(centres, start=1):
        r = rng.uniform(3.0, 6.0)
        ball = (k * k + j * j + i * i) <= r * r
        sl = (slice(a - 6, a + 7), slice(b - 6, b + 7), slice(c - 6, c + 7))
        labels[sl][ball] = lid
        suv[sl][ball] = rng.uniform(5, 20)
    aff = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    sv = Volume(suv, aff, unit=Unit.SUV_BW)
    lv = Volume(labels, aff, unit=Unit.LABEL)
    t = time.perf_counter()
    table = measure_lesions(sv, lv)
    p = patient_metrics(table)
    t_carpet = time.perf_counter() - t
    pts = sv.index_to_world(np.argwhere(labels > 0))
    n = pts.shape[0]
    sample = pts[rng.choice(n, 2000, replace=False)]
    t = time.perf_counter()
    for q in sample:
        np.sqrt(((pts - q) ** 2).sum(axis=1)).max()
    per_row = (time.perf_counter() - t) / sample.shape[0]
    naive = per_row * n / 2  # each of n voxels against the others, pairs counted once
    print(f"\n500 lesions ({len(table)} measured, {n} lesion voxels):")
    print(
        f"  carpet measure_lesions + patient_metrics (SUVpeak, Dmax, Dmax-voxel): {t_carpet:.2f} s"
    )
    print(
        f"  naive all-voxel-pairs Dmax (numpy, estimated from 2000 rows): {naive:.0f} s "
        f"(~{naive / 60:.0f} min) -> carpet is {naive / t_carpet:.0f}x faster"
    )
    print(f"  dmax_mm {p['dmax_mm']:.1f}, dmax_voxel_mm {p['dmax_voxel_mm']:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lesions", type=int, default=120)
    ap.add_argument("--spacing", type=float, default=2.0)
    ap.add_argument("--skip-500", action="store_true")
    args = ap.parse_args()

    from carpet.pipeline import analyze, write_analysis
    from carpet.synthetic import make_whole_body_study

    t = time.perf_counter()
    study = make_whole_body_study(
        spacing_mm=(args.spacing,) * 3, lesions=_lesions(args.lesions, 1), with_ct=False
    )
    suv = study.suv
    print(
        f"generated {suv.shape} float32 ({suv.nbytes / 2**20:.0f} MiB), {args.lesions} lesions "
        f"in {time.perf_counter() - t:.1f} s"
    )

    t = time.perf_counter()
    n_floor = floor(suv.array)
    t_floor = time.perf_counter() - t
    print(f"floor (threshold + ndimage.label + per-label max): {t_floor:.2f} s, {n_floor} regions")

    tracemalloc.start()
    t = time.perf_counter()
    result = analyze(study)
    t_analyze = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        write_analysis(result, d + "/out")
        t_write = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    p = result.patient
    total = t_analyze + t_write
    print(
        f"carpet analyze: {t_analyze:.2f} s + write outputs {t_write:.2f} s = {total:.2f} s "
        f"-> {total / t_floor:.2f}x the floor (goal <= 1.5x)"
    )
    print("  stages:", {k: round(v, 2) for k, v in p["provenance"]["timings_s"].items()})
    print(
        f"  {p['lesion_count']} lesions found ({sum(le.volume_ml >= 3 for le in study.lesions)} truth >= 3 mL), "
        f"TMTV {p['tmtv_ml']:.1f} mL (truth >= 3 mL: "
        f"{sum(le.volume_ml for le in study.lesions if le.volume_ml >= 3):.1f}), "
        f"removed {[x['organ'] for x in p['physiological_excluded']['regions']]}"
    )
    print(
        f"  peak traced memory of analyze + write: {peak / 2**30:.2f} GiB (goal <= 3 GB); "
        f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    )
    if not args.skip_500:
        bench_500(args.spacing)


if __name__ == "__main__":
    main()
