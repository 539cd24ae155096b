"""``carpet review``: the local review page over a ``carpet analyze`` output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def review(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A `carpet analyze` output folder (patient.json, lesions.csv, mask.nii.gz)."
        ),
    ],
    port: Annotated[
        int, typer.Option("--port", help="TCP port (0: a free one).", min=0, max=65535)
    ] = 0,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to listen on; anything but 127.0.0.1 exposes patient data."
        ),
    ] = "127.0.0.1",
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a web browser.")
    ] = False,
    reader: Annotated[
        str | None,
        typer.Option("--reader", help="Reader name for the review log (default: the OS user)."),
    ] = None,
    pet: Annotated[
        Path | None,
        typer.Option(
            "--pet",
            help="The analysed PET (DICOM folder/file or NIfTI); default: the one in DIR/source.json.",
        ),
    ] = None,
    pet_followup: Annotated[
        Path | None,
        typer.Option(
            "--pet-followup",
            help="Follow-up PET of a `carpet response` folder; default: DIR/followup/source.json.",
        ),
    ] = None,
    units: Annotated[
        str | None,
        typer.Option(
            "--units", help="Units of a NIfTI --pet (e.g. 'suv'), as for `carpet analyze`."
        ),
    ] = None,
    verify_log: Annotated[
        bool,
        typer.Option(
            "--verify-log", help="Only check DIR/review_log.jsonl for changed or deleted entries."
        ),
    ] = False,
    show_phi: Annotated[
        bool, typer.Option("--show-phi", help="Allow patient name/id on the page (never in URLs).")
    ] = False,
) -> None:
    """Review and edit the lesions of an analysis in a local web page.

    The PET is the one `carpet analyze` recorded in DIR/source.json (--pet overrides it,
    e.g. when the PET has moved). On a `carpet response` folder (DIR/baseline,
    DIR/followup) the page shows both time points side by side, read-only, with
    matched lesions numbered alike.

    Prints one line ``carpet review: http://127.0.0.1:PORT/?token=TOKEN`` and serves
    until Ctrl-C or SIGTERM. Saving writes DIR/edits.json and the recomputed
    patient.json, lesions.csv and mask.nii.gz (the automatic result is kept in DIR/auto/).
    """
    from carpet.errors import InputError
    from carpet.review.auditlog import verify_log as _verify

    if verify_log:
        check = _verify(folder)
        if not check.ok:
            raise InputError(
                f"{folder / 'review_log.jsonl'}: verification failed: {'; '.join(check.problems)}",
                code="REVIEW_LOG_TAMPERED",
            )
        typer.echo(f"carpet review: log OK ({check.n_entries} entries, chain and head intact)")
        return

    from carpet.review.server import LOOPBACK_HOSTS
    from carpet.review.session import ReviewSession, run_server

    if host not in LOOPBACK_HOSTS:
        typer.echo(
            f"carpet review: warning: listening on {host} makes the page (patient data) reachable from "
            "other machines; the token still protects it, but prefer 127.0.0.1 with an SSH tunnel.",
            err=True,
        )
    from carpet.review.compare import ResponseReview, is_response_folder

    if is_response_folder(folder):
        backend = ResponseReview(folder, {"baseline": pet, "followup": pet_followup}, units=units)
        run_server(backend, host=host, port=port, open_browser=not no_browser)
        return
    session = ReviewSession.open(folder, pet=pet, units=units, reader=reader, show_phi=show_phi)
    run_server(session, host=host, port=port, open_browser=not no_browser)


def register(app: typer.Typer) -> None:
    """Add ``review`` to the app."""
    app.command("review")(review)
