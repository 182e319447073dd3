"""Check-in links that reach clients without anyone having to remember (issue 10, delivery).

:func:`send_due` is one run of ``alliance checkins send-due`` (cron) or one tick of the in-app
scheduler; both call it, so they behave the same. A run has two steps:

1. **Plan** (one transaction): cancel queued messages whose check-in was completed or whose
   link expired first; queue an invitation, with a new check-in link, for every session that is
   due under its clinic's :class:`~alliance.services.clinic_settings.DeliverySettings` (recorded
   as attended, or the next one starting within ``hours_before``) and has no check-in yet; queue
   one reminder for a link sent ``reminder_hours`` ago and not used. A client with no e-mail
   address, or who opted out, gets a ``skipped`` row saying why instead. ``dedupe_key`` is
   unique, and on PostgreSQL planning holds a transaction-level advisory lock, so two runs never
   queue the same session twice.
2. **Deliver**: claim a batch of due rows with a conditional ``UPDATE … SET status='sending',
   claimed_by=<run> WHERE status='queued'`` (``FOR UPDATE SKIP LOCKED`` first on PostgreSQL);
   only rows this run claimed are sent, so with two runs or two workers no message goes out
   twice. Each result is written back: sent; queued again with exponential back-off
   (:func:`alliance.notify.retry_delay`); or failed with the reason after
   ``settings.delivery_max_attempts`` (or at once when the server refuses the address for
   good). A run that died after claiming leaves rows in ``sending``; after
   :data:`STALE_CLAIM` another run takes them again (the one case where a client could get a
   message twice: delivery is at least once, never silently lost).

Each run then escalates risk alerts left unacknowledged too long
(:func:`alliance.services.escalation.escalate_risk_alerts`).

The messages hold only the clinic's name, a neutral sentence and the link
(:mod:`alliance.notify`). "Opened" and "completed" are read from the check-in row, which the
link's own pages keep up to date, so this module never touches the submission path.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, insert, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from alliance.measures.plan import MeasurementPlan
from alliance.notify import (
    DeliveryFailed,
    Message,
    Notifier,
    checkin_invitation,
    checkin_reminder,
    retry_delay,
)
from alliance.services.auth import hash_secret
from alliance.services.authz import (
    Actor,
    require_client,
    require_staff,
    system_actor,
    visible_therapist_ids,
)
from alliance.services.checkins import checkin_url
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.escalation import escalate_risk_alerts
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.store.db import is_sqlite
from alliance.store.encrypted import field_of
from alliance.store.models import (
    CheckIn,
    Client,
    Clinic,
    Episode,
    OutboxMessage,
    StaffUser,
    TherapySession,
)

logger = logging.getLogger(__name__)
CONTACT_FIELD = field_of(Client.contact_email_enc)
TOKEN_FIELD = field_of(OutboxMessage.link_token_enc)
#: A claim older than this belongs to a run that died; another run may take the row again.
STALE_CLAIM = timedelta(minutes=15)
#: Rows claimed and sent per transaction pair.
BATCH = 500
#: Statuses as stored. ``opened``/``completed``/``retrying`` are only shown (see OutboxView).
STATUSES = ("queued", "sending", "sent", "failed", "skipped", "cancelled")
SHOWN_STATUSES = (
    "queued",
    "retrying",
    "sending",
    "sent",
    "opened",
    "completed",
    "failed",
    "skipped",
    "cancelled",
)
NO_ADDRESS = "no e-mail address on file"
OPTED_OUT = "the client opted out of check-in e-mails"
# Any constant shared by every worker: planning on PostgreSQL serialises on it.
_PLAN_LOCK = 0x616C6C79


@dataclass(frozen=True)
class SendDueReport:
    """What one run did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    queued: int = 0
    reminders: int = 0
    skipped: int = 0
    cancelled: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    due: int = 0  # dry run: messages that would be sent now
    reasons: dict[str, int] = field(default_factory=dict)
    escalated: int = 0  # risk alerts escalated to supervisors and admins (services.escalation)
    escalation_failed: int = 0

    def line(self) -> str:
        if self.dry_run:
            return (
                f"dry run: would queue {self.queued} invitation(s) and {self.reminders} "
                f"reminder(s), skip {self.skipped}, cancel {self.cancelled}, and send "
                f"{self.due} message(s) now; nothing was written or sent"
            )
        line = (
            f"queued {self.queued} invitation(s) and {self.reminders} reminder(s), skipped "
            f"{self.skipped}, cancelled {self.cancelled}; sent {self.sent}, retrying "
            f"{self.retrying}, failed {self.failed}"
        )
        if self.escalated or self.escalation_failed:
            line += f"; escalated {self.escalated} risk alert(s) to supervisors and admins" + (
                f", {self.escalation_failed} to retry" if self.escalation_failed else ""
            )
        return line


@dataclass
class _Tally:
    """The counts of a run while it runs; :meth:`report` freezes them."""

    dry_run: bool = False
    queued: int = 0
    reminders: int = 0
    skipped: int = 0
    cancelled: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    due: int = 0  # dry run: messages that would be sent now
    reasons: dict[str, int] = field(default_factory=dict)
    escalated: int = 0
    escalation_failed: int = 0

    def report(self) -> SendDueReport:
        return SendDueReport(**{**vars(self), "reasons": dict(self.reasons)})


@dataclass(frozen=True)
class OutboxView:
    id: int
    client_id: int
    client_name: str
    therapist_name: str
    session_number: int | None
    kind: str
    status: str  # one of SHOWN_STATUSES
    reason: str | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    opened_at: datetime | None
    completed_at: datetime | None


def _shown_status(row: OutboxMessage, checkin: CheckIn | None) -> str:
    if checkin is not None and row.status == "sent":
        if checkin.completed_at is not None:
            return "completed"
        if checkin.opened_at is not None:
            return "opened"
    if row.status == "queued" and row.attempts > 0:
        return "retrying"
    return row.status


# --- planning ---------------------------------------------------------------------------------


@contextmanager
def _planning(ctx: ServiceContext, *, dry_run: bool) -> Iterator[Session]:
    """The plan's transaction: committed normally, rolled back for a dry run."""
    if not dry_run:
        with unit_of_work(ctx) as session:
            yield session
        return
    session = ctx.session_factory()
    try:
        session.begin()
        yield session
    finally:
        session.rollback()
        session.close()


def _plan(session: Session, ctx: ServiceContext, report: _Tally) -> None:
    if not is_sqlite(session):
        # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs a lock so two
        # runs do not both queue the same session (the unique dedupe_key would catch it, but
        # by failing the second run's whole plan).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PLAN_LOCK})
    now = ctx.now()
    _cancel_stale(session, now, report)
    link_life = timedelta(days=ctx.settings.checkin_link_days)
    for clinic in session.scalars(select(Clinic).order_by(Clinic.id)):
        settings = ClinicSettings.from_json(clinic.settings)
        plan = settings.delivery
        if plan.send == "off":
            continue
        _queue_invitations(
            session, ctx, clinic, settings.plan(), plan.send, plan.hours_before, link_life, report
        )
        if plan.reminder_hours > 0:
            _queue_reminders(session, clinic, timedelta(hours=plan.reminder_hours), now, report)
    session.flush()


def _cancel_stale(session: Session, now: datetime, report: _Tally) -> None:
    """Queued messages whose check-in was done (e.g. in the room) or expired are not sent."""
    for reason, condition in (
        ("the check-in was completed before sending", CheckIn.completed_at.is_not(None)),
        ("the link expired before it could be sent", CheckIn.expires_at <= now),
    ):
        stale = select(CheckIn.id).where(condition).scalar_subquery()
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "queued", OutboxMessage.checkin_id.in_(stale))
            .values(status="cancelled", reason=reason, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        report.cancelled += int(getattr(result, "rowcount", 0) or 0)


def _queue_invitations(
    session: Session,
    ctx: ServiceContext,
    clinic: Clinic,
    clinic_plan: MeasurementPlan,
    when: str,
    hours_before: int,
    link_life: timedelta,
    report: _Tally,
) -> None:
    now = ctx.now()
    if when == "after_attended":
        # An attended session older than a link's life is not worth a link any more (and
        # turning sending on must not e-mail every client about last year's sessions).
        due = and_(
            TherapySession.status == "attended",
            TherapySession.scheduled_at <= now,
            TherapySession.scheduled_at > now - link_life,
        )
    else:
        due = and_(
            TherapySession.status == "scheduled",
            TherapySession.scheduled_at > now,
            TherapySession.scheduled_at <= now + timedelta(hours=hours_before),
        )
    rows = session.execute(
        select(
            TherapySession.id,
            Episode.id,
            Episode.instruments,
            Client.id,
            Client.contact_email_enc,
            Client.checkin_emails_opt_out,
            TherapySession.number,
            Episode.plan,
            exists().where(CheckIn.episode_id == Episode.id, CheckIn.completed_at.is_not(None)),
        )
        .join(Episode, Episode.id == TherapySession.episode_id)
        .join(Client, Client.id == Episode.client_id)
        .where(
            Client.clinic_id == clinic.id,
            Episode.ended_at.is_(None),
            due,
            ~exists().where(CheckIn.session_id == TherapySession.id),
            ~exists().where(
                OutboxMessage.session_id == TherapySession.id,
                OutboxMessage.kind == "invitation",
            ),
        )
        .order_by(TherapySession.id)
    ).all()
    # Core multi-row INSERTs: at ten thousand due sessions, ORM objects were most of the time.
    new_checkins: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    tokens: dict[int, str] = {}
    # Episodes with their own cadences are few; their overlaid plans are built once each.
    overlaid: dict[str, MeasurementPlan] = {}
    for row in rows:
        session_id, episode_id, instruments, client_id, email_enc, opted_out = row[:6]
        number, own, started = row[6:]
        plan = clinic_plan
        if own:
            key = json.dumps(own, sort_keys=True)
            if key not in overlaid:
                overlaid[key] = clinic_plan.overlay(MeasurementPlan.model_validate(own))
            plan = overlaid[key]
        first = not started
        asked = plan.due(instruments, number, first=first, final=False)
        base = {
            "clinic_id": clinic.id,
            "client_id": client_id,
            "episode_id": episode_id,
            "session_id": session_id,
            "kind": "invitation",
            "channel": "email",
            "dedupe_key": f"invitation:session:{session_id}",
            "attempts": 0,
            "created_at": now,
        }
        reason = OPTED_OUT if opted_out else NO_ADDRESS if not email_enc else None
        if reason is None and not instruments:
            reason = "the episode has no questionnaires"
        if reason is None and not asked:
            reason = "the measurement plan asks nothing at this session"
        if reason is not None:
            messages.append({**base, "status": "skipped", "reason": reason})
            report.skipped += 1
            continue
        token = secrets.token_urlsafe(32)
        tokens[session_id] = token
        new_checkins.append(
            {
                "episode_id": episode_id,
                "session_id": session_id,
                "instruments": list(asked),
                "rate_goals": plan.goals_due(number, first=first, final=False),
                "token_hash": hash_secret(token),
                "created_by": None,
                "created_at": now,
                "expires_at": now + link_life,
                "sent_via": "email",
            }
        )
        messages.append({**base, "status": "queued", "next_attempt_at": now})
    checkin_ids: dict[int, int] = {}
    if new_checkins:
        # Matched by session id (one new link per session here), not by parameter order:
        # asking for that order makes SQLite insert one row per statement.
        inserted = session.execute(
            insert(CheckIn).returning(CheckIn.session_id, CheckIn.id), new_checkins
        )
        checkin_ids = {row.session_id: row.id for row in inserted}
    for message in messages:
        if message["status"] == "queued":
            sid = message["session_id"]
            message["checkin_id"] = checkin_ids[sid]
            message["link_token_enc"] = ctx.cipher.encrypt(tokens[sid], field=TOKEN_FIELD)
    if messages:
        session.execute(insert(OutboxMessage), messages)
    report.queued += len(new_checkins)


def _queue_reminders(
    session: Session, clinic: Clinic, after: timedelta, now: datetime, report: _Tally
) -> None:
    reminder = aliased(OutboxMessage)
    rows = session.execute(
        select(OutboxMessage, Client)
        .join(CheckIn, CheckIn.id == OutboxMessage.checkin_id)
        .join(Client, Client.id == OutboxMessage.client_id)
        .where(
            OutboxMessage.clinic_id == clinic.id,
            OutboxMessage.kind == "invitation",
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at <= now - after,
            CheckIn.completed_at.is_(None),
            CheckIn.expires_at > now,
            ~exists().where(
                reminder.checkin_id == OutboxMessage.checkin_id, reminder.kind == "reminder"
            ),
        )
    ).all()
    for invitation, client in rows:
        row = OutboxMessage(
            clinic_id=invitation.clinic_id,
            client_id=invitation.client_id,
            episode_id=invitation.episode_id,
            session_id=invitation.session_id,
            checkin_id=invitation.checkin_id,
            kind="reminder",
            channel="email",
            dedupe_key=f"reminder:{invitation.checkin_id}",
            status="queued",
            attempts=0,
            next_attempt_at=now,
            link_token_enc=invitation.link_token_enc,
            created_at=now,
        )
        if client.checkin_emails_opt_out:
            row.status, row.reason, row.next_attempt_at = "skipped", OPTED_OUT, None
            row.link_token_enc = None
            report.skipped += 1
        else:
            report.reminders += 1
        session.add(row)


def _why_not(ctx: ServiceContext, client: Client) -> str | None:
    if client.checkin_emails_opt_out:
        return OPTED_OUT
    if not client.contact_email_enc:
        return NO_ADDRESS
    return None


def _row(
    clinic_id: int,
    episode: Episode,
    client: Client,
    session_id: int | None,
    checkin_id: int | None,
    kind: str,
    *,
    now: datetime,
    status: str = "queued",
    reason: str | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    return OutboxMessage(
        clinic_id=clinic_id,
        client_id=client.id,
        episode_id=episode.id,
        session_id=session_id,
        checkin_id=checkin_id,
        kind=kind,
        channel="email",
        dedupe_key=dedupe_key or f"invitation:session:{session_id}",
        status=status,
        reason=reason,
        attempts=0,
        next_attempt_at=now if status == "queued" else None,
        created_at=now,
    )


# --- delivering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    attempts: int
    clinic: str
    to: str | None
    opted_out: bool
    url: str
    expires_at: datetime


def _pick(session: Session, claimable: Any) -> list[int]:
    """Ids a run may try to claim. On PostgreSQL rows another run is claiming are skipped
    (``FOR UPDATE SKIP LOCKED``), so two runs take different rows instead of waiting."""
    pick = select(OutboxMessage.id).where(claimable).order_by(OutboxMessage.id).limit(BATCH)
    if not is_sqlite(session):
        pick = pick.with_for_update(skip_locked=True)
    return list(session.scalars(pick))


def _claim(ctx: ServiceContext, run_id: str) -> list[_Claimed]:
    now = ctx.now()
    with unit_of_work(ctx) as session:
        claimable = or_(
            and_(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - STALE_CLAIM),
        )
        ids = _pick(session, claimable)
        if not ids:
            return []
        # The guarantee: a row moves to this run only if it is still claimable now.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), claimable)
            .values(
                status="sending",
                claimed_by=run_id,
                claimed_at=now,
                attempts=OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(OutboxMessage, Client, Clinic.name, CheckIn.expires_at)
            .join(Client, Client.id == OutboxMessage.client_id)
            .join(Clinic, Clinic.id == OutboxMessage.clinic_id)
            .join(CheckIn, CheckIn.id == OutboxMessage.checkin_id)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == run_id)
            .order_by(OutboxMessage.id)
        ).all()
        claimed: list[_Claimed] = []
        for row, client, clinic_name, expires_at in rows:
            token = ctx.cipher.decrypt(row.link_token_enc or "", field=TOKEN_FIELD)
            claimed.append(
                _Claimed(
                    id=row.id,
                    kind=row.kind,
                    attempts=row.attempts,
                    clinic=clinic_name,
                    to=ctx.cipher.decrypt_optional(client.contact_email_enc, field=CONTACT_FIELD),
                    opted_out=bool(client.checkin_emails_opt_out),
                    url=checkin_url(ctx.settings.base_url, token),
                    expires_at=expires_at,
                )
            )
        return claimed


def compose(kind: str, *, clinic: str, url: str, expires_at: datetime, to: str) -> Message:
    """The message of ``kind`` (invitation or reminder): clinic name, neutral text, link."""
    make = checkin_reminder if kind == "reminder" else checkin_invitation
    return make(clinic=clinic, url=url, expires_at=expires_at, to=to)


def _hand_over(notifier: Notifier, message: Message) -> DeliveryFailed | None:
    """Send one message: ``None`` when the notifier took it, else why not (never raises a
    delivery failure, so a pool of these runs every message of a batch)."""
    try:
        notifier.send(message)
    except DeliveryFailed as exc:
        return exc
    return None


def _deliver(
    ctx: ServiceContext,
    notifier: Notifier,
    claimed: list[_Claimed],
    report: _Tally,
    pool: ThreadPoolExecutor | None = None,
) -> None:
    outcomes: list[tuple[int, dict[str, Any]]] = []
    sendable: list[tuple[_Claimed, Message]] = []
    for item in claimed:
        if item.opted_out or not item.to:
            reason = OPTED_OUT if item.opted_out else NO_ADDRESS
            outcomes.append((item.id, {"status": "skipped", "reason": reason}))
            report.skipped += 1
            continue
        message = compose(
            item.kind, clinic=item.clinic, url=item.url, expires_at=item.expires_at, to=item.to
        )
        sendable.append((item, message))
    # Handing a message to a mail server is mostly waiting for its replies: several
    # connections at once keep the server busy while each waits (results stay in order).
    messages = [message for _, message in sendable]
    if pool is None:
        results = [_hand_over(notifier, message) for message in messages]
    else:
        results = list(pool.map(functools.partial(_hand_over, notifier), messages))
    for (item, _), failure in zip(sendable, results, strict=True):
        if failure is None:
            outcomes.append((item.id, {"status": "sent", "reason": None, "sent_at": ctx.now()}))
            report.sent += 1
        elif failure.permanent or item.attempts >= ctx.settings.delivery_max_attempts:
            outcomes.append((item.id, {"status": "failed", "reason": failure.reason}))
            report.failed += 1
        else:
            wait = retry_delay(
                item.attempts, base=timedelta(minutes=ctx.settings.delivery_retry_minutes)
            )
            outcomes.append(
                (
                    item.id,
                    {
                        "status": "queued",
                        "reason": failure.reason,
                        "next_attempt_at": ctx.now() + wait,
                    },
                )
            )
            report.retrying += 1
    with unit_of_work(ctx) as session:
        # One executemany UPDATE by primary key for the whole batch.
        session.execute(
            update(OutboxMessage),
            [
                {
                    "id": row_id,
                    "status": values["status"],
                    "reason": values.get("reason"),
                    "next_attempt_at": values.get("next_attempt_at"),
                    "sent_at": values.get("sent_at"),
                    "claimed_by": None,
                    "claimed_at": None,
                }
                for row_id, values in outcomes
            ],
        )
        record(
            session,
            ctx,
            system_actor(),
            "write",
            "outbox",
            None,
            {
                "op": "deliver",
                "sent": sum(1 for _, v in outcomes if v["status"] == "sent"),
                "retrying": sum(1 for _, v in outcomes if v["status"] == "queued"),
                "failed": sum(1 for _, v in outcomes if v["status"] == "failed"),
                "skipped": sum(1 for _, v in outcomes if v["status"] == "skipped"),
            },
        )


def send_due(
    ctx: ServiceContext, *, notifier: Notifier | None, dry_run: bool = False
) -> SendDueReport:
    """Plan and send every message that is due now (see the module docstring).

    With ``dry_run`` nothing is written or sent and ``notifier`` may be None: the report
    counts what a real run would queue, skip, cancel and send."""
    report = _Tally(dry_run=dry_run)
    with _planning(ctx, dry_run=dry_run) as session:
        _plan(session, ctx, report)
        if dry_run:
            report.due = len(
                list(
                    session.scalars(
                        select(OutboxMessage.id).where(
                            OutboxMessage.status == "queued",
                            OutboxMessage.next_attempt_at <= ctx.now(),
                        )
                    )
                )
            )
        else:
            record(
                session,
                ctx,
                system_actor(),
                "write",
                "outbox",
                None,
                {
                    "op": "plan",
                    "queued": report.queued,
                    "reminders": report.reminders,
                    "skipped": report.skipped,
                    "cancelled": report.cancelled,
                },
            )
    if dry_run:
        return report.report()
    if notifier is None:
        raise ValueError("a notifier is needed unless dry_run")
    run_id = uuid.uuid4().hex
    workers = max(1, notifier.concurrency)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="send-due") if workers > 1 else None
    try:
        while claimed := _claim(ctx, run_id):
            _deliver(ctx, notifier, claimed, report, pool)
        # The same run tells supervisors and admins about risk alerts left unacknowledged.
        escalation = escalate_risk_alerts(ctx, notifier)
        report.escalated, report.escalation_failed = escalation.escalated, escalation.failed
    finally:
        if pool is not None:
            pool.shutdown()
        notifier.close()
    return report.report()


# --- staff functions --------------------------------------------------------------------------


@denials_audited
def list_outbox(
    ctx: ServiceContext, *, actor: Actor, status: str | None = None, limit: int = 200
) -> list[OutboxView]:
    """The newest messages to the clients the actor sees (a therapist: their own; a supervisor:
    their team's; an admin: the clinic's), optionally of one shown status (audited read)."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        query = (
            select(OutboxMessage, Client.display_name, StaffUser.display_name, CheckIn)
            .join(Client, Client.id == OutboxMessage.client_id)
            .join(Episode, Episode.id == OutboxMessage.episode_id)
            .join(StaffUser, StaffUser.id == Episode.therapist_id)
            .outerjoin(CheckIn, CheckIn.id == OutboxMessage.checkin_id)
            .where(OutboxMessage.clinic_id == actor.clinic_id)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        )
        therapists = visible_therapist_ids(session, actor)
        if therapists is not None:
            query = query.where(Episode.therapist_id.in_(therapists))
        session_numbers = select(TherapySession.id, TherapySession.number).where(
            TherapySession.id.in_(
                select(OutboxMessage.session_id).where(OutboxMessage.clinic_id == actor.clinic_id)
            )
        )
        numbers: dict[int, int] = {row.id: row.number for row in session.execute(session_numbers)}
        views: list[OutboxView] = []
        # Filter on the shown status in Python: "opened"/"completed" come from the check-in.
        for row, client_name, therapist_name, checkin in session.execute(query):
            shown = _shown_status(row, checkin)
            if status and shown != status:
                continue
            views.append(
                OutboxView(
                    id=row.id,
                    client_id=row.client_id,
                    client_name=client_name,
                    therapist_name=therapist_name,
                    session_number=numbers.get(row.session_id) if row.session_id else None,
                    kind=row.kind,
                    status=shown,
                    reason=row.reason,
                    attempts=row.attempts,
                    created_at=row.created_at,
                    sent_at=row.sent_at,
                    next_attempt_at=row.next_attempt_at,
                    opened_at=checkin.opened_at if checkin else None,
                    completed_at=checkin.completed_at if checkin else None,
                )
            )
            if len(views) >= limit:
                break
        record(session, ctx, actor, "read", "outbox", None, {"status": status, "n": len(views)})
        return views


@denials_audited
def set_checkin_email_opt_out(
    ctx: ServiceContext, *, actor: Actor, client_id: int, opted_out: bool
) -> bool:
    """Record that the client does (not) want check-in links by e-mail (audited). Messages
    already queued are skipped when their turn comes."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        client = require_client(session, actor, client_id)
        before = bool(client.checkin_emails_opt_out)
        client.checkin_emails_opt_out = opted_out
        record(
            session,
            ctx,
            actor,
            "write",
            "client",
            client.id,
            {"op": "checkin_emails", "opted_out": opted_out, "was": before},
        )
        return opted_out


def email_link_now(
    ctx: ServiceContext, notifier: Notifier, *, actor: Actor, checkin_id: int, token: str
) -> OutboxView:
    """E-mail a link a therapist has just created ("E-mail it" on the client page), through
    the outbox like every automatic message: the result is on the outbox page, and the link
    gets its reminder like the others. Never raises for a delivery failure: the view's status
    and reason say what happened (failed, or skipped for a client who opted out)."""
    require_staff(actor)
    now = ctx.now()
    with unit_of_work(ctx) as session:
        checkin = session.get(CheckIn, checkin_id)
        episode = session.get(Episode, checkin.episode_id) if checkin else None
        if checkin is None or episode is None:
            raise ValueError(f"check-in {checkin_id} not found")
        client = require_client(session, actor, episode.client_id)
        clinic = session.get(Clinic, client.clinic_id)
        assert clinic is not None
        row = _row(
            clinic.id,
            episode,
            client,
            checkin.session_id,
            checkin.id,
            "invitation",
            now=now,
            dedupe_key=f"invitation:checkin:{checkin.id}",
        )
        reason = _why_not(ctx, client)
        if reason is not None:
            row.status, row.reason, row.next_attempt_at = "skipped", reason, None
        else:
            # Claimed at once by this request, so a send-due run does not take it too.
            row.status, row.attempts = "sending", 1
            row.claimed_by, row.claimed_at = f"staff:{actor.user_id}", now
            row.link_token_enc = ctx.cipher.encrypt(token, field=TOKEN_FIELD)
        session.add(row)
        session.flush()
        record(session, ctx, actor, "write", "outbox", row.id, {"op": "email_link"})
        row_id, clinic_name, expires_at = row.id, clinic.name, checkin.expires_at
        to = ctx.cipher.decrypt_optional(client.contact_email_enc, field=CONTACT_FIELD)
    if reason is None and to:
        message = checkin_invitation(
            clinic=clinic_name,
            url=checkin_url(ctx.settings.base_url, token),
            expires_at=expires_at,
            to=to,
        )
        values: dict[str, Any] = {"status": "sent", "sent_at": ctx.now(), "reason": None}
        try:
            notifier.send(message)
        except DeliveryFailed as exc:
            # The therapist is looking at the link and can copy it: no retry behind their back.
            values = {"status": "failed", "reason": exc.reason}
        finally:
            notifier.close()
        with unit_of_work(ctx) as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id)
                .values(**values, claimed_by=None, claimed_at=None, next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
    (view,) = [v for v in list_outbox(ctx, actor=actor) if v.id == row_id]
    return view


class SendDueScheduler:
    """The optional in-app scheduler (``settings.delivery_scheduler``): a daemon thread that
    calls :func:`send_due` every ``interval`` seconds until :meth:`stop`. Each web worker may
    run one; the claims in :func:`send_due` keep them from sending anything twice. A failed
    run is logged and the next one tries again."""

    def __init__(
        self,
        ctx: ServiceContext,
        make_notifier: Callable[[], Notifier],
        *,
        interval: float,
    ) -> None:
        self.ctx = ctx
        self.make_notifier = make_notifier
        self.interval = interval
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="send-due", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = send_due(self.ctx, notifier=self.make_notifier())
                if report.sent or report.failed or report.queued:
                    logger.info("send-due: %s", report.line())
            except Exception:  # a bad run must not end the loop
                logger.exception("send-due run failed")
            self.runs += 1
            self._stop.wait(self.interval)
