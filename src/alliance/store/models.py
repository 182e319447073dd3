"""The database tables, as typed SQLAlchemy 2 ORM classes.

One class per table. Columns whose names end in ``_enc`` hold field-encrypted text (see
:mod:`alliance.store.crypto`), declared with :func:`~alliance.store.encrypted.encrypted_text`
(or :func:`~alliance.store.encrypted.encrypted_json` for encrypted values inside JSON), which
records the field name each is bound to in :mod:`alliance.store.encrypted`'s registry: the
services encrypt before writing and decrypt after reading, so nothing here knows a key.
Secrets that are only ever compared (session ids, link tokens, access tokens) are stored as
SHA-256 hex digests, never in the clear.

The schema itself is created by the Alembic migrations in ``alliance/store/migrations``; a test
checks that the migrations and these classes agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from alliance.store.encrypted import Location, encrypted_json, encrypted_text, registry

# Stable constraint names so migrations (and SQLite batch operations) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zone type and hands back naive values; this decorator stores naive UTC
    and always returns aware UTC, so comparisons in the services never mix the two.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite keeps text without an offset; store naive UTC so ordering stays lexical.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Clinic(Base):
    """A tenant. ``settings`` holds :class:`alliance.services.clinic_settings.ClinicSettings`."""

    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | supervisor | therapist
    password_hash: Mapped[str] = mapped_column(String(255))
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    totp_secret_enc: Mapped[str | None] = encrypted_text("staff_users.totp_secret")
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_counter: Mapped[int | None] = mapped_column(Integer)  # blocks code replay
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # An admin forced a password reset: the next sign-in must choose a new password first.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime]


class StaffSession(Base):
    """A server-side login session; ``id`` is the SHA-256 of the cookie value."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # logout | idle | absolute | inactive | deactivated | password | password-reset
    end_reason: Mapped[str | None] = mapped_column(String(20))


class AccessToken(Base):
    """A personal access token for scripts and EHR integration (stored hashed)."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Client(Base):
    """A client, known by a pseudonymous display name; contact e-mail is encrypted."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    contact_email_enc: Mapped[str | None] = encrypted_text("clients.contact_email")
    # The client asked not to be e-mailed check-in links (the therapist records it).
    checkin_emails_opt_out: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime]


class Episode(Base):
    """A care episode: which therapist works with which client, from when to when, why it ended."""

    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))
    instruments: Mapped[list[Any]] = mapped_column(default=list)
    # The episode's own cadences over the clinic's measurement plan (MeasurementPlan JSON);
    # None = the clinic's plan as it is.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class TherapySession(Base):
    __tablename__ = "therapy_sessions"
    __table_args__ = (UniqueConstraint("episode_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    scheduled_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))  # scheduled|attended|missed|cancelled


class CheckIn(Base):
    """One administration of one or more instruments to a client through a private link."""

    __tablename__ = "checkins"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("therapy_sessions.id"), index=True)
    instruments: Mapped[list[Any]] = mapped_column(default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    opened_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    sent_via: Mapped[str] = mapped_column(String(20), default="copy")  # copy | email
    # Whether the form asks the client to rate their goals (the plan's goals cadence).
    rate_goals: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Answers saved before sending (the client stops and comes back within the link's
    # life): JSON {"answers": {instrument: {linkId: value}}, "goals": {id: rating}},
    # encrypted whole; cleared when the check-in is submitted.
    draft_enc: Mapped[str | None] = encrypted_text("checkins.draft")
    draft_saved_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """One message to a client (a check-in link or its reminder) and what became of it.

    ``status``: queued → sending (claimed by one ``send-due`` run) → sent, or back to queued
    with ``next_attempt_at`` pushed back after a failure, or failed for good; skipped (no
    address, opted out) and cancelled (the check-in was done or expired first) carry the
    reason. Opened and completed are read from the check-in itself. ``dedupe_key`` makes a
    second message for the same session (or a second reminder) impossible, however many runs
    race. The link token is kept encrypted because the reminder and every retry need it.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("therapy_sessions.id"))
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # invitation | reminder
    channel: Mapped[str] = mapped_column(String(20))  # email
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_at: Mapped[datetime | None]
    link_token_enc: Mapped[str | None] = encrypted_text("outbox_messages.link_token")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Response(Base):
    """Answers to one instrument in one check-in; free-text answers are encrypted in place."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("checkin_id", "instrument_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkins.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(100))
    # A text item's answer is encrypted in place; numeric answers stay plain for scoring.
    answers: Mapped[dict[str, Any]] = encrypted_json("responses.{instrument_id}.{key}")
    created_at: Mapped[datetime]


class Score(Base):
    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), unique=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(100))
    session_number: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[float | None] = mapped_column(Float)
    subscales: Mapped[dict[str, Any]] = mapped_column(default=dict)
    band: Mapped[str | None] = mapped_column(String(100))
    valid: Mapped[bool] = mapped_column(Boolean)
    scored_at: Mapped[datetime]


class Goal(Base):
    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text_enc: Mapped[str] = encrypted_text("goals.text")
    agreed_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class GoalRating(Base):
    __tablename__ = "goal_ratings"
    __table_args__ = (UniqueConstraint("goal_id", "checkin_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id"), index=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkins.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    rated_at: Mapped[datetime]


class Alert(Base):
    """An alert raised by the monitoring rules; reason and evidence come from the rule."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_episode_kind", "episode_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    session_number: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    next_step: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|acknowledged|resolved
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    acknowledged_at: Mapped[datetime | None]
    acknowledge_note_enc: Mapped[str | None] = encrypted_text("alerts.acknowledge_note")
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    resolved_at: Mapped[datetime | None]
    resolve_note_enc: Mapped[str | None] = encrypted_text("alerts.resolve_note")
    # A supervisor's mark that the alert was discussed in supervision, with an encrypted note.
    supervised_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    supervised_at: Mapped[datetime | None]
    supervision_note_enc: Mapped[str | None] = encrypted_text("alerts.supervision_note")
    # A risk alert not acknowledged in time: when its supervisor and the admins were told
    # (set before sending, cleared again if sending failed, so a run never tells them twice).
    escalated_at: Mapped[datetime | None]
    # The risk protocol's checklist: the ids of the steps ticked when the alert was closed.
    protocol_checks: Mapped[list[str] | None] = mapped_column(JSON)


class AuditEvent(Base):
    """Append-only record of who did what to which record, and when (never clinical content).

    The migrations add triggers that refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # staff | client_link | system | anonymous
    actor_id: Mapped[int | None] = mapped_column(Integer)
    clinic_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(20))  # read|write|deny|login|logout|export|erase
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RateLimitBucket(Base):
    """Fixed-window request counters shared by every app worker."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)


class SessionTranscript(Base):
    """A session transcript attached by a therapist, with its analysis (issue 4).

    The transcript text and the analysis JSON (which quotes every utterance) are encrypted;
    ``indicators`` holds only numbers and labels (ratios, counts, the style) so that a
    supervisor's overview across sessions needs no decryption.
    """

    __tablename__ = "session_transcripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("therapy_sessions.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    uploaded_at: Mapped[datetime]
    filename: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(10))
    backend: Mapped[str] = mapped_column(String(10))
    schema_version: Mapped[str] = mapped_column(String(10))
    transcript_enc: Mapped[str] = encrypted_text("session_transcripts.transcript")
    analysis_enc: Mapped[str] = encrypted_text("session_transcripts.analysis")
    indicators: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ExportJob(Base):
    """A research export an admin asked for in the app, built in the background (issue 13).

    ``status``: queued → running (claimed by one worker, which keeps ``lease_until`` in the
    future while it works) → done (the file is under the data directory, encrypted, until
    ``expires_at``) or failed (``error`` says why, in words for the admin); a done job becomes
    expired or deleted when its file is removed. A running job whose lease ran out belongs to
    a worker that stopped: it is queued again, or failed once it has had its attempts.
    ``file_name`` is a bare name inside the exports folder, never a path given by a user.
    """

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_status", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    requested_at: Mapped[datetime]
    format: Mapped[str] = mapped_column(String(20))
    deidentified: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    started_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_count: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


def encrypted_columns() -> tuple[Location, ...]:
    """Every encrypted place of the app's schema (the matching tables included: importing any
    store module runs ``alliance.store``, which registers them on this metadata)."""
    return registry(Base.metadata)


__all__ = [
    "AccessToken",
    "Alert",
    "AuditEvent",
    "Base",
    "CheckIn",
    "Client",
    "Clinic",
    "Episode",
    "ExportJob",
    "Goal",
    "GoalRating",
    "OutboxMessage",
    "RateLimitBucket",
    "Response",
    "Score",
    "SessionTranscript",
    "StaffSession",
    "StaffUser",
    "TherapySession",
    "encrypted_columns",
]
