"""The ``alliance`` command line: one Typer app assembled from per-capability modules.

Commands are thin: they parse arguments, call a domain function or a service, and print.
Bad input exits with code 2 and one readable line (see :func:`alliance.cli._common.fail`).
"""

from __future__ import annotations

import typer

from alliance._version import __version__
from alliance.cli import analysis, checkins, clinic, matching, measures, monitoring, reports

app = typer.Typer(
    name="alliance",
    help="Alliance: measure and strengthen the client-therapist relationship.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"alliance {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Alliance command line."""


measures.register(app)
monitoring.register(app)
clinic.register(app)
analysis.register(app)
matching.register(app)
checkins.register(app)
reports.register(app)


def main() -> None:
    app()
