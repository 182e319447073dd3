"""What services return: frozen dataclasses, decrypted and safe to render or serialise.

ORM objects never leave a service (they would be detached from their session and could leak
internal columns such as password hashes); these views carry exactly what a page or the JSON API
may show to an actor who passed the authorization check.

Every view of every service area lives here, in one convention: a frozen dataclass whose
sequences are tuples (never lists or sets), so a page or a route cannot change what a service
returned. Pages render them; the JSON API reads them into its own schemas
(:mod:`alliance.web.schemas`), so a view field never reaches the API by accident. To show
a view with one thing changed, make a new one (:func:`dataclasses.replace`).
``tests/services/test_views.py`` enforces this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from alliance.analysis.schema import AnalysisResult
from alliance.measures.plan import MeasurementPlan
from alliance.monitoring.outcomes import Benchmark, OutcomeRow
from alliance.services.clinic_settings import ClinicSettings


@dataclass(frozen=True)
class ClinicView:
    id: int
    name: str
    settings: ClinicSettings


@dataclass(frozen=True)
class UserView:
    id: int
    clinic_id: int
    email: str
    display_name: str
    role: str
    supervisor_id: int | None
    active: bool
    totp_enabled: bool
    must_change_password: bool = False


@dataclass(frozen=True)
class WebSessionView:
    """A live staff session; ``token`` is only set when the session has just been created."""

    user: UserView
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    token: str | None = None
    time_zone: str = "UTC"  # the clinic's, for the pages' times


@dataclass(frozen=True)
class AccessTokenView:
    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class ClientView:
    id: int
    clinic_id: int
    display_name: str
    contact_email: str | None
    created_at: datetime
    checkin_emails_opt_out: bool = False


@dataclass(frozen=True)
class NamesakeView:
    """A client already in care under the same name (a warning before adding another)."""

    client_id: int
    display_name: str
    therapist_name: str
    started_at: datetime


@dataclass(frozen=True)
class EpisodeView:
    id: int
    client_id: int
    therapist_id: int
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    instruments: tuple[str, ...]


@dataclass(frozen=True)
class SessionView:
    id: int
    episode_id: int
    number: int
    scheduled_at: datetime
    status: str
    checked_in: bool = False  # a check-in for this session has been completed


@dataclass(frozen=True)
class CheckInView:
    id: int
    episode_id: int
    session_id: int | None
    instruments: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    opened_at: datetime | None
    completed_at: datetime | None
    sent_via: str
    rate_goals: bool = True  # whether the form asks for goal ratings (the plan's cadence)


@dataclass(frozen=True)
class EpisodePlanView:
    """The measurement plan of a client's current episode: the cadences it follows
    (``plan``, the clinic's with the episode's own over them) and the episode's own
    (``own``, None when it follows the clinic's)."""

    client_id: int
    episode_id: int
    instruments: tuple[str, ...]
    plan: MeasurementPlan
    own: MeasurementPlan | None


@dataclass(frozen=True)
class CheckInLink:
    """A freshly created link. ``token`` exists only here: the database keeps its hash."""

    checkin: CheckInView
    token: str
    url: str


@dataclass(frozen=True)
class GoalView:
    id: int
    episode_id: int
    position: int
    text: str
    agreed_at: datetime
    active: bool


@dataclass(frozen=True)
class FormQuestion:
    """One item of one instrument as the check-in page shows it."""

    instrument_id: str
    link_id: str
    text: str
    type: str  # choice | text | integer | boolean
    required: bool
    options: tuple[tuple[str, str], ...]  # (code, label)
    min_value: int | None = None
    max_value: int | None = None


@dataclass(frozen=True)
class FormSection:
    instrument_id: str
    title: str
    kind: str
    questions: tuple[FormQuestion, ...]


@dataclass(frozen=True)
class OwnMeasureView:
    """One questionnaire on the client's own progress page: their scores (session number or
    check-in count, total) and what they say in plain words."""

    instrument_id: str
    title: str
    points: tuple[tuple[float, float], ...]
    words: str


@dataclass(frozen=True)
class OwnGoalView:
    """One agreed goal on the client's own progress page, with its 0–10 ratings in order."""

    text: str
    ratings: tuple[int, ...]
    words: str


@dataclass(frozen=True)
class ClientProgressView:
    """What a client sees of their own progress (what the clinic chose to show)."""

    outcomes: tuple[OwnMeasureView, ...] = ()
    goals: tuple[OwnGoalView, ...] = ()


@dataclass(frozen=True)
class IntakeClinicView:
    """What the public intake page shows of the clinic: its name, in its clients' language."""

    name: str
    client_language: str = "en"


@dataclass(frozen=True)
class CheckInDraft:
    """Answers a client saved to finish later: per instrument linkId → value as given, and
    goal id → rating."""

    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    goals: dict[int, str] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(a) for a in self.answers.values()) + len(self.goals)


@dataclass(frozen=True)
class CheckInForm:
    """What a client's check-in page shows: the instruments chosen for the episode and the
    agreed goals to rate 0–10."""

    checkin_id: int
    client_display_name: str
    therapist_display_name: str
    sections: tuple[FormSection, ...]
    goals: tuple[GoalView, ...]
    expires_at: datetime
    show_progress: bool
    session_number: int | None = None  # the session the answers are for (None: no session)
    session_at: datetime | None = None
    clinic_name: str = ""  # shown in the page's header
    draft: CheckInDraft = field(default_factory=CheckInDraft)  # answers saved earlier
    draft_saved_at: datetime | None = None
    time_zone: str = "UTC"  # the clinic's, for the session date shown
    client_language: str = "en"  # the clinic's language for client pages


@dataclass(frozen=True)
class ScoreView:
    instrument_id: str
    session_number: int | None
    at: datetime
    total: float | None
    subscales: dict[str, float | None]
    band: str | None
    valid: bool


@dataclass(frozen=True)
class AlertView:
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
    #: The concern the alert is about (risk, alliance, outcome, attendance) and how the desk
    #: names it; ``signals`` are its reasons, the most urgent first (each a mapping with kind,
    #: severity, session_number, reason, next_step, instrument_id and items).
    concern: str = ""
    title: str = ""
    signals: tuple[dict[str, Any], ...] = ()
    supervised_by: int | None = None
    supervised_at: datetime | None = None
    supervision_note: str | None = None
    escalated_at: datetime | None = None
    protocol_checks: tuple[str, ...] = ()

    @property
    def is_risk(self) -> bool:
        return self.concern == "risk" or self.kind == "risk_reported"


@dataclass(frozen=True)
class RiskProtocolView:
    """A risk alert's protocol page: the alert, whom to call, what to do, and whether the
    alert waited too long (``overdue``: not acknowledged within the clinic's hours)."""

    alert: AlertView
    client_name: str
    contacts: tuple[tuple[str, str, str], ...]  # (name, phone as written, tel: link)
    checklist: tuple[tuple[str, str], ...]  # (id, what to do)
    escalation_hours: int
    overdue: bool


@dataclass(frozen=True)
class CheckInResult:
    """What :func:`alliance.services.checkins.record_check_in` stored and raised."""

    checkin_id: int
    scores: tuple[ScoreView, ...]
    alerts: tuple[AlertView, ...]
    show_progress: bool
    #: True when this submission's answers endorse a risk item (PHQ-9 item 9): the thank-you
    #: page then shows ``crisis_message`` and the therapist gets a notice.
    risk_flagged: bool = False
    #: The clinic's crisis text (only when ``risk_flagged``).
    crisis_message: str | None = None
    #: The clinic's language for client pages (the thank-you page's, unless the link asks).
    client_language: str = "en"
    #: The clinic's crisis contacts (name, phone as written, tel: link), shown on every
    #: thank-you page.
    crisis_contacts: tuple[tuple[str, str, str], ...] = ()
    #: Where to send the therapist a notice without clinical content (only when
    #: ``risk_flagged`` and the episode's therapist has an active account).
    #: The clinic's name, for the page's header.
    clinic_name: str = ""
    notify_email: str | None = None


@dataclass(frozen=True)
class SeriesPoint:
    session_number: int | None
    at: datetime
    value: float | None
    band: str | None = None
    valid: bool = True


@dataclass(frozen=True)
class TrajectoryBand:
    """Expected score (and tolerance band) per session number for an outcome measure."""

    session_numbers: tuple[int, ...]
    expected: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    method: str
    on_track: bool | None = None


@dataclass(frozen=True)
class InstrumentSeries:
    instrument_id: str
    title: str
    kind: str
    direction: str
    score_min: float
    score_max: float
    points: tuple[SeriesPoint, ...]
    subscales: dict[str, tuple[SeriesPoint, ...]]
    thresholds: dict[str, float]
    clinical_cutoff: float | None = None
    trajectory: TrajectoryBand | None = None


@dataclass(frozen=True)
class GoalSeries:
    goal: GoalView
    ratings: tuple[SeriesPoint, ...]


@dataclass(frozen=True)
class TimelineView:
    client: ClientView
    episode: EpisodeView | None
    therapist_name: str | None
    series: tuple[InstrumentSeries, ...]
    goals: tuple[GoalSeries, ...]
    sessions: tuple[SessionView, ...]
    alerts: tuple[AlertView, ...]
    checkins: tuple[CheckInView, ...]
    feedback: tuple[tuple[int | None, str], ...] = ()  # (session number, client's free text)


@dataclass(frozen=True)
class SourcedScore:
    """One score and where it comes from: the instrument, the session and when it was given."""

    instrument_id: str
    value: float
    session_number: int | None
    at: datetime
    band: str | None = None


@dataclass(frozen=True)
class MeasureChange:
    """Baseline, latest and the Jacobson–Truax verdict for one measure of an episode.

    ``baseline`` and ``latest`` are the first and last valid scores of the timeline's series;
    the change fields come from :func:`alliance.measures.change.classify_instrument_change`
    and stay None with a ``note`` saying why when they cannot be computed (fewer than two
    scores, or an instrument without reliable-change parameters).
    """

    instrument_id: str
    title: str
    kind: str
    direction: str
    citation: str
    scores: int  # valid scores in the episode
    baseline: SourcedScore | None
    latest: SourcedScore | None
    change: float | None = None
    rci: float | None = None
    criterion: float | None = None  # the smallest reliable change, 1.96 · S_diff
    standard_error_of_difference: float | None = None
    sd: float | None = None
    reliability: float | None = None
    sd_source: str | None = None
    reliability_source: str | None = None
    reliable_change: str | None = None  # improved | deteriorated | none
    clinically_significant: bool | None = None
    status: str | None = None  # recovered | improved | unchanged | deteriorated
    cutoff: float | None = None
    cutoff_method: str | None = None
    cutoff_source: str | None = None
    on_track: bool | None = None  # outcome measures: the expected-trajectory verdict
    note: str | None = None


@dataclass(frozen=True)
class HandledAlert:
    """An alert of the episode with the names of who acknowledged and resolved it."""

    alert: AlertView
    relationship: bool  # a rupture or another alert about the alliance
    acknowledged_by_name: str | None = None
    resolved_by_name: str | None = None


@dataclass(frozen=True)
class RuptureRepair:
    """A rupture the monitoring rules find in the episode's alliance scores (a drop from
    ``before`` at ``before_session`` to ``low`` at ``rupture_session``) and its repair: the
    first later score back within S_diff of ``before`` (None while there is none)."""

    instrument_id: str
    before_session: int
    before: float
    rupture_session: int
    low: float
    repaired_session: int | None = None
    repaired: float | None = None


@dataclass(frozen=True)
class Attendance:
    attended: int
    missed: int
    cancelled: int
    scheduled: int

    @property
    def total(self) -> int:
        return self.attended + self.missed + self.cancelled + self.scheduled


@dataclass(frozen=True)
class ClientReportView:
    """The client progress report: the timeline of the episode (the very view the client page
    reads) and what the report adds to it: change per measure, alerts with who handled them,
    attendance, and who asked for the report when."""

    timeline: TimelineView
    clinic_name: str
    generated_at: datetime
    generated_by: str
    measures: tuple[MeasureChange, ...]
    alerts: tuple[HandledAlert, ...]
    attendance: Attendance
    ruptures: tuple[RuptureRepair, ...] = ()


@dataclass(frozen=True)
class CaseloadRow:
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
    top_alert: AlertView | None
    urgency: int  # 0 = most urgent; rows are sorted by (urgency, latest alliance)
    latest_alliance_instrument: str | None = None  # which measure gave latest_alliance
    started_at: datetime | None = None  # when this episode of care began
    # Another row of the same caseload has the same name (compared as same_name_key does), so
    # the page shows the start date and the client's reference beside this one.
    shares_name: bool = False
    #: The client's open alerts that the caseload may acknowledge in bulk (not risk alerts:
    #: those are acknowledged from their protocol page).
    ackable_alert_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class TherapistSummary:
    therapist_id: int
    display_name: str
    clients: int
    mean_latest_alliance: float | None
    mean_outcome_change: dict[str, float | None]
    open_alerts: int
    overdue_checkins: int
    # Labels from the therapist's matching profile (styles strongest first); empty without one.
    modalities: tuple[str, ...] = field(default_factory=tuple)
    styles: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class OutcomeBreakdown:
    """One breakdown of the clinic outcome report (by team, therapist, modality, concern):
    its rows, and sentences about the episodes it could not place (no data)."""

    dimension: str
    title: str
    rows: tuple[OutcomeRow, ...]
    no_data: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClinicOutcomesView:
    """The clinic outcome report over ``start``–``end`` (both days included) for what the
    viewer may see: the whole clinic for an admin, their team for a supervisor."""

    clinic_name: str
    scope: str
    start: date
    end: date
    generated_at: datetime
    generated_by: str
    clinic: OutcomeRow
    breakdowns: tuple[OutcomeBreakdown, ...]
    benchmarks: tuple[Benchmark, ...]
    outcome_instruments: tuple[str, ...]
    alliance_instruments: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def breakdown(self, dimension: str) -> OutcomeBreakdown:
        return next(b for b in self.breakdowns if b.dimension == dimension)


@dataclass(frozen=True)
class TeamRiskAlert:
    """An open (not resolved) risk alert of a client in the viewer's team."""

    alert_id: int
    client_id: int
    client_name: str
    therapist_id: int
    therapist_name: str
    severity: str
    status: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class WaitingRisk:
    """A risk alert still not acknowledged after the clinic's escalation hours."""

    alert_id: int
    client_id: int
    client_name: str
    therapist_name: str
    waiting_since: datetime
    escalated_at: datetime | None


@dataclass(frozen=True)
class TeamOverview:
    therapists: tuple[TherapistSummary, ...]
    # The period's outcome rates per therapist (issue 14), keyed by therapist id in ``key``.
    outcomes: ClinicOutcomesView | None = None
    risk_alerts: tuple[TeamRiskAlert, ...] = ()
    #: Risk alerts left unacknowledged longer than the clinic allows, longest waiting first.
    waiting_risks: tuple[WaitingRisk, ...] = ()
    escalation_hours: int = 4


@dataclass(frozen=True)
class AuditEventView:
    id: int
    at: datetime
    actor_type: str
    actor_id: int | None
    action: str
    entity_type: str
    entity_id: str | None
    detail: dict[str, Any]
    # Who, in words: a colleague's name and role, "client (check-in link)", "system" …
    actor_name: str = ""
    # The record, in words where it has a name ("client Tina", "Tom's matching profile").
    record_name: str = ""


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class MatchView:
    """A therapist proposed for a client, with why (``reasons``) and what to check (``caveats``)."""

    therapist_id: int
    therapist_name: str
    score: float
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]
    # False when there was nothing to score the fit on (a client with no intake on file: no
    # preferences, no concerns), so ``score`` is 0 for everyone and says nothing about fit.
    scored: bool = True


@dataclass(frozen=True)
class ProposalView:
    """One waiting intake in the matching queue and the optimiser's answer for it."""

    intake_id: int
    received_at: datetime
    contact_name: str
    concerns: tuple[str, ...]
    wishes: tuple[str, ...]
    proposed: MatchView | None
    waiting_reason: str | None
    alternatives: tuple[MatchView, ...]
    # How the clinic reaches the client (decrypted for the admin, whose queue read is audited).
    contact_email: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True)
class MatchingQueueView:
    proposals: tuple[ProposalView, ...]
    therapists: tuple[MatchView, ...]  # every matchable therapist (score 0, for the override list)
    without_profile: tuple[str, ...]
    history_cases: int


@dataclass(frozen=True)
class MatchDecisionView:
    id: int
    intake_id: int
    decision: Literal["accepted", "override", "held"]
    therapist_id: int | None
    violations: tuple[str, ...]
    client_id: int | None
    episode_id: int | None


@dataclass(frozen=True)
class HandoverView:
    ended_episode_id: int
    new_episode_id: int
    client_id: int
    therapist_id: int


@dataclass(frozen=True)
class MatchingProfileView:
    """A therapist's matching profile as stored (the JSON of docs/matching.md)."""

    user_id: int
    display_name: str
    has_profile: bool
    current_caseload: int
    profile: dict[str, Any]
    # False for a stored profile that does not validate (carried over incomplete from the
    # older profile store, or saved under an older vocabulary): the queue does not propose it.
    matchable: bool = False


# --------------------------------------------------------------------------- transcripts


@dataclass(frozen=True)
class TranscriptSummary:
    """One attached transcript without its text: what lists and overviews show."""

    id: int
    session_id: int
    session_number: int
    session_at: datetime
    client_id: int
    therapist_id: int
    filename: str
    format: str
    backend: str
    uploaded_at: datetime
    indicators: dict[str, Any]


@dataclass(frozen=True)
class TranscriptAnalysis:
    """One transcript's full analysis (decrypted) with where it belongs."""

    summary: TranscriptSummary
    client_name: str
    therapist_name: str
    result: AnalysisResult


@dataclass(frozen=True)
class SessionTranscripts:
    session_id: int
    session_number: int
    client_id: int
    client_name: str
    transcripts: tuple[TranscriptSummary, ...]


@dataclass(frozen=True)
class TherapistIndicators:
    therapist_id: int
    therapist_name: str
    transcripts: tuple[TranscriptSummary, ...]


@dataclass(frozen=True)
class ExportJobView:
    """One research export asked for in the app, as its page lists it (no file content).

    ``status`` is the stored one, except that a done export past ``expires_at`` reads
    ``expired`` even before the worker has removed its file."""

    id: int
    requested_by: str
    requested_at: datetime
    format: str
    deidentified: bool
    status: Literal["queued", "running", "done", "failed", "expired", "deleted"]
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    file_count: int | None
    size_bytes: int | None
    expires_at: datetime | None
    download_name: str

    @property
    def pending(self) -> bool:
        """Still to be built: the page keeps checking on it."""
        return self.status in ("queued", "running")


@dataclass(frozen=True)
class ExportDownload:
    """A built export, decrypted for the admin who downloads it: one ZIP archive."""

    job_id: int
    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class ExportRunReport:
    """What one pass of the export worker did."""

    recovered: int = 0
    built: int = 0
    failed: int = 0
    expired: int = 0
