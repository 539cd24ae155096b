"""Benchmark of the cohort statistics on 10,000 simulated patients.

Run: ``.venv/bin/python benchmarks/bench_cohort.py [--n 10000] [--bootstrap 1000]``

1. Concordance, side by side in one process on the same data:
   carpet's O(n log n) Harrell C vs lifelines' ``concordance_index`` vs a plain numpy O(n²)
   loop (vectorised per row; run on a subsample and extrapolated by (n / m)²).
2. 1,000 paired bootstrap replicates of ΔC (TMTV vs IPI) with carpet, and the time lifelines
   would need for the same 2,000 C evaluations (measured per call, extrapolated).
3. The whole ``run_cohort_analysis`` (validation, scores, Harrell + Uno C with bootstrap CIs,
   paired ΔC, td-AUC with bootstrap, landmark ROC, Cox with PH tests, KM/log-rank/trend,
   maxstat with permutations, CV cut-off) with ``--bootstrap`` replicates.

Prints wall times and ratios. Peak memory (ru_maxrss) is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings

import numpy as np


def naive_c(t: np.ndarray, e: np.ndarray, r: np.ndarray) -> float:
    """O(n²) Harrell C: for each event, compare with every later patient (numpy per row)."""
    num = den = 0.0
    for i in np.flatnonzero(e):
        comp = (t > t[i]) | ((t == t[i]) & ~e)
        den += comp.sum()
        num += (r[i] > r[comp]).sum() + 0.5 * (r[i] == r[comp]).sum()
    return num / den


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--naive-subsample", type=int, default=2000)
    args = ap.parse_args()

    from lifelines.utils import concordance_index

    from carpet.clinical import prepare_cohort
    from carpet.config import CohortConfig
    from carpet.score import compute_scores
    from carpet.survival import compare_concordance, harrell_c, run_cohort_analysis
    from carpet.synthetic.cohort import simulate_cohort

    warnings.simplefilter("ignore")
    n = args.n
    t0 = time.perf_counter()
    clin, bio = simulate_cohort(n, seed=1)
    print(f"simulate_cohort({n}): {time.perf_counter() - t0:.2f} s")
    data, _ = compute_scores(prepare_cohort(clin, bio).data)
    t = data["time_months"].to_numpy(float)
    e = data["event"].to_numpy(float).astype(bool)
    tmtv = data["tmtv_ml"].to_numpy(float)
    ipi = data["ipi_points"].to_numpy(float)
    print(f"n = {len(t)}, events = {int(e.sum())}")

    # 1. single C evaluations
    # CPU time (process_time): the machine is shared, wall time includes waiting for a core;
    # all three contenders are single-threaded, so CPU time compares them fairly.
    clock = time.process_time
    reps = 5
    t0 = clock()
    for _ in range(reps):
        c_ours = harrell_c(t, e, tmtv)
    ours_s = (clock() - t0) / reps
    t0 = clock()
    for _ in range(2):
        c_ll = concordance_index(t, -tmtv, e)
    ll_s = (clock() - t0) / 2
    m = min(args.naive_subsample, n)
    idx = np.random.default_rng(0).choice(n, m, replace=False)
    t0 = clock()
    c_naive_sub = naive_c(t[idx], e[idx], tmtv[idx])
    naive_sub_s = clock() - t0
    naive_s = naive_sub_s * (n / m) ** 2
    assert abs(c_ours - c_ll) < 1e-10, (c_ours, c_ll)
    assert abs(harrell_c(t[idx], e[idx], tmtv[idx]) - c_naive_sub) < 1e-10
    print("\n== Harrell C, one evaluation (CPU time) ==")
    print(f"carpet O(n log n)          : {ours_s * 1e3:9.1f} ms  (C = {c_ours:.6f})")
    print(
        f"lifelines concordance_index: {ll_s * 1e3:9.1f} ms  (C = {c_ll:.6f})  ratio lifelines/carpet = "
        f"{ll_s / ours_s:.1f}x"
    )
    print(
        f"naive O(n^2) numpy loop    : {naive_s * 1e3:9.1f} ms  (measured {naive_sub_s * 1e3:.0f} ms on "
        f"{m}, extrapolated x{(n / m) ** 2:.0f})  ratio naive/carpet = {naive_s / ours_s:.1f}x"
    )

    # 2. paired bootstrap of the C difference
    B = args.bootstrap
    t0, c0 = time.perf_counter(), time.process_time()
    res = compare_concordance(
        t, e, tmtv, ipi, name_a="tmtv_ml", name_b="ipi_points", n_bootstrap=B, seed=0
    )
    boot_s = time.perf_counter() - t0
    boot_cpu = time.process_time() - c0
    ll_boot_s = 2 * B * ll_s
    print(f"\n== {B} paired bootstrap replicates of ΔC (TMTV vs IPI) ==")
    print(
        f"carpet: {boot_s:.2f} s wall, {boot_cpu:.2f} s CPU  (ΔC = {res.delta:+.4f}, CI {res.ci_low:+.4f} to {res.ci_high:+.4f}, "
        f"p = {res.p_value:.3g})"
    )
    print(
        f"lifelines, 2x{B} calls (extrapolated from one call): {ll_boot_s:.1f} s CPU  ratio = "
        f"{ll_boot_s / boot_cpu:.1f}x (CPU)"
    )

    # 3. the whole analysis
    cfg = CohortConfig(
        predictors=("tmtv_ml", "ipi_points"), bootstrap=B, permutations=B, simulated=True
    )
    t0, c0 = time.perf_counter(), time.process_time()
    full = run_cohort_analysis(clin, bio, config=cfg)
    full_s = time.perf_counter() - t0
    full_cpu = time.process_time() - c0
    print(f"\n== run_cohort_analysis, n = {n}, bootstrap = {B}, permutations = {B} ==")
    print(
        f"total: {full_s:.1f} s wall, {full_cpu:.1f} s CPU (target: well under 60 s on 2 cores; wall time "
        "includes waiting for the CPU when the machine is shared)"
    )
    print(f"load average now: {os.getloadavg()[0]:.1f}")
    print(
        full.concordance[
            ["predictor", "harrell_c", "harrell_ci_low", "harrell_ci_high", "uno_c"]
        ].to_string()
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (ru_maxrss): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
