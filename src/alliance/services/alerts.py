"""Alerts on the therapist's desk: list them, acknowledge and resolve them with a note.

Alerts are *raised* only by the monitoring rules (see :mod:`alliance.services.monitor`); here
staff act on them: acknowledge one or several at once (from the caseload), resolve one, mark
one "discussed in supervision" (supervisors), and work through a risk alert's protocol
(:func:`risk_protocol`: the clinic's crisis contacts and a checklist; a risk alert closes only
with a follow-up note). Notes are encrypted at rest; every read and change is audited, one
audit event per alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select

from alliance.monitoring.alerts import desk_sort_key
from alliance.monitoring.concerns import CONCERN_TITLES, concern_of
from alliance.services.authz import Actor, require_alert, require_client, require_staff
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.errors import Conflict, InvalidInput
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import AlertView, RiskProtocolView
from alliance.store.crypto import FieldCipher
from alliance.store.encrypted import field_of
from alliance.store.models import Alert, Client, Clinic

ACK_FIELD = field_of(Alert.acknowledge_note_enc)
RESOLVE_FIELD = field_of(Alert.resolve_note_enc)
SUPERVISION_FIELD = field_of(Alert.supervision_note_enc)
MAX_NOTE = 4000
#: At most this many alerts are acknowledged in one go from the caseload.
MAX_BULK = 200

#: The risk protocol's checklist (our own wording of what a risk answer asks of a clinician;
#: see docs/monitoring.md): ids are stored with the alert when it is closed, the text is shown.
RISK_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("contacted", "Contacted the client today (or tried, and recorded how)."),
    (
        "asked",
        "Asked directly about thoughts of death, suicide or self-harm: how often, how "
        "strong, any plan, intent, access to means, past attempts.",
    ),
    (
        "safety_plan",
        "Agreed what helps the client stay safe and whom they can call, including "
        "the crisis contacts above.",
    ),
    (
        "escalated",
        "Involved the supervisor or the on-call clinician as the clinic's protocol "
        "requires (or took emergency steps if the client may be in immediate danger).",
    ),
    ("recorded", "Recorded what was found and agreed in the follow-up note below."),
)
CHECK_IDS = tuple(check_id for check_id, _text in RISK_CHECKLIST)


def stored_alert_key(alert: Alert | AlertView) -> tuple[int, int, int, int, int]:
    """:func:`alliance.monitoring.alerts.desk_sort_key` for a stored alert or its view."""
    return desk_sort_key(alert.status, alert.severity, alert.kind, alert.session_number, alert.id)


def _concern(alert: Alert) -> str:
    concern = (alert.evidence or {}).get("concern")
    if isinstance(concern, str) and concern:
        return concern
    # Stored before concerns existed: the kind says which, except for reliable deterioration,
    # raised urgent on an outcome measure and as a warning on an alliance one.
    hint = "outcome" if alert.severity == "urgent" else "alliance"
    return concern_of(alert.kind, hint)


def _signals(alert: Alert) -> tuple[dict[str, Any], ...]:
    listed = (alert.evidence or {}).get("signals")
    if isinstance(listed, list) and listed:
        return tuple(dict(s) for s in listed if isinstance(s, dict))
    return (
        {
            "kind": alert.kind,
            "severity": alert.severity,
            "session_number": alert.session_number,
            "reason": alert.reason,
            "next_step": alert.next_step,
            "instrument_id": (alert.evidence or {}).get("instrument_id"),
            "items": (alert.evidence or {}).get("items", []),
        },
    )


def alert_view(alert: Alert, cipher: FieldCipher) -> AlertView:
    concern = _concern(alert)
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
        concern=concern,
        title=CONCERN_TITLES.get(concern, alert.kind.replace("_", " ").capitalize()),
        signals=_signals(alert),
        supervised_by=alert.supervised_by,
        supervised_at=alert.supervised_at,
        supervision_note=cipher.decrypt_optional(
            alert.supervision_note_enc, field=SUPERVISION_FIELD
        ),
        escalated_at=alert.escalated_at,
        protocol_checks=tuple(alert.protocol_checks or ()),
    )


def is_risk(alert: Alert) -> bool:
    return _concern(alert) == "risk"


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
    checks: Sequence[str] = (),
) -> AlertView:
    """One place for the acknowledge/resolve steps: both refuse a resolved alert, stamp who and
    when, keep the note encrypted under its own field and audit the change. A risk alert is
    resolved only with a follow-up note (and keeps the protocol steps ticked)."""
    require_staff(actor)
    text = _note(note)
    ticked = _checks(checks)
    with unit_of_work(ctx) as session:
        alert = require_alert(session, actor, alert_id)
        if alert.status == "resolved":
            raise Conflict(f"alert {alert_id} is already resolved")
        if op == "resolve" and is_risk(alert) and text is None:
            raise InvalidInput(
                "note",
                "a risk alert is closed with a follow-up note: write what you found and "
                "agreed with the client",
            )
        now = ctx.now()
        if op == "acknowledge":
            _acknowledge(ctx, alert, actor, text, now)
        else:
            alert.status = "resolved"
            alert.resolved_by = actor.user_id
            alert.resolved_at = now
            alert.resolve_note_enc = ctx.cipher.encrypt_optional(text, field=RESOLVE_FIELD)
            if ticked or is_risk(alert):
                alert.protocol_checks = list(ticked)
        alert.updated_at = now
        record(
            session,
            ctx,
            actor,
            "write",
            "alert",
            alert.id,
            {
                "op": op,
                "client_id": alert.client_id,
                # Whether a note came with it, so the log shows a bare acknowledgement as one.
                "with_note": text is not None,
                **({"checks": list(ticked)} if ticked else {}),
            },
        )
        return alert_view(alert, ctx.cipher)


def _acknowledge(
    ctx: ServiceContext, alert: Alert, actor: Actor, text: str | None, now: datetime
) -> None:
    alert.status = "acknowledged"
    alert.acknowledged_by = actor.user_id
    alert.acknowledged_at = now
    alert.acknowledge_note_enc = ctx.cipher.encrypt_optional(text, field=ACK_FIELD)


def _checks(checks: Sequence[str]) -> tuple[str, ...]:
    unknown = [c for c in checks if c not in CHECK_IDS]
    if unknown:
        raise InvalidInput("checks", f"unknown protocol step {unknown[0]!r}")
    return tuple(c for c in CHECK_IDS if c in checks)  # in the checklist's order, once each


@denials_audited
def acknowledge_alert(
    ctx: ServiceContext, *, actor: Actor, alert_id: int, note: str | None = None
) -> AlertView:
    """The therapist has seen the alert (and says what they will do, in an encrypted note)."""
    return _act_on_alert(ctx, actor, alert_id, note, "acknowledge")


@denials_audited
def acknowledge_alerts(
    ctx: ServiceContext, *, actor: Actor, alert_ids: Sequence[int], note: str | None = None
) -> list[AlertView]:
    """Acknowledge several open alerts at once (the caseload's "acknowledge selected"), with one
    note for all of them; one transaction, one audit event per alert.

    Every id must be an alert the actor may see (else nothing is changed); alerts that are no
    longer open (acknowledged or resolved meanwhile) are left as they are. Risk alerts are
    acknowledged one at a time, from their protocol page, so they are refused here."""
    require_staff(actor)
    text = _note(note)
    ids = list(dict.fromkeys(alert_ids))
    if not ids:
        raise InvalidInput("alert_ids", "choose at least one alert to acknowledge")
    if len(ids) > MAX_BULK:
        raise InvalidInput("alert_ids", f"at most {MAX_BULK} alerts at once")
    with unit_of_work(ctx) as session:
        found = [require_alert(session, actor, alert_id) for alert_id in ids]
        risky = [a.id for a in found if is_risk(a) and a.status == "open"]
        if risky:
            raise InvalidInput(
                "alert_ids",
                f"alert {risky[0]} is a risk alert: open its protocol page and acknowledge it "
                "there",
            )
        now = ctx.now()
        changed = []
        for alert in found:
            if alert.status != "open":
                continue
            _acknowledge(ctx, alert, actor, text, now)
            alert.updated_at = now
            record(
                session,
                ctx,
                actor,
                "write",
                "alert",
                alert.id,
                {
                    "op": "acknowledge",
                    "client_id": alert.client_id,
                    "bulk": True,
                    "with_note": text is not None,
                },
            )
            changed.append(alert)
        return [alert_view(a, ctx.cipher) for a in changed]


@denials_audited
def resolve_alert(
    ctx: ServiceContext,
    *,
    actor: Actor,
    alert_id: int,
    note: str | None = None,
    checks: Sequence[str] = (),
) -> AlertView:
    """Close the alert (with an encrypted note on how it was resolved). A risk alert needs the
    note (the follow-up: what was found and agreed); ``checks`` are the ids of the risk
    protocol's steps that were done (:data:`RISK_CHECKLIST`)."""
    return _act_on_alert(ctx, actor, alert_id, note, "resolve", checks)


@denials_audited
def mark_discussed_in_supervision(
    ctx: ServiceContext, *, actor: Actor, alert_id: int, note: str
) -> AlertView:
    """A supervisor records that the alert was discussed in supervision, with a note (what was
    agreed). Any status; marking again replaces the note and the time. Audited."""
    require_staff(actor, "supervisor")
    text = _note(note)
    if text is None:
        raise InvalidInput("note", "say what was discussed or agreed in supervision")
    with unit_of_work(ctx) as session:
        alert = require_alert(session, actor, alert_id)
        alert.supervised_by = actor.user_id
        alert.supervised_at = ctx.now()
        alert.supervision_note_enc = ctx.cipher.encrypt(text, field=SUPERVISION_FIELD)
        record(
            session,
            ctx,
            actor,
            "write",
            "alert",
            alert.id,
            {"op": "supervision", "client_id": alert.client_id},
        )
        return alert_view(alert, ctx.cipher)


def waiting_since(alert: Alert | AlertView) -> datetime:
    """Since when an open alert has waited for someone: it was raised, or re-opened after
    its last acknowledgement or resolution (a re-opened alert counts from that, the earliest
    it can have been re-opened, so it is never escalated later than it should be)."""
    handled = [t for t in (alert.acknowledged_at, alert.resolved_at) if t is not None]
    return max([alert.created_at, *handled])


def overdue(alert: Alert | AlertView, hours: int, now: datetime) -> bool:
    """An open risk alert that has waited ``hours`` or more for an acknowledgement."""
    return alert.status == "open" and now - _aware(waiting_since(alert)) >= timedelta(hours=hours)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@denials_audited
def risk_protocol(ctx: ServiceContext, *, actor: Actor, alert_id: int) -> RiskProtocolView:
    """A risk alert's protocol page: the alert, the clinic's crisis contacts, the checklist.
    Audited as a read of the alert. Another kind of alert is refused (it has no protocol)."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        alert = require_alert(session, actor, alert_id)
        if not is_risk(alert):
            raise InvalidInput("alert", f"alert {alert_id} is not a risk alert")
        clinic = session.get(Clinic, alert.clinic_id)
        client = session.get(Client, alert.client_id)
        settings = ClinicSettings.from_json(clinic.settings if clinic else None)
        record(
            session,
            ctx,
            actor,
            "read",
            "alert",
            alert.id,
            {"client_id": alert.client_id, "what": "risk protocol"},
        )
        return RiskProtocolView(
            alert=alert_view(alert, ctx.cipher),
            client_name=client.display_name if client else "",
            contacts=tuple((c.name, c.phone, c.tel) for c in settings.crisis_contacts),
            checklist=RISK_CHECKLIST,
            escalation_hours=settings.risk_escalation_hours,
            overdue=overdue(alert, settings.risk_escalation_hours, ctx.now()),
        )
