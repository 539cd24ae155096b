"""Interoperability commands: ``measure``, ``export-seg``, ``pull``, ``push``.

* ``carpet measure PET --mask MASK --out DIR`` — measure the segments of a DICOM
  SEG, RTSTRUCT or NIfTI label map made by another tool; same outputs as
  ``carpet analyze`` (``patient.json``, ``lesions.csv``, ``mask.nii.gz``, ``mip.png``).
* ``carpet export-seg PET --mask MASK --out DIR [--format seg,rtstruct,sr]`` —
  a label map (e.g. ``carpet analyze``'s ``mask.nii.gz`` or its output folder) as
  DICOM SEG / RTSTRUCT / TID 1500 SR referencing the PET series.
* ``carpet pull --url URL --study UID --out DIR`` — QIDO-RS + WADO-RS download.
* ``carpet push --url URL FILES...`` — STOW-RS upload.

PET arguments also accept a DICOMweb study address
(``dicomweb+http://host:port/dicom-web/studies/UID``). Credentials come only
from the environment or the config file (see :mod:`carpet.dicomweb.client`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

_PET_HELP = (
    "PET: DICOM folder/file, NIfTI (with --units suv) or dicomweb+http(s)://.../studies/UID."
)


def _mask_path(mask: str) -> str:
    p = Path(mask)
    if p.is_dir() and (p / "mask.nii.gz").is_file():
        return str(p / "mask.nii.gz")  # a carpet analyze output folder
    return mask


def measure_cmd(
    pet: Annotated[str, typer.Argument(help=_PET_HELP)],
    mask: Annotated[str, typer.Option("--mask", help="DICOM SEG, RTSTRUCT or NIfTI label map.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (written atomically).")],
    segment: Annotated[
        list[int] | None,
        typer.Option("--segment", help="Segment/ROI number to measure (repeatable; default all)."),
    ] = None,
    units: Annotated[
        str | None, typer.Option("--units", help="'suv' for a NIfTI PET already in SUVbw.")
    ] = None,
    export: Annotated[
        str | None,
        typer.Option("--export", help="Also write DICOM objects: comma list of seg,rtstruct,sr."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print patient metrics as JSON.")] = False,
    rtstruct_planes: Annotated[
        str,
        typer.Option(
            "--rtstruct-planes",
            help="RTSTRUCT contours between PET slices: 'exact' (refuse) or 'nearest' (nearest-plane rule).",
        ),
    ] = "exact",
) -> None:
    """Measure lesions from a mask made by another tool (same outputs as analyze)."""
    from carpet._io import atomic_output_dir
    from carpet.dicomweb import fetch_study
    from carpet.interop import export_dicom_objects, measure_mask, parse_export_formats
    from carpet.pipeline import write_analysis

    formats = parse_export_formats(export) if export else []
    with fetch_study(pet) as pet_path:
        result = measure_mask(
            pet_path,
            _mask_path(mask),
            segments=segment or None,
            units=units,
            rtstruct_planes=rtstruct_planes,
        )
        with atomic_output_dir(
            out
        ) as tmp:  # analysis and DICOM objects appear together or not at all
            write_analysis(result, tmp)
            if formats:
                export_dicom_objects(result, tmp / "dicom", formats=formats)
    p = result.patient
    if as_json:
        typer.echo(
            json.dumps(
                {
                    k: p.get(k)
                    for k in ("lesion_count", "tmtv_ml", "tlg", "suv_max", "suv_peak", "dmax_mm")
                }
            )
        )
    else:
        typer.echo(
            f"{p.get('lesion_count')} lesion(s), TMTV {p.get('tmtv_ml', 0):.2f} mL, "
            f"SUVmax {p.get('suv_max') or 0:.2f} ({result.patient['mask']['pairing']} pairing) -> {out}"
        )


def export_seg_cmd(
    pet: Annotated[str, typer.Argument(help=_PET_HELP)],
    mask: Annotated[
        str,
        typer.Option("--mask", help="Label map (NIfTI, SEG, RTSTRUCT) or a carpet analyze folder."),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output folder for seg.dcm / rtstruct.dcm / sr.dcm.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="Comma list of seg,rtstruct,sr.")] = "seg",
    mode: Annotated[
        str, typer.Option("--mode", help="'lesions' (one segment per lesion) or 'tumour'.")
    ] = "lesions",
    units: Annotated[
        str | None, typer.Option("--units", help="'suv' for a NIfTI PET (not exportable).")
    ] = None,
) -> None:
    """Export a lesion label map as DICOM SEG / RTSTRUCT / TID 1500 SR."""
    from carpet.dicomweb import fetch_study
    from carpet.interop import export_dicom_objects, measure_mask, parse_export_formats

    formats = parse_export_formats(fmt)
    with fetch_study(pet) as pet_path:
        result = measure_mask(pet_path, _mask_path(mask), units=units)
        written = export_dicom_objects(result, out, formats=formats, mode=mode)
    for f, p in written.items():
        typer.echo(f"{f}: {p}")


def pull_cmd(
    url: Annotated[str, typer.Option("--url", help="DICOMweb root, e.g. https://pacs/dicom-web.")],
    study: Annotated[str, typer.Option("--study", help="StudyInstanceUID.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (written only when complete).")],
    modality: Annotated[
        list[str] | None, typer.Option("--modality", help="Only these modalities (repeatable).")
    ] = None,
    timeout_s: Annotated[
        float | None, typer.Option("--timeout-s", help="Connection/read timeout, s.")
    ] = None,
) -> None:
    """Download a study over DICOMweb (QIDO-RS search, WADO-RS retrieve)."""
    from carpet.dicomweb import pull_study, resolve_settings

    res = pull_study(
        resolve_settings(url, timeout_s=timeout_s), study, out, modalities=modality or None
    )
    typer.echo(f"pulled {len(res.files)} instance(s) in {len(res.series)} series -> {res.out_dir}")


def push_cmd(
    url: Annotated[str, typer.Option("--url", help="DICOMweb root.")],
    files: Annotated[list[Path], typer.Argument(help="DICOM files or folders.")],
    timeout_s: Annotated[
        float | None, typer.Option("--timeout-s", help="Connection/read timeout, s.")
    ] = None,
) -> None:
    """Upload DICOM files over DICOMweb (STOW-RS)."""
    from carpet.dicomweb import push_files, resolve_settings

    res = push_files(resolve_settings(url, timeout_s=timeout_s), files)
    typer.echo(f"stored {res['stored']} instance(s) in {res['studies']} study(ies)")


def register(app: typer.Typer) -> None:
    """Add the interoperability commands to the ``carpet`` app."""
    app.command("measure")(measure_cmd)
    app.command("export-seg")(export_seg_cmd)
    app.command("pull")(pull_cmd)
    app.command("push")(push_cmd)
