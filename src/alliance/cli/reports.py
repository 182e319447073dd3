"""Report commands: ``report client CLIENT_ID --as EMAIL -o FILE.pdf|FILE.html`` and
``report clinic --as EMAIL [--from DATE --to DATE] -o FILE.pdf|FILE.html``.

The command acts as a named staff member (``--as``), so the report is refused, or audited,
exactly as the same person's request in the app would be; it renders with
:mod:`alliance.web.reports`, the code the app's report page uses. The output's suffix picks the
format; an existing file is kept unless ``--force``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import typer

from alliance.cli._common import FORCE_HELP, check_target, fail, write_bytes
from alliance.cli.clinic import DB_HELP, _context, _handled, _settings

AS_HELP = "E-mail of the staff member the report is made for (authorized and audited as them)."
SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html"}


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    report_app = typer.Typer(help="Printable reports (HTML or PDF).", no_args_is_help=True)
    app.add_typer(report_app, name="report")

    @report_app.command("client")
    def report_client(
        client_id: int = typer.Argument(..., help="Client id (as in the app's address)."),
        output: Path = typer.Option(..., "-o", "--output", help="FILE.pdf or FILE.html."),
        as_email: str | None = typer.Option(None, "--as", help=AS_HELP),
        force: bool = typer.Option(False, "--force", help=FORCE_HELP),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """A client's progress report for their current episode: each measure's baseline,
        latest score, reliable change and clinical significance, the alliance with its
        ruptures and how they were handled, goals, attendance and alerts."""
        from alliance.services import auth
        from alliance.services.reports import client_report
        from alliance.web import reports
        from alliance.web.templating import make_templates

        kind = SUFFIXES.get(output.suffix.lower())
        if kind is None:
            fail(f"{output}: the file name must end in .pdf or .html")
        if client_id < 1:
            fail(f"client id {client_id}: must be a positive number")
        if not as_email:
            fail("--as EMAIL is required: the staff member the report is made for")
        check_target(output, force=force)
        with _handled():
            ctx = _context(_settings(db))
            actor = auth.actor_for_email(ctx, as_email)
            view = client_report(ctx, actor=actor, client_id=client_id)
        env = make_templates(ctx.instruments).env
        if kind == "pdf":
            data = reports.report_pdf(env, view)
        else:
            data = reports.report_html(env, view).encode("utf-8")
        write_bytes(output, data)
        typer.echo(f"wrote the progress report of client {client_id} to {output}")

    @report_app.command("clinic")
    def report_clinic(
        output: Path = typer.Option(..., "-o", "--output", help="FILE.pdf or FILE.html."),
        as_email: str | None = typer.Option(None, "--as", help=AS_HELP),
        start: str | None = typer.Option(
            None, "--from", help="First day (YYYY-MM-DD); default: a year before --to."
        ),
        end: str | None = typer.Option(None, "--to", help="Last day (YYYY-MM-DD); default: today."),
        force: bool = typer.Option(False, "--force", help=FORCE_HELP),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """The clinic outcome report over a period (an admin's clinic, a supervisor's team):
        episodes, reliable improvement, recovery and deterioration with 95 % intervals and
        severity adjustment, dropout, alliance, rupture repair and check-in completion, by
        team, therapist, modality and concern, with published benchmarks."""
        from alliance.services import auth
        from alliance.services.outcomes import clinic_outcomes
        from alliance.web import reports
        from alliance.web.templating import make_templates

        kind = SUFFIXES.get(output.suffix.lower())
        if kind is None:
            fail(f"{output}: the file name must end in .pdf or .html")
        if not as_email:
            fail("--as EMAIL is required: the staff member the report is made for")
        last = _day(end, "--to") if end else None
        first = _day(start, "--from") if start else None
        check_target(output, force=force)
        with _handled():
            ctx = _context(_settings(db))
            last = last or ctx.now().date()
            first = first or last - timedelta(days=364)
            actor = auth.actor_for_email(ctx, as_email)
            view = clinic_outcomes(ctx, actor=actor, start=first, end=last)
        env = make_templates(ctx.instruments).env
        if kind == "pdf":
            data = reports.clinic_report_pdf(env, view)
        else:
            data = reports.clinic_report_html(env, view).encode("utf-8")
        write_bytes(output, data)
        typer.echo(f"wrote the clinic outcome report {first} to {last} to {output}")


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: must be a date as YYYY-MM-DD")
