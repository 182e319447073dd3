"""Clinic commands: ``db upgrade`` / ``db rotate-keys`` / ``db backup`` / ``db restore``,
``demo``, ``clinic create``, ``user create``, ``export`` and ``client export`` /
``client erase``.

Each command is thin: it resolves the database (``--db PATH`` for a SQLite file, otherwise
``ALLIANCE_DATABASE_URL`` or the default file under the data directory), builds a
:class:`~alliance.services.context.ServiceContext` and calls one service. Commands that touch
clinical data act as a named admin (``--as EMAIL``), so the same authorization rules and audit
trail apply as in the web app. Bad input exits with code 2 and one line.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from alliance.cli._common import (
    FORCE_HELP,
    QUIET_HELP,
    check_target,
    fail,
    say,
    write_bytes,
    write_files,
)
from alliance.config import Settings
from alliance.services.context import ServiceContext
from alliance.services.errors import ServiceError
from alliance.store.db import sqlite_url

DB_HELP = "SQLite database file (default: ALLIANCE_DATABASE_URL, else the data directory)."
AS_HELP = "E-mail of the admin the command acts as (audited as that user)."
PASSWORD_ENV = "ALLIANCE_NEW_USER_PASSWORD"  # noqa: S105 - a variable name


def _settings(db: Path | None, **updates: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}")
    if db is not None:
        updates["database_url"] = sqlite_url(db)
    return settings.model_copy(update=updates) if updates else settings


@contextmanager
def _handled() -> Iterator[None]:
    """Turn service and database errors into one line and exit code 2."""
    try:
        yield
    except ServiceError as exc:
        fail(exc.message)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"database: {detail} (has `alliance db upgrade` been run?)")


def _context(settings: Settings) -> ServiceContext:
    return ServiceContext.create(settings)


def _actor(ctx: ServiceContext, email: str | None) -> Any:
    from alliance.services import auth

    if not email:
        fail("--as EMAIL is required: the admin this command acts as")
    return auth.actor_for_email(ctx, email)


def _on_user(db: Path | None, as_email: str | None, email: str, action: Callable[..., Any]) -> Any:
    """One place for the admin commands on one staff account: resolve the acting admin and the
    target user by e-mail, then run the service ``action(ctx, actor=..., user_id=...)``; errors
    become one line."""
    from alliance.services import auth

    with _handled():
        ctx = _context(_settings(db))
        actor = _actor(ctx, as_email)
        target = auth.actor_for_email(ctx, email)
        return action(ctx, actor=actor, user_id=target.user_id or 0)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
    clinic_app = typer.Typer(help="Clinics (tenants).", no_args_is_help=True)
    user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
    client_app = typer.Typer(help="Data-subject requests for one client.", no_args_is_help=True)
    app.add_typer(db_app, name="db")
    app.add_typer(clinic_app, name="clinic")
    app.add_typer(user_app, name="user")
    app.add_typer(client_app, name="client")

    @db_app.command("upgrade")
    def db_upgrade(db: Path | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Create or upgrade the database schema to the latest migration."""
        from alliance.store.migrations import current_revision, upgrade

        settings = _settings(db)
        url = settings.effective_database_url
        with _handled():
            upgrade(url)
            typer.echo(f"database at revision {current_revision(url)}")

    @db_app.command("rotate-keys")
    def db_rotate_keys(db: Path | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Re-encrypt every encrypted field with the first key in ALLIANCE_ENCRYPTION_KEYS."""
        from alliance.services.keys import rotate_encryption

        with _handled():
            ctx = _context(_settings(db))
            counts = rotate_encryption(ctx)
        total = sum(counts.values())
        typer.echo(
            f"re-encrypted {total} value(s) with key {ctx.cipher.active_key_id!r}: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )

    @db_app.command("backup")
    def db_backup(
        file: Path = typer.Argument(..., help="The backup file to write."),
        force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists."),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Write a consistent backup while the app runs (SQLite: online backup API;
        PostgreSQL: pg_dump --format=custom). Keep the encryption keys apart from it."""
        from alliance.services.authz import system_actor
        from alliance.services.backups import backup_database

        with _handled():
            receipt = backup_database(
                _context(_settings(db)), actor=system_actor(), path=file, force=force
            )
        typer.echo(
            f"backed up {receipt.database} ({receipt.backend}, revision {receipt.revision}) to "
            f"{receipt.path} ({receipt.size:,} bytes)"
        )

    @db_app.command("restore")
    def db_restore(
        file: Path = typer.Argument(..., help="A file written by `alliance db backup`."),
        force: bool = typer.Option(
            False, "--force", help="Replace a database that is not empty (its data is lost)."
        ),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Restore a backup into an empty database (stop the app first), upgrade its schema if
        it is older, and check that its audit trail is still append-only."""
        from alliance.services.authz import system_actor
        from alliance.services.backups import restore_database

        with _handled():
            receipt = restore_database(
                _context(_settings(db)), actor=system_actor(), path=file, force=force
            )
        schema = f"revision {receipt.revision}"
        if receipt.upgraded:
            schema += f" (upgraded from {receipt.backup_revision})"
        typer.echo(
            f"restored {receipt.path} into {receipt.database} ({receipt.backend}): {schema}, "
            f"{receipt.clients} client(s), {receipt.audit_events} audit event(s)"
        )
        if not receipt.audit_append_only:
            fail(
                "the restored audit trail is NOT append-only (its triggers are missing): "
                "do not start the app on it; restore again from a backup made by "
                "`alliance db backup`"
            )
        typer.echo("audit trail: append-only (an UPDATE was refused)")

    @clinic_app.command("create")
    def clinic_create(
        name: str = typer.Argument(..., help="The clinic's name."),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Create a clinic and print its id (then add its first admin with `user create`)."""
        from alliance.services import admin
        from alliance.services.authz import system_actor

        with _handled():
            clinic = admin.create_clinic(_context(_settings(db)), actor=system_actor(), name=name)
        typer.echo(f"clinic {clinic.id}: {clinic.name}")

    @clinic_app.command("refresh-alerts")
    def clinic_refresh_alerts(db: Path | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Re-run the monitoring rules on every open episode (run daily, e.g. from cron, so a
        client who stops coming is noticed)."""
        from alliance.services.monitor import refresh_open_episodes

        with _handled():
            changed = refresh_open_episodes(_context(_settings(db)))
        typer.echo(f"{changed} alert(s) raised or updated")

    @user_app.command("create")
    def user_create(
        email: str = typer.Option(..., "--email", help="Login e-mail (unique)."),
        role: str = typer.Option(..., "--role", help="admin, supervisor or therapist."),
        clinic: int = typer.Option(..., "--clinic", help="Clinic id (see `clinic create`)."),
        name: str | None = typer.Option(None, "--name", help="Display name (default: e-mail)."),
        supervisor: str | None = typer.Option(
            None, "--supervisor", help="Supervisor's e-mail (therapists)."
        ),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Create a staff account. The password comes from $ALLIANCE_NEW_USER_PASSWORD or a
        prompt."""
        from alliance.services import auth
        from alliance.services.authz import ROLES, system_actor

        if role not in ROLES:
            fail(f"--role {role!r}: must be one of {', '.join(ROLES)}")
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            if not sys.stdin.isatty():
                # A script with no terminal would hang on (or crash in) the prompt.
                fail(f"no password: set {PASSWORD_ENV} or run this in a terminal to be asked")
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        with _handled():
            ctx = _context(_settings(db))
            supervisor_id = None
            if supervisor:
                supervisor_id = auth.actor_for_email(ctx, supervisor).user_id
            user = auth.create_staff_user(
                ctx,
                actor=system_actor(),
                clinic_id=clinic,
                email=email,
                display_name=name or email,
                role=role,
                password=password,
                supervisor_id=supervisor_id,
            )
        typer.echo(f"user {user.id}: {user.email} ({user.role}) in clinic {user.clinic_id}")

    @user_app.command("deactivate")
    def user_deactivate(
        email: str = typer.Argument(..., help="E-mail of the user to deactivate."),
        as_email: str | None = typer.Option(None, "--as", help=AS_HELP),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Deactivate a staff account (sessions and tokens stop working at once)."""
        from alliance.services import admin

        user = _on_user(db, as_email, email, admin.deactivate_user)
        typer.echo(f"user {user.id}: {user.email} deactivated")

    @user_app.command("reset-mfa")
    def user_reset_mfa(
        email: str = typer.Argument(..., help="E-mail of the user who lost their TOTP app."),
        as_email: str | None = typer.Option(None, "--as", help=AS_HELP),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Remove a user's second factor; they set it up again at their next login."""
        from alliance.services import auth

        user = _on_user(db, as_email, email, auth.reset_totp)
        typer.echo(f"user {user.id}: {user.email} second factor removed")

    @app.command("export")
    def export(
        format: str = typer.Option(
            "csv",
            "--format",
            "-f",
            help="csv (the default: opens anywhere), parquet, spss (.sav), stata (.dta), rds "
            "or fhir.",
        ),
        out: Path = typer.Option(..., "-o", "--output", help="Directory to write into."),
        deidentified: bool = typer.Option(
            False, "--deidentified", help="Pseudonymous ids, no names, text or dates."
        ),
        force: bool = typer.Option(False, "--force", help=FORCE_HELP),
        quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
        as_email: str | None = typer.Option(None, "--as", help=AS_HELP),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Export the admin's clinic (audited): one file per table with a codebook
        (codebook.md, datapackage.json), or one FHIR Bundle."""
        from alliance.services import exports

        if out.exists() and not out.is_dir():
            fail(f"{out}: exists and is not a directory")
        with _handled():
            ctx = _context(_settings(db))
            files = exports.export_clinic(
                ctx, actor=_actor(ctx, as_email), format=format, deidentified=deidentified
            )
        write_files(out, files, force=force)
        say(f"wrote {len(files)} file(s) to {out}", quiet=quiet)

    @client_app.command("export")
    def client_export(
        client_id: int = typer.Argument(..., help="Client id."),
        out: Path = typer.Option(..., "-o", "--output", help="JSON file to write."),
        force: bool = typer.Option(False, "--force", help=FORCE_HELP),
        as_email: str | None = typer.Option(None, "--as", help=AS_HELP),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Everything stored about one client, as JSON with a FHIR Bundle (audited)."""
        from alliance.services import exports

        check_target(out, force=force)  # before the audited read: nothing to throw away
        with _handled():
            ctx = _context(_settings(db))
            document = exports.export_client(ctx, actor=_actor(ctx, as_email), client_id=client_id)
        write_bytes(out, json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8"))
        typer.echo(f"wrote client {client_id} to {out}")

    @client_app.command("erase")
    def client_erase(
        client_id: int = typer.Argument(..., help="Client id."),
        yes: bool = typer.Option(False, "--yes", help="Confirm: this cannot be undone."),
        as_email: str | None = typer.Option(None, "--as", help=AS_HELP),
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Delete a client's clinical data for good (an audit record of the erasure stays)."""
        from alliance.services import exports

        if not yes:
            fail("erasing cannot be undone: add --yes to confirm")
        with _handled():
            ctx = _context(_settings(db))
            receipt = exports.erase_client(ctx, actor=_actor(ctx, as_email), client_id=client_id)
        typer.echo(
            f"erased client {client_id}: "
            + ", ".join(f"{k} {v}" for k, v in receipt.deleted.items() if v)
        )

    @app.command("demo")
    def demo(
        db: Path | None = typer.Option(None, "--db", help=DB_HELP),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on."),
        port: int = typer.Option(8000, "--port", help="Port to serve on."),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the web app."),
    ) -> None:
        """Upgrade the database, seed the demo clinic if it is not there, print the logins and
        a client check-in link, then serve the app."""
        from alliance.demo import seed_demo
        from alliance.store.migrations import upgrade

        if not 0 < port < 65536:
            fail(f"--port {port}: must be between 1 and 65535")
        updates: dict[str, Any] = {}
        if "ALLIANCE_BASE_URL" not in os.environ:
            shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
            updates["base_url"] = f"http://{shown}:{port}"
        settings = _settings(db, **updates)
        if settings.mode == "production":
            fail("the demo clinic is for development mode only (ALLIANCE_MODE=production)")
        with _handled():
            upgrade(settings.effective_database_url)
            ctx = _context(settings)
            info = seed_demo(ctx.session_factory, settings)
        typer.echo(
            ("Seeded" if info.created else "Using")
            + " the demo clinic in "
            + settings.effective_database_url
        )
        typer.echo(f"\nOpen {settings.base_url}/ and log in (development only):")
        for login in info.logins:
            typer.echo(
                f"  {login.role:<10} {login.email:<28} {login.password}   "
                f"{login.name}, {login.description}"
            )
        typer.echo(
            f"\nA client's check-in link (Sarah's, valid 7 days, single use):\n"
            f"  {info.open_link_url}\n"
            f"\nThe public intake form a new client fills in (then see the admin's matching "
            f"queue):\n  {settings.base_url}/intake/{info.clinic_id}\n"
        )
        if not serve:
            return
        import uvicorn

        from alliance.web.app import create_app

        uvicorn.run(create_app(settings, context=ctx), host=host, port=port, log_level="info")
