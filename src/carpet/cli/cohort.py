"""``carpet cohort``: clinical scores, outcome statistics and the HTML cohort report.

::

    carpet cohort --clinical CLINICAL.csv --biomarkers BIOMARKERS(.csv|folder) --endpoint pfs --out DIR
    carpet cohort --simulate 111 --out DIR          # a SIMULATED cohort (demo)

Writes ``DIR/report.html`` (self-contained), ``DIR/results.json`` and tidy CSVs, atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["demo_step_cohort", "register", "run_cohort_command", "select_timepoint"]


def run_cohort_command(
    *,
    out: Path,
    clinical: Path | None = None,
    biomarkers: Path | None = None,
    endpoint: str | None = None,
    seed: int | None = None,
    bootstrap: int | None = None,
    permutations: int | None = None,
    predictors: list[str] | None = None,
    simulate: int | None = None,
    simulated_label: bool = False,
    biomarker_timepoint: str | None = None,
    config_file: Path | None = None,
    progress=None,
) -> Path:
    """Read (or simulate) the tables, run the analysis and write the report; return report.html.

    Settings: :class:`carpet.config.CohortConfig` defaults, then the ``[cohort]`` table of
    ``config_file`` (TOML; unknown keys are errors), then the explicit arguments.

    Raises
    ------
    carpet.errors.InputError
        ``COHORT_USAGE`` when neither both tables nor ``simulate`` are given.
    carpet.errors.ConfigError
        For an unreadable config file, unknown keys or invalid values.
    """
    from carpet.clinical import read_biomarkers, read_table
    from carpet.config import CohortConfig, from_mapping
    from carpet.errors import ConfigError, InputError
    from carpet.report import write_cohort_report
    from carpet.survival import run_cohort_analysis

    kw: dict[str, Any] = {}
    if config_file is not None:
        import tomllib

        try:
            doc = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{config_file}: cannot read the TOML config ({exc})") from None
        kw.update(doc.get("cohort", doc))
    given = {
        "endpoint": endpoint,
        "seed": seed,
        "bootstrap": bootstrap,
        "permutations": permutations,
    }
    kw.update({k: v for k, v in given.items() if v is not None})
    if predictors:
        kw["predictors"] = tuple(predictors)
    kw.pop("simulated", None)

    def make_config(simulated: bool) -> CohortConfig:
        return from_mapping(
            CohortConfig, kw | {"simulated": simulated}, source=str(config_file or "options")
        )

    if simulate is not None:
        if clinical is not None or biomarkers is not None:
            raise InputError(
                "give either --simulate N or --clinical/--biomarkers, not both", code="COHORT_USAGE"
            )
        from carpet.synthetic.cohort import simulate_cohort

        cfg = make_config(True)
        clin, bio = simulate_cohort(simulate, seed=cfg.seed)
        result = run_cohort_analysis(
            clin,
            bio,
            config=cfg,
            clinical_name="simulated clinical",
            biomarkers_name="simulated biomarkers",
            progress=progress,
        )
    else:
        if clinical is None or biomarkers is None:
            raise InputError(
                "carpet cohort needs --clinical CLINICAL.csv and --biomarkers BIOMARKERS.csv|FOLDER "
                "(or --simulate N for a simulated demo cohort)",
                code="COHORT_USAGE",
            )
        clin, bio = read_table(clinical), read_biomarkers(biomarkers)
        if biomarker_timepoint is not None:
            bio = select_timepoint(bio, biomarker_timepoint, Path(biomarkers).name)
        cfg = make_config(simulated_label)
        result = run_cohort_analysis(
            clin,
            bio,
            config=cfg,
            clinical_name=Path(clinical).name,
            biomarkers_name=Path(biomarkers).name,
            progress=progress,
        )
        from carpet._io import sha256_file

        result.provenance["inputs"] = {
            "clinical": {"name": Path(clinical).name, "sha256": sha256_file(clinical)},
            "biomarkers": {
                "name": Path(biomarkers).name,
                "sha256": sha256_file(biomarkers) if Path(biomarkers).is_file() else None,
            },
        }
    return write_cohort_report(result, out)


def select_timepoint(bio, timepoint: str, name: str):
    """Rows of the biomarker table at one PET timepoint (e.g. ``baseline``).

    Raises
    ------
    carpet.errors.InputError
        ``NO_TIMEPOINT`` when the table has no ``timepoint`` column or no row at ``timepoint``.
    """
    from carpet.errors import InputError

    if "timepoint" not in bio.columns:
        raise InputError(
            f"{name}: --biomarker-timepoint {timepoint!r} given but the table has no 'timepoint' column",
            code="NO_TIMEPOINT",
        )
    values = bio["timepoint"].astype(str).str.strip()
    if not (values == timepoint).any():
        found = sorted(set(values))
        raise InputError(
            f"{name}: no row with timepoint {timepoint!r}; found {found}", code="NO_TIMEPOINT"
        )
    return bio[values == timepoint].reset_index(drop=True)


def demo_step_cohort(ctx: Any) -> None:
    """``carpet demo`` step: simulate a 111-patient cohort and write its (SIMULATED) report."""
    ctx.header("Cohort statistics on a SIMULATED cohort (carpet cohort --simulate 111)")
    path = run_cohort_command(
        out=Path(ctx.out_dir) / "cohort",
        simulate=111,
        seed=ctx.seed,
        bootstrap=200,
        permutations=500,
    )
    ctx.console.print(
        "SIMULATED cohort of 111 patients (no real patient data exists for this demo)"
    )
    ctx.console.print(f"cohort report: {path}")
    ctx.results["cohort_report"] = path


def register(app: typer.Typer) -> None:
    """Add ``cohort`` to the carpet app."""

    @app.command("cohort")
    def cohort(
        out: Annotated[
            Path, typer.Option("--out", help="Output folder (report.html, results.json, CSVs).")
        ],
        clinical: Annotated[
            Path | None,
            typer.Option(
                "--clinical", help="Clinical table (CSV or .xlsx; docs/clinical-table.md)."
            ),
        ] = None,
        biomarkers: Annotated[
            Path | None,
            typer.Option(
                "--biomarkers", help="Biomarker CSV, or a folder of `carpet analyze` outputs."
            ),
        ] = None,
        endpoint: Annotated[
            str | None, typer.Option("--endpoint", help="pfs (default) or os.")
        ] = None,
        seed: Annotated[
            int | None,
            typer.Option("--seed", help="Seed of bootstrap, permutations and folds (default 0)."),
        ] = None,
        bootstrap: Annotated[
            int | None,
            typer.Option("--bootstrap", help="Bootstrap resamples for CIs (default 1000)."),
        ] = None,
        permutations: Annotated[
            int | None,
            typer.Option("--permutations", help="Permutations for the cut-off p (default 2000)."),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option("--config", help="TOML file with a \\[cohort] table (CohortConfig keys)."),
        ] = None,
        predictor: Annotated[
            list[str] | None,
            typer.Option(
                "--predictor",
                help="Predictor column (repeatable); default TMTV, TLG, SUVmax, IPI, IMPI.",
            ),
        ] = None,
        simulate: Annotated[
            int | None,
            typer.Option("--simulate", help="Analyse a SIMULATED cohort of N patients instead."),
        ] = None,
        simulated_label: Annotated[
            bool,
            typer.Option(
                "--simulated-label",
                help="Label the outputs as SIMULATED (for simulated input tables).",
            ),
        ] = False,
        biomarker_timepoint: Annotated[
            str | None,
            typer.Option(
                "--biomarker-timepoint",
                help="Use only biomarker rows of this PET timepoint (e.g. baseline).",
            ),
        ] = None,
    ) -> None:
        """Risk scores, survival statistics and a self-contained HTML report for a cohort."""
        from rich.console import Console

        console = Console(stderr=True)
        path = run_cohort_command(
            out=out,
            clinical=clinical,
            biomarkers=biomarkers,
            endpoint=endpoint.lower() if endpoint else None,
            seed=seed,
            bootstrap=bootstrap,
            permutations=permutations,
            predictors=predictor,
            simulate=simulate,
            simulated_label=simulated_label,
            biomarker_timepoint=biomarker_timepoint,
            config_file=config,
            progress=lambda msg: console.log(msg),
        )
        typer.echo(f"report: {path}")
