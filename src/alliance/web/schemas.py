"""Pydantic input and output schemas of the JSON API (``/api/v1``).

They are separate from the database tables and from the services' views on purpose: the API is
a contract with scripts and record systems, so a new column or view field never appears in it
by accident. Output models read service views with ``from_attributes``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alliance.monitoring.alerts import AlertSettings
from alliance.services.clinic_settings import CRISIS_MESSAGE_MAX, DEFAULT_CRISIS_MESSAGE


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeOut(_Out):
    user_id: int
    clinic_id: int
    role: str


class UserOut(_Out):
    id: int
    email: str
    display_name: str
    role: str
    supervisor_id: int | None
    active: bool
    totp_enabled: bool


class AlertOut(_Out):
    id: int
    client_id: int
    episode_id: int
    kind: str
    severity: str
    session_number: int | None
    reason: str
    next_step: str
    evidence: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    acknowledged_by: int | None = None
    acknowledged_at: datetime | None = None
    acknowledge_note: str | None = None
    resolved_by: int | None = None
    resolved_at: datetime | None = None
    resolve_note: str | None = None


class CaseloadRowOut(_Out):
    client_id: int
    display_name: str
    episode_id: int
    therapist_id: int
    therapist_name: str
    sessions: int
    last_session_at: datetime | None
    latest_alliance: float | None
    latest_outcome: dict[str, float | None]
    open_alerts: int
    top_alert: AlertOut | None
    urgency: int


class ClientOut(_Out):
    id: int
    display_name: str
    created_at: datetime


class EpisodeOut(_Out):
    id: int
    client_id: int
    therapist_id: int
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    instruments: tuple[str, ...]


class SessionOut(_Out):
    id: int
    episode_id: int
    number: int
    scheduled_at: datetime
    status: str


class SeriesPointOut(_Out):
    session_number: int | None
    at: datetime
    value: float | None
    band: str | None = None
    valid: bool = True


class TrajectoryOut(_Out):
    session_numbers: tuple[int, ...]
    expected: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    method: str
    on_track: bool | None = None


class SeriesOut(_Out):
    instrument_id: str
    title: str
    kind: str
    direction: str
    score_min: float
    score_max: float
    points: tuple[SeriesPointOut, ...]
    subscales: dict[str, tuple[SeriesPointOut, ...]]
    thresholds: dict[str, float]
    clinical_cutoff: float | None = None
    trajectory: TrajectoryOut | None = None


class GoalOut(_Out):
    id: int
    episode_id: int
    position: int
    text: str
    agreed_at: datetime
    active: bool


class GoalSeriesOut(_Out):
    goal: GoalOut
    ratings: tuple[SeriesPointOut, ...]


class CheckInOut(_Out):
    id: int
    episode_id: int
    session_id: int | None
    instruments: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    opened_at: datetime | None
    completed_at: datetime | None
    sent_via: str


class TimelineOut(_Out):
    client: ClientOut
    episode: EpisodeOut | None
    therapist_name: str | None
    series: tuple[SeriesOut, ...]
    goals: tuple[GoalSeriesOut, ...]
    sessions: tuple[SessionOut, ...]
    alerts: tuple[AlertOut, ...]
    checkins: tuple[CheckInOut, ...]
    feedback: tuple[tuple[int | None, str], ...] = ()


class CheckInLinkOut(BaseModel):
    """A new client link. ``url`` holds the token: it is returned this once only."""

    checkin: CheckInOut
    url: str


class TherapistSummaryOut(_Out):
    therapist_id: int
    display_name: str
    clients: int
    mean_latest_alliance: float | None
    mean_outcome_change: dict[str, float | None]
    open_alerts: int
    overdue_checkins: int


class TeamOverviewOut(_Out):
    therapists: tuple[TherapistSummaryOut, ...]


class InstrumentChoiceModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")

    alliance: tuple[str, ...]
    outcome: tuple[str, ...]
    feedback: tuple[str, ...]


class ClinicSettingsModel(BaseModel):
    """Clinic settings, read and written whole (``PUT`` replaces them)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    # The monitoring rules' own settings model: every threshold with its default and meaning.
    alert_settings: AlertSettings = Field(default_factory=AlertSettings)
    instruments: InstrumentChoiceModel
    mfa_enforced: bool = False
    show_client_progress: bool = False
    checkin_overdue_days: int = Field(10, ge=1, le=90)
    crisis_message: str = Field(
        DEFAULT_CRISIS_MESSAGE,
        max_length=CRISIS_MESSAGE_MAX,
        description="Shown to a client whose check-in answers raised a risk flag; blank = "
        "the default text.",
    )


class ClinicOut(_Out):
    id: int
    name: str
    settings: ClinicSettingsModel


class CheckInLinkIn(_In):
    session_id: int | None = Field(None, description="The therapy session this check-in follows.")


class SessionIn(_In):
    scheduled_at: datetime
    status: Literal["scheduled", "attended", "missed", "cancelled"] = "attended"


class SessionStatusIn(_In):
    status: Literal["scheduled", "attended", "missed", "cancelled"]


class UserIn(_In):
    email: str = Field(max_length=320)
    display_name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "supervisor", "therapist"]
    password: str = Field(min_length=1, max_length=1024, description="At least 12 characters.")
    supervisor_id: int | None = None


class UserActiveIn(_In):
    active: bool


class UserTeamIn(_In):
    supervisor_id: int | None = Field(None, description="None removes the user from any team.")


class ClientIn(_In):
    display_name: str = Field(min_length=1, max_length=200, description="A pseudonym.")
    contact_email: str | None = Field(None, max_length=320)
    therapist_id: int | None = Field(None, description="Default: the caller (therapists).")


class NewClientOut(BaseModel):
    client: ClientOut
    episode: EpisodeOut


class EpisodeEndIn(_In):
    reason: Literal["completed", "dropout", "fit", "transfer", "other"]


class GoalsIn(_In):
    goals: list[str] = Field(min_length=1, max_length=3, description="1–3 goals, client's words.")


class NoteIn(_In):
    note: str | None = Field(None, max_length=2000)


class ErrorOut(BaseModel):
    detail: str
    errors: list[dict[str, str]] | None = None
