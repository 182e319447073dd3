"""Backing up the clinic's database and restoring a backup (``alliance db backup`` /
``alliance db restore``), on :mod:`alliance.store.backup`.

A backup is audited in the database it copies (a backup holds every client's data); a restore
is audited in the database it fills, which is then checked: its schema is at this Alliance's
revision, and it still refuses to change the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from alliance.services.authz import Actor
from alliance.services.context import ServiceContext
from alliance.services.errors import Forbidden, ServiceError
from alliance.services.unit import record, unit_of_work
from alliance.store import audit
from alliance.store import backup as store_backup
from alliance.store.models import AuditEvent, Client


@dataclass(frozen=True)
class BackupReceipt:
    path: Path
    backend: str
    database: str
    revision: str
    size: int


@dataclass(frozen=True)
class RestoreReceipt:
    path: Path
    backend: str
    database: str
    backup_revision: str
    revision: str
    replaced: bool
    clients: int
    audit_events: int
    audit_append_only: bool

    @property
    def upgraded(self) -> bool:
        return self.backup_revision != self.revision


def _system_only(actor: Actor) -> None:
    # Run from the server's shell (the CLI), by whoever can read the database file anyway;
    # no staff account backs up or restores through the app.
    if actor.kind != "system":
        raise Forbidden("backups are taken and restored with the command line on the server")


def _url(ctx: ServiceContext) -> str:
    return ctx.settings.effective_database_url


def backup_database(
    ctx: ServiceContext, *, actor: Actor, path: Path, force: bool = False
) -> BackupReceipt:
    """Write a consistent backup of the database to ``path`` (refuses to overwrite a file
    unless ``force``) and audit it."""
    _system_only(actor)
    try:
        info = store_backup.backup(_url(ctx), path, force=force)
    except store_backup.BackupError as exc:
        raise ServiceError(str(exc)) from exc
    with unit_of_work(ctx) as session:
        record(
            session,
            ctx,
            actor,
            "backup",
            "database",
            None,
            {"file": info.path.name, "revision": info.revision, "bytes": info.size},
        )
    return BackupReceipt(info.path, info.backend, info.database, info.revision, info.size)


def restore_database(
    ctx: ServiceContext, *, actor: Actor, path: Path, force: bool = False
) -> RestoreReceipt:
    """Restore the backup at ``path`` into the (empty, unless ``force``) database, bring its
    schema up to date, audit the restore, and report what it holds and whether its audit
    trail is still append-only."""
    _system_only(actor)
    try:
        info = store_backup.restore(_url(ctx), path, force=force)
    except store_backup.BackupError as exc:
        raise ServiceError(str(exc)) from exc
    with unit_of_work(ctx) as session:
        record(
            session,
            ctx,
            actor,
            "restore",
            "database",
            None,
            {
                "file": info.path.name,
                "backup_revision": info.backup_revision,
                "revision": info.revision,
                "replaced": info.replaced,
            },
        )
    with unit_of_work(ctx) as session:
        clients = session.scalar(select(func.count(Client.id))) or 0
        events = session.scalar(select(func.count(AuditEvent.id))) or 0
        append_only = audit.append_only_enforced(session)
    return RestoreReceipt(
        path=info.path,
        backend=info.backend,
        database=info.database,
        backup_revision=info.backup_revision,
        revision=info.revision,
        replaced=info.replaced,
        clients=clients,
        audit_events=events,
        audit_append_only=append_only,
    )
