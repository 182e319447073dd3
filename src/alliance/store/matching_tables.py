"""Tables of matching and fit (issue 5): therapists' matching profiles, intake requests and the
admin's decisions about them.

They live on the same declarative ``Base`` as :mod:`alliance.store.models` (imported from
``alliance.store`` so the metadata always includes them). A client's intake is clinical
information and is stored field-encrypted (``*_enc``), as are contact details, the reasons
shown at decision time and the admin's note. A therapist's matching profile holds only what
they chose to enter about their practice (identity attributes only if they chose to share
them) and is stored as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

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
    intake_enc: Mapped[str] = mapped_column(Text)  # JSON of alliance.matching.ClientIntake
    contact_name_enc: Mapped[str] = mapped_column(Text)
    contact_email_enc: Mapped[str | None] = mapped_column(Text)
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
    reasons_enc: Mapped[str | None] = mapped_column(Text)
    note_enc: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime]


__all__ = ["IntakeRequest", "MatchDecision", "MatchingProfile"]
