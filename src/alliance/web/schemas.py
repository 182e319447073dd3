"""Pydantic input and output schemas of the JSON API (``/api/v1``).

They are separate from the database tables and from the services' views on purpose: the API is
a contract with scripts and record systems, so a new column or view field never appears in it
by accident. Output models read service views with ``from_attributes``.

The input bounds every route shares live here too, defined once (see docs/security.md, "Input
bounds"): :data:`Id` (an id in a body: a strict integer, so ``true`` or ``"7"`` is refused,
within 1..2**31-1, what the id columns hold), :data:`PathId` (an id in a path: out of range is
"not found"), :data:`FreeText` (any text a person typed: no NUL, no lone surrogate, bounded
length) and :data:`JsonObject` (a free-form JSON object whose strings and numbers obey the same
bounds).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from alliance.matching.refit import FitEndDetail
from alliance.measures.plan import MeasurementPlan
from alliance.messages import Msg
from alliance.monitoring.alerts import AlertSettings
from alliance.services.alerts import MAX_BULK
from alliance.services.alerts import MAX_NOTE as ALERT_NOTE_MAX
from alliance.services.clinic_settings import (
    CRISIS_CONTACTS_MAX,
    CRISIS_MESSAGE_MAX,
    DEFAULT_CRISIS_MESSAGE,
    ClientLanguage,
    CrisisContact,
    DeliverySettings,
)
from alliance.services.goals import MAX_GOAL_TEXT, MAX_GOALS

# The largest id the id columns hold on both databases: they are INTEGER, 32 bits on
# PostgreSQL (which refuses a larger parameter: "integer out of range") and 64 on SQLite (whose
# driver raises OverflowError beyond that). Past it a lookup cannot find anything anyway.
ID_MAX = 2**31 - 1
# Numbers inside a free-form JSON object (stored as JSON, never as an id column).
JSON_INT_MAX = 2**63 - 1
# No single free-text input needs more; each field may set a tighter limit.
TEXT_MAX = 10_000
# How deep and how big a free-form JSON object may be (an intake, a matching profile).
JSON_MAX_DEPTH = 8
JSON_MAX_ITEMS = 2_000

Id = Annotated[StrictInt, Field(ge=1, le=ID_MAX)]
"""An id in a request body: a JSON integer (not a boolean, not a string) in 1..ID_MAX."""

PathId = Annotated[int, Path(ge=1, le=ID_MAX)]
"""An id in a path. The error handlers answer 404 for one out of range: nothing has it."""


_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def plain_text(value: str) -> str:
    """Refuse what is not storable text: NUL (PostgreSQL text cannot hold it) and lone UTF-16
    surrogates (JSON's ``"\\udc00"`` decodes to one; it cannot be encoded as UTF-8)."""
    # One scan in C for the common case (every field of every form passes here); the checks
    # below say which rule a refused value breaks.
    if _NOT_TEXT.search(value) is None:
        return value
    if "\x00" in value:
        raise ValueError(Msg("must not contain the NUL character (\\u0000)"))
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError(Msg("contains a lone surrogate (\\ud800-\\udfff), which is not text"))
    return value


def _plain_text_input(value: object) -> object:
    # Before pydantic's own string check, which refuses a surrogate with a puzzling message.
    # The length backstop is checked here too: a ``Field`` inside this type would override
    # the tighter ``max_length`` (and the description) a field declares.
    if isinstance(value, str):
        if len(value) > TEXT_MAX:
            raise ValueError(f"at most {TEXT_MAX} characters")
        plain_text(value)
    return value


FreeText = Annotated[str, BeforeValidator(_plain_text_input)]
"""Any text a person typed, in an API body or a form field: no NUL, no lone surrogate, at most
``TEXT_MAX`` characters. Add ``Field(max_length=...)`` (or ``Form(max_length=...)``) for the
field's own limit, which the OpenAPI document then shows."""


def plain_json(value: dict[str, Any]) -> dict[str, Any]:
    """Walk a free-form JSON object: every key and string is :func:`plain_text`, every integer
    fits the databases, and the whole is at most ``JSON_MAX_DEPTH`` deep and
    ``JSON_MAX_ITEMS`` values big. The error names the place (``capacity.fee``)."""
    seen = 0

    def walk(node: Any, where: str, depth: int) -> None:
        nonlocal seen
        seen += 1
        at = f"{where}: " if where else ""
        if seen > JSON_MAX_ITEMS:
            raise ValueError(f"more than {JSON_MAX_ITEMS} values")
        if depth > JSON_MAX_DEPTH:
            raise ValueError(f"{at}nested more than {JSON_MAX_DEPTH} levels deep")
        if isinstance(node, str):
            if len(node) > TEXT_MAX:
                raise ValueError(f"{at}longer than {TEXT_MAX} characters")
            try:
                plain_text(node)
            except ValueError as exc:
                raise ValueError(f"{at}{exc}") from None
        elif isinstance(node, bool):
            return
        elif isinstance(node, int):
            if not -JSON_INT_MAX <= node <= JSON_INT_MAX:
                raise ValueError(f"{at}a number beyond ±{JSON_INT_MAX}")
        elif isinstance(node, dict):
            for key, item in node.items():
                name = str(key)
                try:
                    plain_text(name)
                except ValueError as exc:
                    raise ValueError(f"{at}a key {exc}") from None
                walk(item, f"{where}.{name}" if where else name[:100], depth + 1)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}[{index}]", depth + 1)

    walk(value, "", 0)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(plain_json)]
"""A free-form JSON object (fields as the matching docs describe), within the bounds above."""


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
    active: StrictBool
    totp_enabled: bool
    must_change_password: bool = Field(
        False, description="An admin forced a reset: a new password is due at next sign-in."
    )


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
    concern: str = Field("", description="risk, alliance, outcome or attendance.")
    title: str = Field("", description="How the desk names the concern.")
    signals: tuple[dict[str, Any], ...] = Field(
        (), description="The alert's reasons, the most urgent first (kind, severity, reason …)."
    )
    supervised_by: int | None = None
    supervised_at: datetime | None = None
    supervision_note: str | None = None
    escalated_at: datetime | None = None
    protocol_checks: tuple[str, ...] = ()


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
    active: StrictBool


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
    rate_goals: bool = Field(True, description="Whether the form asks for goal ratings.")


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


InstrumentId = Annotated[FreeText, Field(max_length=100)]


class InstrumentChoiceModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")

    alliance: tuple[InstrumentId, ...]
    outcome: tuple[InstrumentId, ...]
    feedback: tuple[InstrumentId, ...]


class ClinicSettingsModel(BaseModel):
    """Clinic settings, read and written whole (``PUT`` replaces them)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    # The monitoring rules' own settings model: every threshold with its default and meaning.
    alert_settings: AlertSettings = Field(default_factory=AlertSettings)
    instruments: InstrumentChoiceModel
    mfa_enforced: bool = False
    show_client_progress: bool = False
    # Every field of ClinicSettings is here: a PUT replaces the settings whole, so one left
    # out would be reset to its default by every PUT (a test compares the two models).
    client_progress_shows: tuple[Literal["outcomes", "goals"], ...] = ("outcomes", "goals")
    checkin_overdue_days: int = Field(10, ge=1, le=90)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    measurement_plan: MeasurementPlan = Field(
        default_factory=MeasurementPlan,
        description="The clinic's own cadences over the bundled defaults (see the clinic "
        "settings page and docs/admin-guide.md).",
    )
    time_zone: str = Field("UTC", max_length=64, description="An IANA time zone name.")
    client_language: ClientLanguage = "en"
    crisis_message: FreeText = Field(
        DEFAULT_CRISIS_MESSAGE,
        max_length=CRISIS_MESSAGE_MAX,
        description="Shown to a client whose check-in answers raised a risk flag; blank = "
        "the default text.",
    )
    crisis_contacts: tuple[CrisisContact, ...] = Field(
        (),
        max_length=CRISIS_CONTACTS_MAX,
        description="Crisis lines a client can call ({name, phone}), shown as tel: links.",
    )
    risk_escalation_hours: int = Field(
        4,
        ge=1,
        le=7 * 24,
        description="A risk alert not acknowledged within this many hours is escalated to the "
        "supervisor and the admins.",
    )


class ClinicOut(_Out):
    id: int
    name: str
    settings: ClinicSettingsModel


class CheckInLinkIn(_In):
    session_id: Id | None = Field(None, description="The therapy session this check-in follows.")
    final: bool = Field(
        False,
        description="The episode's final check-in: adds the measurement plan's discharge "
        "measures to what it asks at that session.",
    )


class SessionIn(_In):
    scheduled_at: datetime
    status: Literal["scheduled", "attended", "missed", "cancelled"] = "attended"


class SessionStatusIn(_In):
    status: Literal["scheduled", "attended", "missed", "cancelled"]


class UserIn(_In):
    email: FreeText = Field(max_length=320)
    display_name: FreeText = Field(min_length=1, max_length=200)
    role: Literal["admin", "supervisor", "therapist"]
    password: FreeText = Field(
        min_length=1,
        max_length=1024,
        description="At least 12 characters and hard to guess (zxcvbn score 3 or more, not "
        "built from the user's e-mail or name).",
    )
    supervisor_id: Id | None = None


class PasswordChangeIn(_In):
    current_password: FreeText = Field(min_length=1, max_length=1024)
    new_password: FreeText = Field(
        min_length=1,
        max_length=1024,
        description="At least 12 characters and hard to guess (zxcvbn score 3 or more, not "
        "built from the user's e-mail or name).",
    )


class UserActiveIn(_In):
    active: StrictBool


class UserTeamIn(_In):
    supervisor_id: Id | None = Field(None, description="None removes the user from any team.")


class ClientIn(_In):
    display_name: FreeText = Field(min_length=1, max_length=200, description="A pseudonym.")
    contact_email: FreeText | None = Field(None, max_length=320)
    therapist_id: Id | None = Field(None, description="Default: the caller (therapists).")


class NewClientOut(BaseModel):
    client: ClientOut
    episode: EpisodeOut


class EpisodeEndIn(_In):
    reason: Literal["completed", "dropout", "fit", "transfer", "other"]


class GoalsIn(_In):
    goals: list[Annotated[FreeText, Field(max_length=MAX_GOAL_TEXT)]] = Field(
        min_length=1, max_length=MAX_GOALS, description="1–3 goals, client's words."
    )


class NoteIn(_In):
    # The alert service's own limit, as on the page (one limit, not two).
    note: FreeText | None = Field(None, max_length=ALERT_NOTE_MAX)


class AlertsAcknowledgeIn(NoteIn):
    alert_ids: list[Id] = Field(
        min_length=1,
        max_length=MAX_BULK,
        description="Alerts to acknowledge with one note; all must be the caller's to see, "
        "else nothing changes. Alerts no longer open are left as they are; open risk alerts "
        "are refused (acknowledge them one at a time).",
    )


class SupervisionIn(_In):
    note: FreeText = Field(min_length=1, max_length=ALERT_NOTE_MAX)


# --------------------------------------------------------------------------- matching


class IntakeIn(_In):
    clinic_id: Id | None = Field(
        default=None,
        description="The clinic whose queue this joins (as in the page's /intake/{clinic_id}); "
        "required without a token, and with a staff token it may only name the token's clinic.",
    )
    contact_name: FreeText = Field(min_length=1, max_length=100)
    contact_email: FreeText | None = Field(default=None, max_length=320)
    contact_phone: FreeText | None = Field(
        default=None, max_length=32, description="Optional; 6–15 digits, spaces and + - ( ) ."
    )
    intake: JsonObject = Field(
        description="An intake as in docs/matching.md (ClientIntake without id)."
    )


class IntakeOut(BaseModel):
    id: int


class DecisionIn(_In):
    therapist_id: Id | None = Field(default=None, description="None holds the client back.")
    note: FreeText = Field(default="", max_length=2000)
    force: StrictBool = False


class HandoverIn(_In):
    therapist_id: Id = Field(description="The colleague who continues with the client.")
    client_consented: StrictBool = Field(description="The client agreed to the handover.")
    detail: FitEndDetail = "client_request"


class MatchOut(_Out):
    therapist_id: int
    therapist_name: str
    score: float
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]


class ProposalOut(_Out):
    intake_id: int
    received_at: datetime
    contact_name: str
    concerns: tuple[str, ...]
    wishes: tuple[str, ...]
    proposed: MatchOut | None
    waiting_reason: str | None
    alternatives: tuple[MatchOut, ...]
    contact_email: str | None = None
    contact_phone: str | None = None


class QueueOut(_Out):
    proposals: tuple[ProposalOut, ...]
    therapists: tuple[MatchOut, ...]
    without_profile: tuple[str, ...]
    history_cases: int


class DecisionOut(_Out):
    id: int
    intake_id: int
    decision: Literal["accepted", "override", "held"]
    therapist_id: int | None
    violations: tuple[str, ...]
    client_id: int | None
    episode_id: int | None


class HandoverOut(_Out):
    ended_episode_id: int
    new_episode_id: int
    client_id: int
    therapist_id: int


class MatchingProfileOut(_Out):
    user_id: int
    display_name: str
    has_profile: bool
    current_caseload: int
    profile: dict[str, Any]
    matchable: bool  # false: stored but incomplete, so the queue does not propose them


class ProblemOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error of the API: a readable ``detail``, and ``errors`` naming each bad field."""

    detail: str
    errors: list[ProblemOut] | None = None


_ERROR_MEANINGS = {
    400: "The body is not valid JSON, or the request could not be processed.",
    401: "No valid personal access token (send `Authorization: Bearer <token>`).",
    403: "The caller's role may not do this.",
    404: f"Nothing the caller may see has this id (ids outside 1..{ID_MAX} included).",
    409: "The record is in a state that does not allow this, or changed meanwhile.",
    422: "A field is missing or invalid; `errors` names each one.",
    429: "Too many requests; `Retry-After` says when to try again.",
}

API_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": meaning}
    for status, meaning in _ERROR_MEANINGS.items()
}
"""The error responses of every JSON API operation, documented once for all routers (each
of them can answer any of these: a bad token, a role, a missing record, a bad body...)."""


def _operation_ref(target: str) -> str:
    method, _, path = target.partition(" ")
    pointer = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{quote(pointer, safe='~')}/{method.lower()}"


def links(status: int, **targets: tuple[str, dict[str, str]]) -> dict[str, Any]:
    """``openapi_extra`` for a route: OpenAPI links from its ``status`` response to the
    operations that take what it returns (``name=("GET /api/v1/...", {param: expression})``).

    They tell a client, and the stateful fuzzing in the tests, which call naturally follows:
    the id of a new client goes to its timeline, its goals, its sessions.
    """
    return {
        "responses": {
            str(status): {
                "links": {
                    name: {"operationRef": _operation_ref(target), "parameters": parameters}
                    for name, (target, parameters) in targets.items()
                }
            }
        }
    }
