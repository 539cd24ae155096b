"""The ``carpet`` console script.

Each command lives in its own module under ``carpet.cli`` and is registered
here. Commands are thin: parse, call the public API, write outputs. Heavy
imports happen inside the command functions so that ``carpet --help`` is fast.

Errors: any :class:`~carpet.errors.CarpetError` becomes one line on stderr,
``carpet: error [CODE] message``, and exit status 2 (``--debug`` shows the
traceback instead).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from carpet._version import __version__

app = typer.Typer(
    name="carpet",
    help="FDG PET/CT tumour burden (TMTV, TLG, Dmax...) and outcome analysis for CAR T-cell therapy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}

#: Exit status for errors carpet reports (bad input, refused SUV, ...).
EXIT_ERROR = 2


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"carpet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging (-vv: debug).")] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _state["debug"] = debug


#: Command modules under ``carpet.cli``; each defines ``register(app)``.
COMMAND_MODULES: tuple[str, ...] = ("review", "batch", "info", "demo", "analyze", "interop", "cohort", "suv", "response")

_registered = {"done": False}


def _register() -> None:
    if _registered["done"]:
        return
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"carpet.cli.{name}").register(app)
    _registered["done"] = True


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    from carpet.errors import CarpetError

    _register()
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc != 0:  # click returns typer.Exit(code) here instead of raising
            sys.exit(rc)
    except CarpetError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"carpet: error [{exc.code}] {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


def get_app() -> typer.Typer:
    """The fully registered typer app (for ``typer.testing.CliRunner``)."""
    _register()
    return app
