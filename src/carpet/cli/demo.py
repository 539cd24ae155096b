"""``carpet demo [--out DIR] [--keep]``: the whole job on a generated study, no downloads.

The demo is a sequence of clearly separated steps; each step is a function
``step(ctx: DemoContext) -> None`` in :data:`DEMO_STEPS`, run in order. Later
stages append their own step (e.g. ``analyze``, a simulated-cohort report)
to :data:`DEMO_STEPS` — keep each step short and self-contained, print through
``ctx.console`` and store what later steps need on ``ctx``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["DEMO_STEPS", "DemoContext", "register", "run_demo"]


@dataclass
class DemoContext:
    """State shared by the demo steps.

    Attributes
    ----------
    out_dir : Path
        The demo folder (default ``./carpet-demo``).
    dicom_dir : Path
        Where the generated DICOM study is written (``out_dir/dicom``).
    console : rich Console
    study : SyntheticStudy
        The in-memory truth of the generated study.
    discovery, pet : results of the discovery and SUV steps.
    results : dict
        Free space for later steps (name → object).
    """

    out_dir: Path
    console: Any
    keep: bool = False
    seed: int = 0
    dicom_dir: Path = field(init=False)
    study: Any = None
    discovery: Any = None
    pet: Any = None
    results: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dicom_dir = self.out_dir / "dicom"

    def header(self, title: str) -> None:
        """Print a step heading."""
        self.console.rule(f"[bold]{title}")


def step_generate(ctx: DemoContext) -> None:
    """Generate the deterministic synthetic whole-body PET/CT study as DICOM."""
    from carpet._io import atomic_output_dir
    from carpet.synthetic import make_whole_body_study, write_study_dicom
    from carpet.synthetic.dicom_writer import DEMO_SPACING_MM, PetHeaderSpec

    ctx.header("1. Generate a synthetic whole-body FDG PET/CT study (DICOM)")
    t0 = time.perf_counter()
    ctx.study = make_whole_body_study(spacing_mm=DEMO_SPACING_MM, seed=ctx.seed, n_lesions=8)
    header = PetHeaderSpec(uid_seed=f"carpet-demo-{ctx.seed}")
    with atomic_output_dir(ctx.dicom_dir) as tmp:
        files = write_study_dicom(ctx.study, tmp, header=header)
    s = ctx.study.suv
    ctx.console.print(
        f"wrote {len(files['PT'])} PET + {len(files.get('CT', []))} CT files to {ctx.dicom_dir} "
        f"({time.perf_counter() - t0:.1f} s); grid {'×'.join(map(str, s.shape))} at "
        f"{'×'.join(f'{x:g}' for x in s.spacing_mm)} mm; {len(ctx.study.lesions)} lesions; "
        f"patient {ctx.study.patient.weight_kg:g} kg, {ctx.study.patient.height_m:g} m, "
        f"injected {header.injected_dose_bq / 1e6:g} MBq, uptake {header.uptake_s / 60:g} min"
    )


def step_discover(ctx: DemoContext) -> None:
    """Find the series in the generated folder (like ``carpet info``)."""
    from carpet.ingest import discover

    ctx.header("2. Discover the DICOM series")
    ctx.discovery = discover(ctx.dicom_dir)
    for s in ctx.discovery.series:
        ctx.console.print(
            f"{s.kind:4s} {s.series_description!r}: {s.n_instances} files, Units {s.units}, "
            f"CorrectedImage {'/'.join(s.corrected_image) or '-'}"
        )
    if ctx.discovery.problems:
        ctx.console.print(f"{len(ctx.discovery.problems)} file(s) skipped")


def step_suv(ctx: DemoContext) -> None:
    """Load the PET series as SUVbw and check it against the generator's truth."""
    import numpy as np

    from carpet.ingest import read_pet
    from carpet.synthetic import ORGAN_LABELS

    ctx.header("3. SUV")
    t0 = time.perf_counter()
    ctx.pet = read_pet(ctx.dicom_dir)
    f = ctx.pet.suv_factors
    ctx.console.print(
        f"SUVbw factor {f.bw_factor:.6g} (multiplies Bq/mL; SUL factor {f.lbm_factor:.6g}, {f.lbm_formula}); reference time "
        f"{f.reference_time_source}; injection time from {f.injection_time_source}; decay interval "
        f"{(f.decay_interval_s or 0) / 60:.1f} min; loaded in {time.perf_counter() - t0:.2f} s"
    )
    truth = ctx.study.suv.array
    suv = ctx.pet.suv.array
    same_grid = ctx.pet.suv.same_grid_as(ctx.study.suv)
    err = float(np.max(np.abs(suv - truth))) if same_grid else float("nan")
    liver = ctx.study.organs.array == ORGAN_LABELS["liver"]
    ctx.console.print(
        f"round trip vs truth: same grid {same_grid}, max |SUV − truth| = {err:.4f}; "
        f"SUVmax {suv.max():.2f} (truth {truth.max():.2f}); liver SUVmean {suv[liver].mean():.2f} (truth 2.20)"
    )
    for w in ctx.pet.warnings:
        ctx.console.print(f"[yellow]warning[/yellow]: {w}")
    ctx.results["suv_max_abs_error"] = err


def step_analyze(ctx: DemoContext) -> None:
    """Segment lesions and measure biomarkers (``carpet analyze``) and compare with the truth."""
    from carpet.pipeline import analyze, write_analysis

    ctx.header("4. Analyze: lesions, TMTV, TLG, SUVmax/peak, Dmax (carpet analyze)")
    t0 = time.perf_counter()
    result = analyze(ctx.pet)
    out = write_analysis(result, ctx.out_dir / "analysis")
    p = result.patient
    truth = [le for le in ctx.study.lesions if le.volume_ml >= result.config.min_volume_ml]
    removed = ", ".join(x["organ"] for x in p["physiological_excluded"]["regions"]) or "none"
    ctx.console.print(
        f"{p['lesion_count']} lesions (truth: {len(truth)} of >= {result.config.min_volume_ml:g} mL); "
        f"TMTV {p['tmtv_ml']:.1f} mL (truth {sum(le.volume_ml for le in truth):.1f}), TLG {p['tlg']:.1f} g, "
        f"SUVmax {p['suv_max']:.2f}, SUVpeak {p['suv_peak']:.2f}, Dmax {p['dmax_mm']:.0f} mm; "
        f"physiological uptake removed: {removed}; {time.perf_counter() - t0:.1f} s"
    )
    ctx.console.print(f"outputs: {out}/patient.json, lesions.csv, mask.nii.gz, mip.png")
    ctx.results["analysis_dir"] = out


def step_cohort(ctx: DemoContext) -> None:
    """Simulate a cohort and write its (SIMULATED) cohort report (``carpet cohort --simulate``)."""
    from carpet.cli.cohort import demo_step_cohort

    demo_step_cohort(ctx)


#: The demo steps, in order. Later stages append theirs.
DEMO_STEPS: list[Callable[[DemoContext], None]] = [step_generate, step_discover, step_suv, step_analyze, step_cohort]


def run_demo(out_dir: str | Path = "carpet-demo", *, keep: bool = False, console: Any = None, seed: int = 0) -> DemoContext:
    """Run every step of :data:`DEMO_STEPS` and return the context.

    Parameters
    ----------
    out_dir : path
        Demo folder; the DICOM goes to ``out_dir/dicom``.
    keep : bool
        Keep the generated DICOM after the run (default: removed at the end;
        outputs of later steps stay).
    console : rich Console, optional
    seed : int
    """
    import shutil

    from rich.console import Console

    ctx = DemoContext(Path(out_dir), console or Console(), keep=keep, seed=seed)
    t0 = time.perf_counter()
    for step in DEMO_STEPS:
        step(ctx)
    ctx.console.rule()
    if keep:
        ctx.console.print(f"kept the DICOM study in {ctx.dicom_dir} (try: carpet info {ctx.dicom_dir})")
    else:
        shutil.rmtree(ctx.dicom_dir, ignore_errors=True)
        ctx.console.print("removed the generated DICOM (use --keep to keep it)")
    ctx.console.print(f"demo finished in {time.perf_counter() - t0:.1f} s; outputs in {ctx.out_dir}")
    return ctx


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the carpet app."""

    @app.command("demo")
    def demo(
        out: Annotated[Path, typer.Option("--out", help="Demo folder (created).")] = Path("carpet-demo"),
        keep: Annotated[bool, typer.Option("--keep", help="Keep the generated DICOM study in OUT/dicom.")] = False,
    ) -> None:
        """Generate a synthetic whole-body PET/CT study as DICOM and run carpet on it (no downloads)."""
        run_demo(out, keep=keep)
