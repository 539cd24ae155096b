"""``carpet batch``: resumable analysis of a whole archive, and ``carpet batch export``.

Exit status: 0 when every study of the batch is analysed, 1 when any study is recorded as
failed (the summary lists failures by reason), 2 for a carpet error that stops the batch
(bad manifest, unreachable scheduler, ...).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

#: Exit status when at least one study failed (the batch itself completed).
EXIT_STUDIES_FAILED = 1


def _print_summary(summary: Any, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from carpet.batch.state import STATE_FILENAME, BatchState

    con = Console(stderr=False, highlight=False)
    msg = (
        f"carpet batch: {summary.total} studies: {summary.computed} analysed now, {summary.skipped} unchanged "
        f"(skipped); batch totals: {summary.done} done, {summary.failed} failed. Database: {out / STATE_FILENAME}"
    )
    con.print(msg, soft_wrap=True)
    if summary.discovery_problems:
        con.print(
            f"{summary.discovery_problems} unreadable non-study file(s) listed in table discovery_problems"
        )
    if summary.failures_by_code:
        table = Table(title="Failures by reason", show_lines=False)
        table.add_column("code")
        table.add_column("studies", justify="right")
        table.add_column("example")
        with BatchState(out / STATE_FILENAME) as st:
            examples: dict[str, str] = {}
            for r in st.iter_rows("studies", order_by="study_key"):
                if r["status"] == "failed" and r["error_code"] not in examples:
                    examples[r["error_code"]] = f"{r['source_path']}: {r['error_message']}"[:160]
        for code, n in summary.failures_by_code.items():
            table.add_row(code, str(n), examples.get(code, ""))
        con.print(table)


def register(app: typer.Typer) -> None:
    """Add ``carpet batch`` to the app."""

    @app.command("batch")
    def batch_command(
        root: Annotated[
            str, typer.Argument(help="Archive folder to analyse, or `export` to export a batch.")
        ],
        export_dir: Annotated[
            str | None,
            typer.Argument(help="With `export`: the batch folder to export.", show_default=False),
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Batch folder (database + one folder per study)."),
        ] = None,
        method: Annotated[
            str | None,
            typer.Option("--method", help="Segmentation method (suv4, suv2.5, pct41, ...)."),
        ] = None,
        min_volume_ml: Annotated[
            float | None,
            typer.Option("--min-volume-ml", help="Minimum preselected region volume (mL)."),
        ] = None,
        connectivity: Annotated[
            int | None, typer.Option("--connectivity", help="6, 18 or 26.")
        ] = None,
        no_physio_exclusion: Annotated[
            bool,
            typer.Option("--no-physio-exclusion", help="Keep brain/bladder/kidney/heart uptake."),
        ] = False,
        no_mip: Annotated[
            bool, typer.Option("--no-mip", help="Do not write mip.png per study.")
        ] = False,
        with_ct: Annotated[
            bool, typer.Option("--ct", help="Also read each study's CT (as carpet analyze --ct).")
        ] = False,
        workers: Annotated[
            int | None, typer.Option("--workers", "-j", help="Local worker processes.")
        ] = None,
        scheduler: Annotated[
            str | None,
            typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786."),
        ] = None,
        manifest: Annotated[
            Path | None,
            typer.Option("--manifest", help="CSV: patient_id,timepoint,path[,weight_kg,...]."),
        ] = None,
        memory_budget_mb: Annotated[
            float | None,
            typer.Option("--memory-budget-mb", help="Memory for studies in flight (MB)."),
        ] = None,
        keep_patient_ids: Annotated[
            bool,
            typer.Option("--keep-patient-ids", help="Use DICOM PatientID instead of a pseudonym."),
        ] = False,
        retry_failed: Annotated[
            bool, typer.Option("--retry-failed", help="Retry every failed study.")
        ] = False,
        json_progress: Annotated[
            bool,
            typer.Option(
                "--json-progress", help="One JSON object per event on stdout (for machines)."
            ),
        ] = False,
    ) -> None:
        """Analyse every PET study under ROOT (resumable); `carpet batch export DIR` writes the tables.

        Re-running finishes only what is missing; unchanged studies are not recomputed, a
        changed method recomputes all. Exit status 1 when any study failed.
        """
        from carpet.errors import ConfigError

        if root == "export":
            if export_dir is None:
                raise ConfigError(
                    "carpet batch export DIR: give the batch folder to export", code="BATCH_USAGE"
                )
            _export(Path(export_dir), json_progress)
            return
        if export_dir is not None:
            raise ConfigError(
                f"carpet batch ROOT --out DIR: unexpected extra argument {export_dir!r}",
                code="BATCH_USAGE",
            )
        if out is None:
            raise ConfigError(
                "carpet batch ROOT: --out DIR is required (the batch folder)", code="BATCH_USAGE"
            )

        from carpet.batch.runner import run_batch
        from carpet.config import AnalysisConfig, BatchConfig

        kw: dict[str, Any] = {}
        if method is not None:
            kw["method"] = method
        if min_volume_ml is not None:
            kw["min_volume_ml"] = min_volume_ml
        if connectivity is not None:
            kw["connectivity"] = connectivity
        if no_physio_exclusion:
            kw["physio_exclusion"] = False
        if no_mip:
            kw["write_mip"] = False
        config = AnalysisConfig(**kw)
        batch = BatchConfig(
            workers=workers,
            memory_budget_mb=memory_budget_mb,
            keep_patient_ids=keep_patient_ids,
            retry_failed=retry_failed,
        )
        root_path = Path(root)
        if json_progress:

            def progress(p: Any) -> None:
                sys.stdout.write(json.dumps({"event": "progress", **p.to_dict()}) + "\n")
                sys.stdout.flush()

            summary = run_batch(
                root_path,
                out,
                config=config,
                batch=batch,
                manifest=manifest,
                scheduler=scheduler,
                progress=progress,
                with_ct=with_ct,
            )
            sys.stdout.write(json.dumps({"event": "summary", **summary.to_dict()}) + "\n")
        else:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = (
                TextColumn("[bold]batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, transient=False, redirect_stdout=False) as bar:
                task = bar.add_task("batch", total=None, counts="", rate="")

                def progress(p: Any) -> None:
                    bar.update(
                        task,
                        completed=p.finished,
                        total=p.total if p.discovery_done else p.expected_total,
                        counts=f"done {p.done} failed {p.failed} skipped {p.skipped} running {p.in_flight}",
                        rate=f"{p.rate_per_s * 60:.1f}/min",
                    )

                summary = run_batch(
                    root_path,
                    out,
                    config=config,
                    batch=batch,
                    manifest=manifest,
                    scheduler=scheduler,
                    progress=progress,
                    with_ct=with_ct,
                )
            _print_summary(summary, Path(out))
        if not summary.ok:
            raise typer.Exit(EXIT_STUDIES_FAILED)


def _export(batch_dir: Path, as_json: bool) -> None:
    from carpet.batch.export import export_batch

    res = export_batch(batch_dir)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "event": "export",
                    "folder": str(res.folder),
                    "studies": res.n_studies,
                    "lesions": res.n_lesions,
                    "failed": res.n_failed,
                }
            )
            + "\n"
        )
    else:
        typer.echo(
            f"carpet batch export: {res.n_studies} studies, {res.n_lesions} lesions, {res.n_failed} failed -> "
            f"{res.patients_csv}, {res.lesions_csv} (+ .parquet), {res.failures_csv}"
        )
