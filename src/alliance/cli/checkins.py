"""``alliance checkins send-due``: e-mail the check-in links and reminders that are due (cron).

The command builds the context like the clinic commands (``--db`` or ``ALLIANCE_DATABASE_URL``)
and calls :func:`alliance.services.delivery.send_due`, the same function the in-app scheduler
runs. It prints one line of counts. Exit codes: 0 done; 1 done, but some message failed for
good (see the outbox page); 2 bad input (no SMTP server configured, a database that was never
upgraded) with one readable line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from alliance.cli._common import fail
from alliance.cli.clinic import DB_HELP, _context, _handled, _settings


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    checkins_app = typer.Typer(help="Client check-in links.", no_args_is_help=True)
    app.add_typer(checkins_app, name="checkins")

    @checkins_app.command("send-due")
    def send_due(
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Count what would be queued and sent; write and send nothing."
        ),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Queue and send the check-in links and reminders that are due now (run it from cron
        every few minutes; two runs at once never send a message twice)."""
        from alliance.adapters.mail import SmtpNotifier, smtp_configured
        from alliance.services import delivery

        settings = _settings(db)
        if not dry_run and not smtp_configured(settings):
            fail("no SMTP server is configured (set ALLIANCE_SMTP_HOST), or use --dry-run")
        with _handled():
            ctx = _context(settings)
            report = delivery.send_due(
                ctx, notifier=None if dry_run else SmtpNotifier(settings), dry_run=dry_run
            )
        typer.echo(report.line())
        if report.failed:
            raise typer.Exit(1)
