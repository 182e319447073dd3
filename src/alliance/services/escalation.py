"""Risk alerts that wait too long: tell the supervisor and the admins (issue 11).

:func:`escalate_risk_alerts` runs as part of every ``alliance checkins send-due`` run (cron or
the in-app scheduler, :func:`alliance.services.delivery.send_due`). A risk alert still *open*
— not acknowledged — ``risk_escalation_hours`` (a clinic setting) after it was raised or
re-opened is escalated: the supervisor of the client's therapist and every active admin of the
clinic get one message each (:func:`alliance.notify.risk_escalation`: no client, therapist,
answer or score), and the alert is stamped ``escalated_at`` so the team page shows it.

Idempotent: an alert is claimed with a conditional ``UPDATE … SET escalated_at = now WHERE
escalated_at IS NULL`` before anything is sent, so two runs never escalate it twice; if every
message for it fails, the stamp is taken back so that the next run tries again. An alert that
re-opens (a new risk answer) is un-stamped by the monitoring and may be escalated again. With
no supervisor and no admin to tell, the alert is still stamped (and shown on the team page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alliance.notify import DeliveryFailed, Notifier, risk_escalation
from alliance.services.alerts import overdue
from alliance.services.authz import system_actor
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.unit import record, unit_of_work
from alliance.store.models import Alert, Clinic, Episode, StaffUser

RISK_KIND = "risk_reported"


@dataclass(frozen=True)
class EscalationReport:
    """How many risk alerts were escalated, and how many could not be (every message failed;
    they are tried again by the next run)."""

    escalated: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Claimed:
    alert_id: int
    clinic_id: int
    clinic: str
    hours: int
    recipients: tuple[str, ...]


def due_risk_alerts(session: Session, now: datetime) -> list[tuple[Alert, ClinicSettings]]:
    """Open risk alerts not yet escalated that have waited their clinic's hours."""
    rows = session.execute(
        select(Alert, Clinic.settings)
        .join(Clinic, Clinic.id == Alert.clinic_id)
        .where(
            Alert.kind == RISK_KIND,
            Alert.status == "open",
            Alert.escalated_at.is_(None),
        )
        .order_by(Alert.id)
    ).all()
    due = []
    for alert, raw in rows:
        settings = ClinicSettings.from_json(raw)
        if overdue(alert, settings.risk_escalation_hours, now):
            due.append((alert, settings))
    return due


def _recipients(session: Session, alert: Alert) -> tuple[str, ...]:
    """The supervisor of the client's therapist (if any, and active) and the active admins."""
    episode = session.get(Episode, alert.episode_id)
    therapist = session.get(StaffUser, episode.therapist_id) if episode else None
    people: list[StaffUser] = []
    if therapist is not None and therapist.supervisor_id is not None:
        supervisor = session.get(StaffUser, therapist.supervisor_id)
        if supervisor is not None and supervisor.active:
            people.append(supervisor)
    people.extend(
        session.scalars(
            select(StaffUser)
            .where(
                StaffUser.clinic_id == alert.clinic_id,
                StaffUser.role == "admin",
                StaffUser.active.is_(True),
            )
            .order_by(StaffUser.id)
        )
    )
    return tuple(dict.fromkeys(p.email for p in people))


def _claim(ctx: ServiceContext) -> list[_Claimed]:
    now = ctx.now()
    claimed: list[_Claimed] = []
    with unit_of_work(ctx) as session:
        for alert, settings in due_risk_alerts(session, now):
            won = session.execute(
                update(Alert)
                .where(
                    Alert.id == alert.id,
                    Alert.escalated_at.is_(None),
                    Alert.status == "open",
                )
                .values(escalated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(won, "rowcount", 0) != 1:
                continue  # another run took it, or it was acknowledged meanwhile
            recipients = _recipients(session, alert)
            clinic = session.get(Clinic, alert.clinic_id)
            claimed.append(
                _Claimed(
                    alert.id,
                    alert.clinic_id,
                    clinic.name if clinic else "Alliance",
                    settings.risk_escalation_hours,
                    recipients,
                )
            )
            record(
                session,
                ctx,
                system_actor(alert.clinic_id),
                "write",
                "alert",
                alert.id,
                {"op": "escalate", "client_id": alert.client_id, "recipients": len(recipients)},
                clinic_id=alert.clinic_id,
            )
    return claimed


def escalate_risk_alerts(ctx: ServiceContext, notifier: Notifier) -> EscalationReport:
    """Escalate every risk alert that waited too long (see the module docstring)."""
    claimed = _claim(ctx)
    base = ctx.settings.base_url.rstrip("/")
    released: list[_Claimed] = []
    for item in claimed:
        sent = 0
        # The alert's own protocol page (an id, no client details); the team page lists the rest.
        url = f"{base}/alerts/{item.alert_id}/protocol"
        for to in item.recipients:
            message = risk_escalation(
                clinic=item.clinic, url=url, team_url=f"{base}/team", hours=item.hours, to=to
            )
            try:
                notifier.send(message)
            except DeliveryFailed:
                continue
            sent += 1
        if item.recipients and sent == 0:
            released.append(item)  # nobody was told: the next run tries again
    if released:
        with unit_of_work(ctx) as session:
            for item in released:
                session.execute(
                    update(Alert)
                    .where(Alert.id == item.alert_id)
                    .values(escalated_at=None)
                    .execution_options(synchronize_session=False)
                )
                record(
                    session,
                    ctx,
                    system_actor(item.clinic_id),
                    "write",
                    "alert",
                    item.alert_id,
                    {"op": "escalate_failed", "recipients": len(item.recipients)},
                    clinic_id=item.clinic_id,
                )
    return EscalationReport(escalated=len(claimed) - len(released), failed=len(released))
