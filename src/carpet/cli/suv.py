"""``carpet suv PATH``: the SUV factors of a PET series, with provenance, or the coded refusal.

Header values can be overridden from the command line (``--weight-kg``, ``--height-m``,
``--injected-dose-bq``, ``--injection-datetime``, ``--sex``) or a CSV sidecar
(``--overrides-csv``, matched by SeriesInstanceUID, StudyInstanceUID, PatientID or
the folder name); command-line values win over the CSV. Overrides are listed in the
output (``overrides_applied``). A refused series prints ``carpet: error [CODE] ...``
and exits 2.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``suv`` command to ``app``."""

    @app.command("suv")
    def suv_command(
        path: Annotated[Path, typer.Argument(help="DICOM folder tree or file.")],
        series_uid: Annotated[
            str | None,
            typer.Option(
                "--series-uid", help="PET SeriesInstanceUID (default: the AC PET series)."
            ),
        ] = None,
        weight_kg: Annotated[
            float | None, typer.Option("--weight-kg", help="Override PatientWeight, kg.")
        ] = None,
        height_m: Annotated[
            float | None, typer.Option("--height-m", help="Override PatientSize, m.")
        ] = None,
        injected_dose_bq: Annotated[
            float | None,
            typer.Option("--injected-dose-bq", help="Override RadionuclideTotalDose, Bq."),
        ] = None,
        injection_datetime: Annotated[
            str | None,
            typer.Option(
                "--injection-datetime",
                help="Override the injection time, ISO 8601 (2025-01-01T10:00:00).",
            ),
        ] = None,
        sex: Annotated[
            str | None, typer.Option("--sex", help="Override PatientSex: M, F or O.")
        ] = None,
        overrides_csv: Annotated[
            Path | None,
            typer.Option(
                "--overrides-csv",
                help="CSV sidecar of overrides (see carpet.suv.read_overrides_csv).",
            ),
        ] = None,
        lbm_formula: Annotated[
            str, typer.Option("--lbm-formula", help="janma | james128 | james120")
        ] = "janma",
        bsa_formula: Annotated[
            str, typer.Option("--bsa-formula", help="dubois | mosteller")
        ] = "dubois",
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the factors and provenance as JSON.")
        ] = False,
    ) -> None:
        """Compute SUVbw / SUL / SUVbsa / SUVibw factors of a PET series (or say why not)."""
        from carpet.errors import ConfigError
        from carpet.ingest.discover import discover
        from carpet.ingest.pet_header import read_pet_acquisition
        from carpet.suv import (
            SuvOverrides,
            compute_suv_factors,
            merge_overrides,
            overrides_for,
            read_overrides_csv,
        )

        when = None
        if injection_datetime is not None:
            try:
                when = datetime.fromisoformat(injection_datetime)
            except ValueError:
                raise ConfigError(
                    f"--injection-datetime {injection_datetime!r} is not ISO 8601; expected e.g. "
                    "2025-01-01T10:00:00",
                    code="INVALID_OVERRIDE",
                ) from None
        cli_ov = SuvOverrides(
            weight_kg=weight_kg,
            height_m=height_m,
            injected_dose_bq=injected_dose_bq,
            injection_datetime=when,
            sex=sex,
        )
        disc = discover(path)
        series = disc.pick_pet(series_uid)
        dss = series.datasets
        csv_ov = None
        if overrides_csv is not None:
            table = read_overrides_csv(overrides_csv)
            patient_id = str(dss[0].get("PatientID", "") or "") or None if dss else None
            csv_ov = overrides_for(
                table,
                series.series_instance_uid,
                series.study_instance_uid,
                patient_id,
                Path(path).name,
            )
        ov = merge_overrides(csv_ov, None if cli_ov.is_empty else cli_ov)
        acq = read_pet_acquisition(dss, source=str(path))
        f = compute_suv_factors(acq, overrides=ov, lbm_formula=lbm_formula, bsa_formula=bsa_formula)
        doc = f.to_dict()
        if as_json:
            typer.echo(json.dumps(doc, indent=2, default=str))
            return
        typer.echo(f"series {f.series_instance_uid}  Units {f.units}  ({f.method})")
        for name in ("bw", "lbm", "bsa", "ibw"):
            v = getattr(f, f"{name}_factor")
            typer.echo(f"  SUV{name:<4} factor  {'—' if v is None else f'{v:.6e}'}")
        typer.echo(
            f"  reference time   {f.reference_time_source}"
            + (f" ({f.reference_datetime.isoformat()})" if f.reference_datetime else "")
        )
        if f.injection_time_source:
            typer.echo(
                f"  injection time   {f.injection_time_source} ({f.injection_datetime.isoformat()})"
                + ("  [midnight crossing]" if f.midnight_adjusted else "")
            )
        if f.decay_interval_s is not None:
            typer.echo(f"  decay interval   {f.decay_interval_s / 60.0:.1f} min")
        typer.echo(
            f"  weight {f.weight_kg_used:g} kg, height "
            f"{'—' if f.height_m_used is None else f'{f.height_m_used:g} m'}, sex "
            f"{f.sex_used or '—'}"
        )
        if f.overrides_applied:
            typer.echo(f"  overrides        {', '.join(f.overrides_applied)}")
        for w in f.warnings:
            typer.echo(f"  warning: {w}")
