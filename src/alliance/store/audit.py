"""The audit repository: append one event, list events, check that the database itself
refuses to change them (after a restore). There is no update or delete.

Events say who did what to which record and when; ``detail`` carries identifiers and counts,
never clinical content (so an erased client's audit trail reveals nothing about them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from alliance.store.db import is_sqlite
from alliance.store.models import AuditEvent


def append(
    session: Session,
    *,
    at: datetime,
    actor_type: str,
    actor_id: int | None,
    clinic_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | str | None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to ``session`` (it commits with the unit of work it belongs to)."""
    event = AuditEvent(
        **_stored(
            {
                "at": at,
                "actor_type": actor_type,
                "actor_id": actor_id,
                "clinic_id": clinic_id,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "detail": detail,
            }
        )
    )
    session.add(event)
    return event


def _stored(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event's column values as stored: the entity id as text, the detail a plain dict."""
    entity_id = row["entity_id"]
    return {
        "at": row["at"],
        "actor_type": row["actor_type"],
        "actor_id": row["actor_id"],
        "clinic_id": row["clinic_id"],
        "action": row["action"],
        "entity_type": row["entity_type"],
        "entity_id": None if entity_id is None else str(entity_id),
        "detail": dict(row.get("detail") or {}),
    }


_INSERT_EVENTS = insert(cast(Table, AuditEvent.__table__))


def append_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write several events (each with :func:`append`'s keyword arguments) now, as one
    ``INSERT`` on the session's connection rather than as ORM objects flushed one by one: a
    check-in writes several. Whatever the session holds pending is flushed first, so the
    events' ids keep the order of the actions."""
    if not rows:
        return
    session.flush()
    session.connection().execute(_INSERT_EVENTS, [_stored(row) for row in rows])


def events(
    session: Session,
    *,
    clinic_id: int | None = None,
    entity_type: str | None = None,
    entity_id: int | str | None = None,
    action: str | None = None,
    actor_type: str | None = None,
    actor_id: int | None = None,
    client_id: int | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    limit: int = 1000,
) -> Sequence[AuditEvent]:
    """Events, newest first, filtered by whichever arguments are given. ``client_id`` finds
    the events about a client: on the client record itself, or on a record whose ``detail``
    names the client (an alert, a session, a check-in). ``since`` is inclusive, ``before``
    exclusive."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if clinic_id is not None:
        query = query.where(AuditEvent.clinic_id == clinic_id)
    if entity_type is not None:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == str(entity_id))
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor_type is not None:
        query = query.where(AuditEvent.actor_type == actor_type)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if client_id is not None:
        query = query.where(
            or_(
                and_(AuditEvent.entity_type == "client", AuditEvent.entity_id == str(client_id)),
                AuditEvent.detail["client_id"].as_integer() == client_id,
            )
        )
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if before is not None:
        query = query.where(AuditEvent.at < before)
    return session.scalars(query).all()


def append_only_enforced(session: Session) -> bool:
    """Whether the database refuses to change the audit trail: tries to UPDATE its newest
    event inside a savepoint (rolled back either way). An empty trail has no row to try, so
    then the triggers are looked up by name instead."""
    newest = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    if newest is None:
        return _has_append_only_triggers(session)
    savepoint = session.begin_nested()
    try:
        session.execute(
            update(AuditEvent).where(AuditEvent.id == newest).values(action=AuditEvent.action)
        )
    except DBAPIError:
        savepoint.rollback()
        return True
    savepoint.rollback()
    return False


def _has_append_only_triggers(session: Session) -> bool:
    if is_sqlite(session):
        names = session.scalars(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": AuditEvent.__tablename__},
        )
        return {"audit_events_no_update", "audit_events_no_delete"} <= set(names)
    found = session.scalar(
        text(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass "
            "AND tgname = 'audit_events_append_only' AND tgenabled <> 'D'"
        )
    )
    return bool(found)
