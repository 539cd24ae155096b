"""Benchmark of `carpet batch` (issue 6 §4), side by side in one process.

1. N generated studies (small, varied: thorax field of view, 5-6 mm voxels, 1-6 lesions)
   written once as DICOM to a temporary folder.
2. Plain loop: ``read_pet`` → ``analyze`` → ``write_analysis`` for every study in a fresh
   process, imports included (the floor: the same work without discovery, hashing, database or
   pool; a fresh batch pays the same imports once, in its forkserver warm-up).
3. ``run_batch`` with 1 and with 2 workers (fresh output folders): throughput and speed-up,
   and batch overhead per study vs the plain loop.
4. Coordinator memory for 100,000 queued simulated studies (no imaging: a trivial task) streamed
   through ``run_batch``: peak RSS growth of the coordinator, next to the memory a naive list of
   the same 100,000 jobs would take.

Goals: speed-up 2 vs 1 worker ≥ 1.7× (on 2 free cores), overhead ≤ 10 %, coordinator < 500 MB.

Usage: ``python benchmarks/bench_batch.py [--studies 200] [--simulated 100000] [--skip-imaging]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path


def _rss_mb() -> float:
    """Current resident set size of this process (MB), from /proc."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def simulated_task(job, params):
    """A trivial stand-in for the analysis (no imaging): 3 lesions per study."""
    from carpet.batch.state import StudyRecord

    return StudyRecord(
        study_key=job.study_key,
        patient_id=job.patient_id,
        timepoint=job.timepoint,
        source_path=job.path,
        series_uid=None,
        status="done",
        input_hash=params["input_hash"],
        params_hash=params["params_hash"],
        params_json=params["params_json"],
        software_version=params["software_version"],
        overrides_json=job.overrides_json(),
        patient={"tmtv_ml": 1.0, "lesion_count": 3},
        lesions=[{"lesion_id": i, "volume_ml": 1.0, "suv_max": 5.0} for i in (1, 2, 3)],
        output_dir=None,
    )


def _write_one(args):
    folder, seed = args
    from dataclasses import replace
    from datetime import datetime

    from carpet.synthetic import PetHeaderSpec, make_whole_body_study, write_pet_dicom

    spacing = (6.0, 6.0, 6.0) if seed % 2 else (5.0, 6.0, 6.0)
    study = make_whole_body_study(
        fov="thorax", spacing_mm=spacing, n_lesions=1 + seed % 6, seed=seed, with_ct=False
    )
    header = replace(
        PetHeaderSpec(),
        uid_seed=f"bench-{seed}",
        patient_id=f"BENCH{seed // 2:04d}",
        injection_datetime=datetime(2024, 3, 1 + 7 * (seed % 2), 8, 0, 0),
    )
    write_pet_dicom(study, folder, header=header)
    return folder


def make_archive(root: Path, n: int) -> list[Path]:
    from concurrent.futures import ProcessPoolExecutor

    folders = [root / f"pat{i // 2:04d}" / f"tp{i % 2}" for i in range(n)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        list(ex.map(_write_one, [(f, i) for i, f in enumerate(folders)], chunksize=4))
    return folders


def plain_loop(folders: list[Path], out: Path) -> float:
    from carpet.ingest import read_pet
    from carpet.pipeline import analyze, write_analysis

    t = time.perf_counter()
    for i, f in enumerate(folders):
        write_analysis(analyze(read_pet(f)), out / f"s{i}")
    return time.perf_counter() - t


def bench_imaging(n: int, archive: Path | None = None) -> None:
    from carpet.batch.runner import run_batch
    from carpet.config import BatchConfig

    tmp = Path(tempfile.mkdtemp(prefix="carpet-bench-batch-"))
    try:
        t = time.perf_counter()
        src = archive if archive is not None else tmp / "archive"
        marker = src / f".complete-{n}"
        have = [int(m.name.split("-")[1]) for m in src.glob(".complete-*")] if src.is_dir() else []
        if any(m >= n for m in have):
            folders = [src / f"pat{i // 2:04d}" / f"tp{i % 2}" for i in range(n)]
            print(f"reusing the {n} studies under {src}")
        else:
            folders = make_archive(src, n)
            marker.write_text("ok\n")
            print(
                f"wrote {n} studies in {time.perf_counter() - t:.1f} s "
                f"({sum(f.stat().st_size for d in folders for f in d.iterdir()) / 2**20:.0f} MB)"
            )
        # the floor as a user would run it: a fresh process that imports carpet and loops
        # (a fresh batch pays the same imports once, in its forkserver warm-up)
        import subprocess

        code = (
            "import sys, time; t = time.perf_counter(); sys.path.insert(0, sys.argv[1]); "
            "import bench_batch as b; from pathlib import Path; c = time.process_time(); "
            "b.plain_loop([Path(p) for p in sys.argv[3:]], Path(sys.argv[2])); "
            "print(time.perf_counter() - t, time.process_time() - c)"
        )
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                str(Path(__file__).parent),
                str(tmp / "loop"),
                *map(str, folders),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        t_loop, cpu_loop = map(float, res.stdout.strip().splitlines()[-1].split())
        jobs_root = src
        if not marker.exists():  # a larger archive: analyse its first n studies only
            jobs_root = tmp / "subset"
            jobs_root.mkdir()
            for patient in sorted({f.parent for f in folders}):  # n even: whole patients
                (jobs_root / patient.name).symlink_to(patient, target_is_directory=True)
        c0 = resource.getrusage(resource.RUSAGE_SELF)
        s1 = run_batch(jobs_root, tmp / "b1", batch=BatchConfig(workers=1))
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        coord_cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        s2 = run_batch(jobs_root, tmp / "b2", batch=BatchConfig(workers=2))
        assert s1.done == s2.done == n, (s1, s2)
        t1, t2 = s1.elapsed_s, s2.elapsed_s
        print(f"{'':28s}{'wall s':>10s}{'studies/min':>14s}{'s/study':>10s}")
        for name, tt in (
            ("plain loop, fresh process", t_loop),
            ("carpet batch, 1 worker", t1),
            ("carpet batch, 2 workers", t2),
        ):
            print(f"{name:28s}{tt:10.1f}{60 * n / tt:14.1f}{tt / n:10.3f}")
        print(
            f"speed-up 2 vs 1 worker: {t1 / t2:.2f}x (goal >= 1.7x on 2 free cores; cores here: {os.cpu_count()}, "
            f"load average {os.getloadavg()[0]:.1f})"
        )
        print(
            f"batch overhead per study vs plain loop (1 worker): {100 * (t1 / t_loop - 1):+.1f} % "
            f"({(t1 - t_loop) / n * 1000:+.0f} ms/study; goal <= 10 %)"
        )
        import json
        import sqlite3

        con = sqlite3.connect(tmp / "b1" / "batch.sqlite")
        worker_cpu = sum(
            json.loads(t or "{}").get("worker_cpu_s", 0.0)
            for (t,) in con.execute("SELECT timings_json FROM studies")
        )
        con.close()
        batch_cpu = worker_cpu + coord_cpu
        print(
            f"CPU time (insensitive to other load): plain loop {cpu_loop:.1f} s (after imports); "
            f"batch 1 worker: studies {worker_cpu:.1f} s + coordinator {coord_cpu:.1f} s = "
            f"{batch_cpu:.1f} s -> overhead {100 * (batch_cpu / cpu_loop - 1):+.1f} % "
            f"(excl. the one-time forkserver warm-up)"
        )
        r = run_batch(jobs_root, tmp / "b2", batch=BatchConfig(workers=2))
        print(
            f"rerun of the unchanged batch: {r.computed} recomputed, {r.skipped} skipped in {r.elapsed_s:.2f} s"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_coordinator_memory(n: int) -> None:
    from carpet.batch.jobs import StudyJob, key_of
    from carpet.batch.runner import run_batch
    from carpet.config import BatchConfig

    tmp = Path(tempfile.mkdtemp(prefix="carpet-bench-coord-"))
    try:
        src = tmp / "input.dcm"
        src.write_bytes(b"simulated study")

        def jobs():
            for i in range(n):
                yield StudyJob(
                    study_key=key_of("sim", str(i)),
                    patient_id=f"S{i // 3}",
                    timepoint=f"t{i % 3}",
                    path=str(src),
                    files=(str(src),),
                )

        # what a non-streaming coordinator would hold: the list of all jobs (measured with tracemalloc)
        tracemalloc.start()
        as_list = list(jobs())
        list_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        del as_list
        import gc

        gc.collect()
        base = _rss_mb()
        peak = [base]

        def progress(p):
            if p.finished % 2000 == 0:
                peak[0] = max(peak[0], _rss_mb())

        t = time.perf_counter()
        s = run_batch(
            None,
            tmp / "out",
            jobs=jobs(),
            task=simulated_task,
            batch=BatchConfig(workers=2),
            progress=progress,
        )
        dt = time.perf_counter() - t
        peak[0] = max(peak[0], _rss_mb())
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{n} simulated studies through run_batch in {dt:.1f} s ({n / dt:.0f}/s): done {s.done}"
        )
        print(
            f"coordinator RSS: before {base:.0f} MB, peak during the run {peak[0]:.0f} MB "
            f"(growth {peak[0] - base:+.0f} MB); process max RSS {maxrss:.0f} MB (goal < 500 MB)"
        )
        print(
            f"for comparison, a list of the {n} jobs alone would take {list_mb:.0f} MB "
            f"({1024 * list_mb / n:.2f} kB/study)"
        )
        print(f"database: {(tmp / 'out' / 'batch.sqlite').stat().st_size / 2**20:.0f} MB on disk")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=200)
    ap.add_argument("--simulated", type=int, default=100_000)
    ap.add_argument("--skip-imaging", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument(
        "--archive", type=Path, default=None, help="keep/reuse the generated studies here"
    )
    a = ap.parse_args()
    if not a.skip_imaging:
        bench_imaging(a.studies, a.archive)
    if not a.skip_memory:
        bench_coordinator_memory(a.simulated)


if __name__ == "__main__":
    sys.exit(main())
