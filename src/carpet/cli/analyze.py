"""``carpet analyze PATH --out DIR``: lesions, biomarkers, mask and MIP of one PET scan.

Outputs (contract, issue #4 §4): ``DIR/patient.json`` (tmtv_ml, tlg, suv_max,
suv_peak, suv_mean, lesion_count, dmax_mm, sdmax_per_m, dbulk_mm, method,
parameters, SUV provenance, warnings, versions), ``DIR/lesions.csv``
(lesion_id, volume_ml, suv_max, suv_peak, suv_mean, tlg, centroid_x/y/z_mm in
DICOM LPS, ...), ``DIR/mask.nii.gz`` (label map on the PET grid, values =
lesion ids), ``DIR/mip.png``, ``DIR/edits.json`` when edits were applied and
``DIR/source.json`` (where the PET was read from, for ``carpet review DIR``) and
``DIR/analysis_state.npz`` (the automatic edit state, so the review starts without re-segmenting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _point(text: str | None, option: str):
    if text is None:
        return None
    from carpet.errors import ConfigError

    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        vals = []
    if len(vals) != 3:
        raise ConfigError(
            f"{option} must be X,Y,Z in LPS mm (e.g. -60,20,-450); got {text!r}", code="BAD_POINT"
        )
    return vals


def analyze_command(
    path: Annotated[Path, typer.Argument(help="DICOM folder/file or NIfTI (with --units suv).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (written atomically).")],
    method: Annotated[
        str, typer.Option(help="suv4 | suv2.5 | pct41 | percist | a50p | mv2 | mv3")
    ] = "suv4",
    min_volume_ml: Annotated[
        float | None,
        typer.Option("--min-volume-ml", help="Minimum preselected region volume, mL (default 3)."),
    ] = None,
    connectivity: Annotated[int, typer.Option(help="6, 18 or 26.")] = 26,
    no_physio_exclusion: Annotated[
        bool, typer.Option("--no-physio-exclusion", help="Keep brain/bladder/kidney/heart uptake.")
    ] = False,
    units: Annotated[
        str | None, typer.Option(help="'suv' when a NIfTI is already in SUVbw.")
    ] = None,
    edits: Annotated[
        Path | None,
        typer.Option(help="Reader edits JSON applied on top of the automatic result."),
    ] = None,
    organs: Annotated[
        Path | None,
        typer.Option(
            help="Organ label map (NIfTI; names in a sidecar .json or TotalSegmentator numbering)."
        ),
    ] = None,
    liver_voi: Annotated[
        str | None, typer.Option("--liver-voi", help="Liver sphere centre X,Y,Z (LPS mm).")
    ] = None,
    mbp_voi: Annotated[
        str | None, typer.Option("--mbp-voi", help="Blood-pool cylinder centre X,Y,Z (LPS mm).")
    ] = None,
    no_reference: Annotated[
        bool,
        typer.Option(
            "--no-reference-regions",
            help="Skip the liver/blood-pool VOIs (faster; no TLR, no liver QC).",
        ),
    ] = False,
    with_ct: Annotated[
        bool, typer.Option("--ct", help="Also read the study's CT (body, lungs, reference VOIs).")
    ] = False,
    no_mip: Annotated[bool, typer.Option("--no-mip", help="Do not write mip.png.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print patient metrics as JSON.")] = False,
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            help="Also write DICOM objects into OUT/dicom: comma list of seg,rtstruct,sr.",
        ),
    ] = None,
) -> None:
    """Segment lesions and measure TMTV, TLG, SUVmax/peak, Dmax... of one PET scan.

    PATH may also be a DICOMweb study address, dicomweb+http(s)://host/root/studies/UID
    (pulled into a temporary folder first; credentials from the environment).
    """
    import json

    from carpet.config import AnalysisConfig
    from carpet.errors import InputError
    from carpet.pipeline import analyze, write_analysis

    kw = {
        "method": method,
        "connectivity": connectivity,
        "physio_exclusion": not no_physio_exclusion,
        "write_mip": not no_mip,
        "reference_regions": not no_reference,
    }
    if min_volume_ml is not None:
        kw["min_volume_ml"] = min_volume_ml
    cfg = AnalysisConfig(**kw)
    from carpet.dicomweb import fetch_study, parse_study_address
    from carpet.interop import export_dicom_objects, parse_export_formats

    formats = parse_export_formats(export) if export else []
    from_web = parse_study_address(str(path)) is not None
    # source.json records where the PET was read (for `carpet review DIR`); a DICOMweb pull is
    # a temporary folder, so nothing is recorded for it
    record = False if from_web else path
    if not from_web and not path.exists():
        raise InputError(f"{path}: no such file or folder", code="NOT_FOUND")
    if edits is not None and not edits.is_file():
        raise InputError(f"edits file {edits}: no such file", code="EDITS_NOT_FOUND")
    with fetch_study(str(path)) as local:
        source, ct = local, None
        if with_ct:
            from carpet.ingest.pet import read_ct_for, read_pet

            source = read_pet(local, units=units)
            ct = read_ct_for(source)
            if ct is None:
                typer.echo(f"warning: --ct: no CT series of the same study under {path}", err=True)
        result = analyze(
            source,
            config=cfg,
            edits=edits,
            organs=organs,
            units=units,
            ct=ct,
            liver_center_mm=_point(liver_voi, "--liver-voi"),
            mbp_center_mm=_point(mbp_voi, "--mbp-voi"),
        )
        if formats:
            from carpet._io import atomic_output_dir

            with atomic_output_dir(out) as tmp:  # analysis and DICOM objects together or not at all
                write_analysis(result, tmp, source=record)
                export_dicom_objects(result, tmp / "dicom", formats=formats)
        else:
            write_analysis(result, out, source=record)
    p = result.patient
    if as_json:
        from carpet.measure.columns import BIOMARKER_KEYS

        keys = [*BIOMARKER_KEYS, "liver_suv_mean"]
        typer.echo(json.dumps({k: p.get(k) for k in keys} | {"out": str(out)}))
        return
    sd = p.get("sdmax_per_m")
    typer.echo(
        f"{p['lesion_count']} lesions ({p['method']}): TMTV {p['tmtv_ml']:.1f} mL, TLG {p['tlg']:.1f} g, "
        f"SUVmax {p['suv_max']:.2f}, SUVpeak {p['suv_peak']:.2f}, Dmax {p['dmax_mm']:.1f} mm, "
        f"SDmax {'n/a' if sd is None else f'{sd:.3f} /m'}"
    )
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"outputs in {out}")


def register(app: typer.Typer) -> None:
    """Add ``carpet analyze`` to the app."""
    app.command("analyze")(analyze_command)
