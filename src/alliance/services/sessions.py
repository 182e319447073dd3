"""Therapy sessions: schedule the next one, record it as attended, missed or cancelled.

Recording attendance re-evaluates the episode's alerts (a missed session can raise the
missed/irregular-sessions alert) in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from alliance.services import monitor
from alliance.services.authz import Actor, require_episode, require_staff
from alliance.services.context import ServiceContext
from alliance.services.episodes import resolve_episode
from alliance.services.errors import Conflict, InvalidInput, NotFound
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import SessionView
from alliance.store.models import TherapySession

STATUSES = ("scheduled", "attended", "missed", "cancelled")
#: What can only be said of a session once its time has come.
HAPPENED = ("attended", "missed")


def _not_in_the_future(
    ctx: ServiceContext, scheduled_at: datetime, status: str, field: str
) -> None:
    """Refuse to say a session was attended (or missed) before its time: a future date with
    "attended" is a typo or a wrong field, and it would feed the alert rules a session that has
    not happened."""
    when = scheduled_at if scheduled_at.tzinfo else scheduled_at.replace(tzinfo=UTC)
    now = ctx.now()
    if status in HAPPENED and when > now:
        raise InvalidInput(
            field,
            f"{when:%Y-%m-%d %H:%M} UTC is in the future: a session can be recorded as "
            f"{status} only once its time has come; record it as scheduled instead",
        )


def session_view(row: TherapySession, *, checked_in: bool = False) -> SessionView:
    return SessionView(
        id=row.id,
        episode_id=row.episode_id,
        number=row.number,
        scheduled_at=row.scheduled_at,
        status=row.status,
        checked_in=checked_in,
    )


@denials_audited
def schedule_session(
    ctx: ServiceContext,
    *,
    actor: Actor,
    scheduled_at: datetime,
    status: str = "scheduled",
    episode_id: int | None = None,
    client_id: int | None = None,
) -> SessionView:
    """Add the episode's next session (numbered 1, 2, … in order of creation).

    Name the episode by ``client_id`` (the client's current episode) or by ``episode_id``.
    """
    require_staff(actor)
    if scheduled_at.tzinfo is None:
        raise InvalidInput("scheduled_at", "give a time with a time zone")
    if status not in STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(STATUSES)}")
    _not_in_the_future(ctx, scheduled_at, status, "scheduled_at")
    with unit_of_work(ctx) as session:
        episode = resolve_episode(session, actor, client_id=client_id, episode_id=episode_id)
        if episode.ended_at is not None:
            raise Conflict(f"episode {episode.id} has ended")
        last = (
            session.scalar(
                select(func.max(TherapySession.number)).where(
                    TherapySession.episode_id == episode.id
                )
            )
            or 0
        )
        row = TherapySession(
            episode_id=episode.id, number=last + 1, scheduled_at=scheduled_at, status=status
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:  # another request numbered the same session first
            raise Conflict("the session list changed meanwhile; please try again") from exc
        record(
            session,
            ctx,
            actor,
            "write",
            "therapy_session",
            row.id,
            {"op": "schedule", "episode_id": episode.id, "status": status},
        )
        if status in ("missed", "attended"):
            monitor.refresh_alerts(session, ctx, actor, episode)
        return session_view(row)


@denials_audited
def record_session(
    ctx: ServiceContext, *, actor: Actor, session_id: int, status: str
) -> SessionView:
    """Mark a session attended, missed or cancelled (or back to scheduled)."""
    require_staff(actor)
    if status not in STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(STATUSES)}, not {status!r}")
    with unit_of_work(ctx) as session:
        row = session.get(TherapySession, session_id)
        if row is None:
            raise NotFound(f"session {session_id} not found")
        episode = require_episode(session, actor, row.episode_id)
        _not_in_the_future(ctx, row.scheduled_at, status, "status")
        row.status = status
        record(
            session,
            ctx,
            actor,
            "write",
            "therapy_session",
            row.id,
            {"op": "record", "status": status},
        )
        monitor.refresh_alerts(session, ctx, actor, episode)
        return session_view(row)


@denials_audited
def list_sessions(ctx: ServiceContext, *, actor: Actor, episode_id: int) -> list[SessionView]:
    with unit_of_work(ctx) as session:
        episode = require_episode(session, actor, episode_id)
        rows = session.scalars(
            select(TherapySession)
            .where(TherapySession.episode_id == episode.id)
            .order_by(TherapySession.number)
        )
        views = [session_view(row) for row in rows]
        record(session, ctx, actor, "read", "episode", episode.id, {"what": "sessions"})
        return views
