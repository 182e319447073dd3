"""Tables of matching and fit (issue 5): therapists' matching profiles, intake requests and the
admin's decisions about them, and the notes of hand-overs for fit.

They live on the same declarative ``Base`` as :mod:`alliance.store.models` (imported from
``alliance.store`` so the metadata always includes them). A client's intake is clinical
information and is stored field-encrypted (``*_enc``), as are contact details, the reasons
shown at decision time, the admin's note and a hand-over's note. A therapist's matching
profile holds only what they chose to enter about their practice (identity attributes only if
they chose to share them) and is stored as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.store.encrypted import encrypted_text
from alliance.store.models import Base


class MatchingProfile(Base):
    """A therapist's profile for matching: the fields of ``alliance.matching.TherapistProfile``
    except id, name and current caseload (those come from the staff user and open episodes)."""

    __tablename__ = "matching_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class IntakeRequest(Base):
    """One intake from the public form or the API, waiting for (or given) a therapist."""

    __tablename__ = "intake_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    # JSON of alliance.matching.ClientIntake
    intake_enc: Mapped[str] = encrypted_text("intake_requests.intake")
    contact_name_enc: Mapped[str] = encrypted_text("intake_requests.contact_name")
    contact_email_enc: Mapped[str | None] = encrypted_text("intake_requests.contact_email")
    contact_phone_enc: Mapped[str | None] = encrypted_text("intake_requests.contact_phone")
    source: Mapped[str] = mapped_column(String(20))  # form | api
    status: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting|placed|held
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"), index=True)


class MatchDecision(Base):
    """An admin's decision on an intake: the proposal accepted, overridden, or held back."""

    __tablename__ = "match_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    intake_id: Mapped[int] = mapped_column(ForeignKey("intake_requests.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))  # accepted | override | held
    proposed_therapist_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    therapist_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    score: Mapped[float | None] = mapped_column(Float)
    violations: Mapped[list[Any]] = mapped_column(default=list)
    reasons_enc: Mapped[str | None] = encrypted_text("match_decisions.reasons")
    note_enc: Mapped[str | None] = encrypted_text("match_decisions.note")
    decided_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime]


class HandoverNote(Base):
    """What a therapist noted when handing a client over to a colleague for fit (e.g. what was
    agreed with the client): free text about a client, so encrypted. One per ended episode.

    It once lived, encrypted, in the hand-over's audit event; the audit trail is append-only,
    so key rotation could never rewrite it there (migration 0004 moved it here). The field
    name still says so, because the moved ciphertexts are bound to it.
    """

    __tablename__ = "handover_notes"

    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    written_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    written_at: Mapped[datetime]
    note_enc: Mapped[str] = encrypted_text("audit.handover_note")


__all__ = ["HandoverNote", "IntakeRequest", "MatchDecision", "MatchingProfile"]
