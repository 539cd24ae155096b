"""``carpet info PATH [--json]``: every series under a path, its geometry and SUV factors.

JSON contract (issue #3 §4; other tools depend on it)::

    {"path": ..., "n_files": N,
     "series": [{"series_instance_uid", "study_instance_uid", "modality", "kind",
                 "series_description", "series_number", "units", "n_instances",
                 "frame_of_reference_uid", "corrected_image", "is_attenuation_corrected",
                 "geometry": {"shape", "spacing_mm", "orientation", "origin_mm", "affine"} | null,
                 "geometry_error": {"code", "message"} | null,
                 "patient": {"weight_kg", "height_m", "sex"} | null,
                 "suv": {"bw_factor", "lbm_factor", "bsa_factor", "ibw_factor",
                         "reference_time_source", ...provenance} | null,
                 "suv_error": {"code", "message"} | null,
                 "warnings": [...]}],
     "problems": [{"path", "reason"}]}

``suv`` is set for PET series that convert, ``suv_error`` for PET series that are
refused; both are null for other series. The command exits 0 in both cases.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["collect_info", "register"]

_INFO_SERIES_KINDS_WITH_GEOMETRY = ("PT", "CT")


def collect_info(path: str, *, progress: Any = None) -> dict[str, Any]:
    """Build the ``carpet info --json`` document for ``path`` (a folder or a file).

    Parameters
    ----------
    path : str
        DICOM folder tree or file.
    progress : callable, optional
        ``progress(files_done, files_total)`` while headers are read.

    Returns
    -------
    dict
        See the module docstring; JSON-able.
    """
    from carpet.errors import CarpetError
    from carpet.ingest.dicom import series_geometry
    from carpet.ingest.discover import discover
    from carpet.ingest.pet_header import read_pet_acquisition
    from carpet.suv import compute_suv_factors

    disc = discover(path, progress=progress)
    out_series = []
    for s in disc.series:
        entry: dict[str, Any] = s.to_dict()
        entry.update(
            {
                "geometry": None,
                "geometry_error": None,
                "patient": None,
                "suv": None,
                "suv_error": None,
                "warnings": [],
            }
        )
        if s.kind in _INFO_SERIES_KINDS_WITH_GEOMETRY and not s.is_localizer:
            try:
                geo = series_geometry(s)
                entry["geometry"] = geo.to_dict()
                entry["warnings"].extend(geo.warnings)
            except CarpetError as exc:
                entry["geometry_error"] = exc.to_dict()
        if s.kind == "PT":
            try:
                acq = read_pet_acquisition(s.datasets, source=str(path))
                f = compute_suv_factors(acq)
                prov = f.to_dict()
                entry["suv"] = {
                    "bw_factor": f.bw_factor,
                    "lbm_factor": f.lbm_factor,
                    "bsa_factor": f.bsa_factor,
                    "ibw_factor": f.ibw_factor,
                    "reference_time_source": f.reference_time_source,
                    **{
                        k: v
                        for k, v in prov.items()
                        if k
                        not in (
                            "bw_factor",
                            "lbm_factor",
                            "bsa_factor",
                            "ibw_factor",
                            "reference_time_source",
                            "slice_bw_factors",
                        )
                    },
                    "has_slice_factors": f.slice_bw_factors is not None,
                }
                entry["patient"] = {
                    "weight_kg": f.weight_kg_used,
                    "height_m": f.height_m_used,
                    "sex": f.sex_used,
                }
                entry["warnings"].extend(f.warnings)
            except CarpetError as exc:  # SuvError, or any other coded refusal
                entry["suv_error"] = exc.to_dict()
        out_series.append(entry)
    return {
        "path": str(path),
        "n_files": disc.n_files,
        "series": out_series,
        "problems": [p.to_dict() for p in disc.problems],
    }


def _g(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _fmt_factor(x: float | None) -> str:
    return "—" if x is None else f"{x:.5e}"


def _print_table(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=160)
    table = Table(title=f"carpet info: {doc['path']} ({doc['n_files']} files)", show_lines=False)
    for col in (
        "#",
        "kind",
        "description",
        "files",
        "units",
        "grid S×R×C / mm",
        "orient",
        "SUVbw factor",
        "SUL factor",
        "ref. time / refusal",
    ):
        table.add_column(col, overflow="fold")
    for n, s in enumerate(doc["series"], start=1):
        geo = s["geometry"]
        if geo:
            grid = (
                "×".join(str(x) for x in geo["shape"])
                + " / "
                + "×".join(f"{x:.4g}" for x in geo["spacing_mm"])
            )
            orient = geo["orientation"]
        elif s["geometry_error"]:
            grid, orient = f"[red]{s['geometry_error']['code']}[/red]", ""
        else:
            grid, orient = "", ""
        if s["suv"]:
            bw, sul, ref = (
                _fmt_factor(s["suv"]["bw_factor"]),
                _fmt_factor(s["suv"]["lbm_factor"]),
                s["suv"]["reference_time_source"],
            )
        elif s["suv_error"]:
            bw, sul, ref = "refused", "", f"[red]{s['suv_error']['code']}[/red]"
        else:
            bw, sul, ref = "", "", ""
        table.add_row(
            str(n),
            s["kind"],
            s["series_description"] or "",
            str(s["n_instances"]),
            s["units"] or "",
            grid,
            orient,
            bw,
            sul,
            ref,
        )
    console.print(table)
    for n, s in enumerate(doc["series"], start=1):
        if s["suv_error"]:
            console.print(
                f"[red]#{n} SUV refused[/red] [{s['suv_error']['code']}]: {s['suv_error']['message']}"
            )
        if s["geometry_error"]:
            console.print(
                f"[red]#{n} geometry[/red] [{s['geometry_error']['code']}]: {s['geometry_error']['message']}"
            )
        if s["patient"]:
            p = s["patient"]
            console.print(
                f"#{n} PET {s['series_instance_uid']}: weight {_g(p['weight_kg'])} kg, height {_g(p['height_m'])} m, sex {p['sex']}"
            )
        for w in s["warnings"]:
            console.print(f"[yellow]#{n} warning[/yellow]: {w}")
    if doc["problems"]:
        console.print(f"[yellow]{len(doc['problems'])} file(s) skipped:[/yellow]")
        for p in doc["problems"]:
            console.print(f"  {p['path']}: {p['reason']}")
    if not doc["series"]:
        console.print("No DICOM series found.")


def _collect_with_progress(path: str, *, show: bool) -> dict[str, Any]:
    """collect_info with a transient rich progress bar on an interactive terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not (show and console.is_terminal):
        return collect_info(path)
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("reading DICOM headers", total=None)
        return collect_info(
            path, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )


def register(app: typer.Typer) -> None:
    """Add ``info`` to the carpet app."""

    @app.command("info")
    def info(
        path: Annotated[str, typer.Argument(help="DICOM folder (any layout) or file.")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the machine-readable JSON document.")
        ] = False,
    ) -> None:
        """List every series under PATH with its geometry and SUV factors (or why SUV is refused)."""
        doc = _collect_with_progress(path, show=not as_json)
        if as_json:
            typer.echo(json.dumps(doc, indent=2, allow_nan=False, default=str))
        else:
            _print_table(doc)
