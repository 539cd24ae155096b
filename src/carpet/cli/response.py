"""``carpet response BASELINE FOLLOWUP [MORE...] --out DIR``: response across timepoints.

Contract (issue #9 §5): ``DIR/baseline/`` and ``DIR/followup/`` (complete ``carpet
analyze`` outputs), ``DIR/response.json``, ``DIR/lesion_matches.csv``,
``DIR/response_mip.png``; with more than two studies also ``DIR/timeline.csv`` and
``DIR/kinetics.png``. Nothing is written when any step fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def response_command(
    studies: Annotated[
        list[Path],
        typer.Argument(help="BASELINE FOLLOWUP [MORE...]: DICOM folders, baseline first."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (written atomically).")],
    method: Annotated[
        str, typer.Option(help="suv4 | suv2.5 | pct41 | percist | a50p | mv2 | mv3")
    ] = "suv4",
    min_volume_ml: Annotated[
        float | None,
        typer.Option("--min-volume-ml", help="Minimum preselected region volume, mL (default 3)."),
    ] = None,
    liver_voi: Annotated[
        str | None,
        typer.Option("--liver-voi", help="Liver sphere centre X,Y,Z in the baseline's LPS mm."),
    ] = None,
    mbp_voi: Annotated[
        str | None,
        typer.Option(
            "--mbp-voi", help="Blood-pool cylinder centre X,Y,Z in the baseline's LPS mm."
        ),
    ] = None,
    infusion_date: Annotated[
        str | None, typer.Option("--infusion-date", help="CAR T infusion date YYYY-MM-DD.")
    ] = None,
    roles: Annotated[
        str | None,
        typer.Option("--roles", help="Comma list of roles (TD,TT,M1,M3,other), one per study."),
    ] = None,
    match_distance_mm: Annotated[
        float | None,
        typer.Option(
            "--match-distance-mm",
            help="Distance gate of lesion matching after registration, mm (default 30).",
        ),
    ] = None,
    allow_different_patients: Annotated[
        bool,
        typer.Option(
            "--allow-different-patients", help="Do not refuse studies of different patients."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the main results as JSON.")
    ] = False,
) -> None:
    """Compare a baseline PET/CT with follow-ups: matching, kinetics, proposed Deauville/Lugano."""
    import dataclasses
    import json

    from carpet.config import AnalysisConfig, ResponseConfig
    from carpet.measure.reference import parse_point_mm
    from carpet.response.workflow import run_response, write_response

    kw: dict = {"method": method}
    if min_volume_ml is not None:
        kw["min_volume_ml"] = min_volume_ml
    acfg = AnalysisConfig(**kw)
    rcfg = ResponseConfig()
    if match_distance_mm is not None:
        rcfg = dataclasses.replace(rcfg, match_distance_mm=match_distance_mm)
    lc = parse_point_mm(liver_voi, option="--liver-voi") if liver_voi is not None else None
    mc = parse_point_mm(mbp_voi, option="--mbp-voi") if mbp_voi is not None else None
    role_list = [r.strip() for r in roles.split(",")] if roles else None
    result = run_response(
        studies,
        analysis_config=acfg,
        config=rcfg,
        liver_center_mm=lc,
        mbp_center_mm=mc,
        infusion_date=infusion_date,
        roles=role_list,
        allow_different_patients=allow_different_patients,
    )
    write_response(result, out)
    r = result.response
    if as_json:
        keys = [
            "interval_days",
            "delta",
            "deauville_proxy",
            "qpet",
            "lugano_proxy",
            "new_lesion_count",
            "matching",
        ]
        typer.echo(json.dumps({k: r.get(k) for k in keys} | {"out": str(out)}, default=str))
        return
    d = r["delta"]
    pct = d.get("tmtv_pct")
    typer.echo(
        f"{r['baseline']['role']} -> {r['followup']['role']} ({r['interval_days']} days): "
        f"TMTV {r['baseline']['tmtv_ml']:.1f} -> {r['followup']['tmtv_ml']:.1f} mL"
        f" ({'n/a' if pct is None else f'{pct:+.0f} %'}); matched {r['matching']['matched']}, "
        f"new {r['new_lesion_count']}, disappeared {r['matching']['disappeared']}; "
        f"proposed Deauville {r['deauville_proxy']}, Lugano {r['lugano_proxy']} (reader to confirm)"
    )
    for w in r["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"outputs in {out}")


def register(app: typer.Typer) -> None:
    """Add ``carpet response`` to the app."""
    app.command("response")(response_command)
