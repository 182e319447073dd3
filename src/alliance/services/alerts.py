"""Alerts on the therapist's desk: list them, acknowledge and resolve them with a note.

Alerts are *raised* only by the monitoring rules (see :mod:`alliance.services.monitor`); here
staff act on them. Notes are encrypted at rest; every read and change is audited.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select

from alliance.monitoring.alerts import desk_sort_key
from alliance.services.authz import Actor, require_alert, require_client, require_staff
from alliance.services.context import ServiceContext
from alliance.services.errors import Conflict, InvalidInput
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import AlertView
from alliance.store.crypto import FieldCipher
from alliance.store.encrypted import field_of
from alliance.store.models import Alert

ACK_FIELD = field_of(Alert.acknowledge_note_enc)
RESOLVE_FIELD = field_of(Alert.resolve_note_enc)
MAX_NOTE = 4000


def stored_alert_key(alert: Alert | AlertView) -> tuple[int, int, int, int, int]:
    """:func:`alliance.monitoring.alerts.desk_sort_key` for a stored alert or its view."""
    return desk_sort_key(alert.status, alert.severity, alert.kind, alert.session_number, alert.id)


def alert_view(alert: Alert, cipher: FieldCipher) -> AlertView:
    return AlertView(
        id=alert.id,
        client_id=alert.client_id,
        episode_id=alert.episode_id,
        kind=alert.kind,
        severity=alert.severity,
        session_number=alert.session_number,
        reason=alert.reason,
        next_step=alert.next_step,
        evidence=dict(alert.evidence),
        status=alert.status,
        created_at=alert.created_at,
        updated_at=alert.updated_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        acknowledge_note=cipher.decrypt_optional(alert.acknowledge_note_enc, field=ACK_FIELD),
        resolved_by=alert.resolved_by,
        resolved_at=alert.resolved_at,
        resolve_note=cipher.decrypt_optional(alert.resolve_note_enc, field=RESOLVE_FIELD),
    )


def _note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise InvalidInput("note", f"at most {MAX_NOTE} characters")
    return text or None


@denials_audited
def get_alert(ctx: ServiceContext, *, actor: Actor, alert_id: int) -> AlertView:
    with unit_of_work(ctx) as session:
        alert = require_alert(session, actor, alert_id)
        record(session, ctx, actor, "read", "alert", alert.id, {"client_id": alert.client_id})
        return alert_view(alert, ctx.cipher)


@denials_audited
def list_client_alerts(
    ctx: ServiceContext, *, actor: Actor, client_id: int, include_resolved: bool = True
) -> list[AlertView]:
    """A client's alerts (from the episodes the actor may see), most urgent first."""
    from alliance.services.authz import can_see_episode
    from alliance.store.models import Episode

    with unit_of_work(ctx) as session:
        client = require_client(session, actor, client_id)
        query = select(Alert).where(Alert.client_id == client.id)
        if not include_resolved:
            query = query.where(Alert.status != "resolved")
        rows = [
            a
            for a in session.scalars(query)
            if (episode := session.get(Episode, a.episode_id)) is not None
            and can_see_episode(session, actor, episode, client)
        ]
        rows.sort(key=stored_alert_key)
        record(
            session, ctx, actor, "read", "client", client.id, {"what": "alerts", "count": len(rows)}
        )
        return [alert_view(a, ctx.cipher) for a in rows]


def _act_on_alert(
    ctx: ServiceContext,
    actor: Actor,
    alert_id: int,
    note: str | None,
    op: Literal["acknowledge", "resolve"],
) -> AlertView:
    """One place for the acknowledge/resolve steps: both refuse a resolved alert, stamp who and
    when, keep the note encrypted under its own field and audit the change."""
    require_staff(actor)
    text = _note(note)
    with unit_of_work(ctx) as session:
        alert = require_alert(session, actor, alert_id)
        if alert.status == "resolved":
            raise Conflict(f"alert {alert_id} is already resolved")
        now = ctx.now()
        if op == "acknowledge":
            alert.status = "acknowledged"
            alert.acknowledged_by = actor.user_id
            alert.acknowledged_at = now
            alert.acknowledge_note_enc = ctx.cipher.encrypt_optional(text, field=ACK_FIELD)
        else:
            alert.status = "resolved"
            alert.resolved_by = actor.user_id
            alert.resolved_at = now
            alert.resolve_note_enc = ctx.cipher.encrypt_optional(text, field=RESOLVE_FIELD)
        alert.updated_at = now
        record(
            session,
            ctx,
            actor,
            "write",
            "alert",
            alert.id,
            # Whether a note came with it, so the log shows a bare acknowledgement as one.
            {"op": op, "client_id": alert.client_id, "with_note": text is not None},
        )
        return alert_view(alert, ctx.cipher)


@denials_audited
def acknowledge_alert(
    ctx: ServiceContext, *, actor: Actor, alert_id: int, note: str | None = None
) -> AlertView:
    """The therapist has seen the alert (and says what they will do, in an encrypted note)."""
    return _act_on_alert(ctx, actor, alert_id, note, "acknowledge")


@denials_audited
def resolve_alert(
    ctx: ServiceContext, *, actor: Actor, alert_id: int, note: str | None = None
) -> AlertView:
    """Close the alert (with an encrypted note on how it was resolved)."""
    return _act_on_alert(ctx, actor, alert_id, note, "resolve")
