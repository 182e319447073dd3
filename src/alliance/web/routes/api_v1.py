"""The JSON API (``/api/v1``): the pages' use cases for scripts and record systems.

Authenticate with a personal access token (``Authorization: Bearer alp_…``). The same
:class:`~alliance.web.deps.Authorize` dependency and the same services apply, so the API can do
exactly what the signed-in user could do on the pages, no more. Errors are JSON:
``{"detail": "...", "errors": [{"field", "message"}]}``.

Every JSON endpoint is on this one ``router`` (matching included; the one public operation is
the intake), and each reads and answers with the schemas of :mod:`alliance.web.schemas`, never
with a service's view: ``tests/web/test_api_v1.py`` checks both.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from alliance.matching.refit import FitEndDetail
from alliance.services import admin as admin_service
from alliance.services import alerts, checkins, clients, goals, sessions, timelines
from alliance.services import auth as auth_service
from alliance.services import matching as matching_service
from alliance.services.errors import InvalidInput
from alliance.web.deps import AdminAuth, PublicJsonAuth, StaffAuth, SupervisorAuth, limit_intakes
from alliance.web.schemas import (
    API_ERRORS,
    AlertOut,
    AlertsAcknowledgeIn,
    CaseloadRowOut,
    CheckInLinkIn,
    CheckInLinkOut,
    CheckInOut,
    ClientIn,
    ClientOut,
    ClinicOut,
    ClinicSettingsModel,
    DecisionIn,
    DecisionOut,
    EpisodeEndIn,
    EpisodeOut,
    GoalOut,
    GoalsIn,
    HandoverIn,
    HandoverOut,
    IntakeIn,
    IntakeOut,
    JsonObject,
    MatchingProfileOut,
    MatchOut,
    MeOut,
    NewClientOut,
    NoteIn,
    PasswordChangeIn,
    PathId,
    QueueOut,
    SessionIn,
    SessionOut,
    SessionStatusIn,
    SupervisionIn,
    TeamOverviewOut,
    TimelineOut,
    UserActiveIn,
    UserIn,
    UserOut,
    UserTeamIn,
    links,
)

router = APIRouter(tags=["v1"], responses=API_ERRORS)

# Where the ids of what a call returns come from, for the OpenAPI links below.
_NEW_CLIENT = {"client_id": "$response.body#/client/id"}
_NEW_EPISODE = {"episode_id": "$response.body#/episode/id"}
_NEW_USER = {"user_id": "$response.body#/id"}
_SAME_ALERT = {"alert_id": "$response.body#/id"}


@router.get("/me", response_model=MeOut)
async def me(auth: StaffAuth) -> MeOut:
    """Who the token belongs to."""
    actor = auth.staff
    return MeOut(user_id=actor.user_id or 0, clinic_id=actor.clinic_id or 0, role=actor.role or "")


@router.post("/me/password", response_model=MeOut)
async def change_password(auth: StaffAuth, body: PasswordChangeIn) -> MeOut:
    """Change the caller's own password, giving the current one. Every web session of the
    user ends; access tokens keep working. A wrong current password counts as a failed
    sign-in (422 naming `current_password`; 429 once too many)."""
    actor = auth.staff
    await auth.call(
        auth_service.change_password,
        actor=actor,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return MeOut(user_id=actor.user_id or 0, clinic_id=actor.clinic_id or 0, role=actor.role or "")


@router.get(
    "/caseload",
    response_model=list[CaseloadRowOut],
    openapi_extra=links(
        200,
        FirstTimeline=(
            "GET /api/v1/clients/{client_id}/timeline",
            {"client_id": "$response.body#/0/client_id"},
        ),
    ),
)
async def caseload(auth: StaffAuth) -> list[CaseloadRowOut]:
    """Clients the caller may see, most urgent first."""
    rows = await auth.call(timelines.caseload, actor=auth.staff)
    return [CaseloadRowOut.model_validate(r) for r in rows]


@router.post(
    "/clients",
    response_model=NewClientOut,
    status_code=201,
    openapi_extra=links(
        201,
        Timeline=("GET /api/v1/clients/{client_id}/timeline", _NEW_CLIENT),
        AgreeGoals=("PUT /api/v1/clients/{client_id}/goals", _NEW_CLIENT),
        AddSession=("POST /api/v1/clients/{client_id}/sessions", _NEW_CLIENT),
        CheckInLink=("POST /api/v1/clients/{client_id}/checkin-links", _NEW_CLIENT),
        EndEpisode=("POST /api/v1/clients/{client_id}/episode/end", _NEW_CLIENT),
        Alternatives=("GET /api/v1/matching/episodes/{episode_id}/alternatives", _NEW_EPISODE),
        HandOver=("POST /api/v1/matching/episodes/{episode_id}/handover", _NEW_EPISODE),
    ),
)
async def add_client(auth: StaffAuth, body: ClientIn) -> NewClientOut:
    """A new client and their first episode of care."""
    client, episode = await auth.call(
        clients.create_client,
        actor=auth.staff,
        display_name=body.display_name,
        contact_email=body.contact_email,
        therapist_id=body.therapist_id,
    )
    return NewClientOut(
        client=ClientOut.model_validate(client), episode=EpisodeOut.model_validate(episode)
    )


@router.post("/clients/{client_id}/episode/end", response_model=EpisodeOut)
async def end_episode(auth: StaffAuth, client_id: PathId, body: EpisodeEndIn) -> EpisodeOut:
    """End the client's current episode of care, with the reason."""
    view = await auth.call(
        clients.end_episode, actor=auth.staff, client_id=client_id, reason=body.reason
    )
    return EpisodeOut.model_validate(view)


@router.get(
    "/clients/{client_id}/timeline",
    response_model=TimelineOut,
    openapi_extra=links(
        200,
        FirstAlert=("GET /api/v1/alerts/{alert_id}", {"alert_id": "$response.body#/alerts/0/id"}),
        FirstSession=(
            "POST /api/v1/sessions/{session_id}/status",
            {"session_id": "$response.body#/sessions/0/id"},
        ),
    ),
)
async def timeline(auth: StaffAuth, client_id: PathId) -> TimelineOut:
    """Scores over sessions, goals, attendance, alerts and check-ins of one client."""
    view = await auth.call(timelines.client_timeline, actor=auth.staff, client_id=client_id)
    return TimelineOut.model_validate(view)


@router.post("/clients/{client_id}/checkin-links", response_model=CheckInLinkOut, status_code=201)
async def create_checkin_link(
    auth: StaffAuth, client_id: PathId, body: CheckInLinkIn
) -> CheckInLinkOut:
    """A single-use check-in link for the client (the URL is returned only here)."""
    link = await auth.call(
        checkins.create_checkin_link,
        actor=auth.staff,
        client_id=client_id,
        session_id=body.session_id,
        final=body.final,
    )
    return CheckInLinkOut(checkin=CheckInOut.model_validate(link.checkin), url=link.url)


@router.post(
    "/clients/{client_id}/sessions",
    response_model=SessionOut,
    status_code=201,
    openapi_extra=links(
        201,
        SetStatus=(
            "POST /api/v1/sessions/{session_id}/status",
            {"session_id": "$response.body#/id"},
        ),
    ),
)
async def add_session(auth: StaffAuth, client_id: PathId, body: SessionIn) -> SessionOut:
    """Record a session (attended, missed, cancelled, or scheduled for later)."""
    view = await auth.call(
        sessions.schedule_session,
        actor=auth.staff,
        client_id=client_id,
        scheduled_at=body.scheduled_at,
        status=body.status,
    )
    return SessionOut.model_validate(view)


@router.post("/sessions/{session_id}/status", response_model=SessionOut)
async def set_session_status(
    auth: StaffAuth, session_id: PathId, body: SessionStatusIn
) -> SessionOut:
    """Mark a scheduled session attended, missed or cancelled."""
    view = await auth.call(
        sessions.record_session, actor=auth.staff, session_id=session_id, status=body.status
    )
    return SessionOut.model_validate(view)


@router.put("/clients/{client_id}/goals", response_model=list[GoalOut])
async def agree_goals(auth: StaffAuth, client_id: PathId, body: GoalsIn) -> list[GoalOut]:
    """Replace the client's agreed goals (1–3)."""
    views = await auth.call(
        goals.agree_goals, actor=auth.staff, client_id=client_id, goals=body.goals
    )
    return [GoalOut.model_validate(v) for v in views]


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertOut,
    openapi_extra=links(
        200,
        Acknowledge=("POST /api/v1/alerts/{alert_id}/acknowledge", _SAME_ALERT),
        Resolve=("POST /api/v1/alerts/{alert_id}/resolve", _SAME_ALERT),
    ),
)
async def get_alert(auth: StaffAuth, alert_id: PathId) -> AlertOut:
    view = await auth.call(alerts.get_alert, actor=auth.staff, alert_id=alert_id)
    return AlertOut.model_validate(view)


@router.post("/alerts/acknowledge", response_model=list[AlertOut])
async def acknowledge_alerts(auth: StaffAuth, body: AlertsAcknowledgeIn) -> list[AlertOut]:
    """Acknowledge several open alerts with one note (the caseload's "acknowledge selected");
    returns the alerts this changed."""
    views = await auth.call(
        alerts.acknowledge_alerts, actor=auth.staff, alert_ids=body.alert_ids, note=body.note
    )
    return [AlertOut.model_validate(v) for v in views]


@router.post("/alerts/{alert_id}/supervision", response_model=AlertOut)
async def mark_discussed_in_supervision(
    auth: SupervisorAuth, alert_id: PathId, body: SupervisionIn
) -> AlertOut:
    """A supervisor records that the alert was discussed in supervision, with what was agreed."""
    view = await auth.call(
        alerts.mark_discussed_in_supervision, actor=auth.staff, alert_id=alert_id, note=body.note
    )
    return AlertOut.model_validate(view)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
async def acknowledge_alert(auth: StaffAuth, alert_id: PathId, body: NoteIn) -> AlertOut:
    view = await auth.call(
        alerts.acknowledge_alert, actor=auth.staff, alert_id=alert_id, note=body.note
    )
    return AlertOut.model_validate(view)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
async def resolve_alert(auth: StaffAuth, alert_id: PathId, body: NoteIn) -> AlertOut:
    view = await auth.call(
        alerts.resolve_alert, actor=auth.staff, alert_id=alert_id, note=body.note
    )
    return AlertOut.model_validate(view)


@router.get("/team", response_model=TeamOverviewOut)
async def team(auth: SupervisorAuth) -> TeamOverviewOut:
    """Per therapist: clients, mean alliance, outcome change, open alerts, overdue check-ins."""
    view = await auth.call(timelines.team_overview, actor=auth.staff)
    return TeamOverviewOut.model_validate(view)


@router.get("/users", response_model=list[UserOut])
async def users(auth: AdminAuth) -> list[UserOut]:
    views = await auth.call(admin_service.list_users, actor=auth.staff)
    return [UserOut.model_validate(v) for v in views]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    openapi_extra=links(
        201,
        SetActive=("POST /api/v1/users/{user_id}/active", _NEW_USER),
        SetTeam=("POST /api/v1/users/{user_id}/team", _NEW_USER),
    ),
)
async def create_user(auth: AdminAuth, body: UserIn) -> UserOut:
    """Add a staff account to the caller's clinic."""
    actor = auth.staff
    view = await auth.call(
        auth_service.create_staff_user,
        actor=actor,
        clinic_id=actor.clinic_id or 0,
        email=body.email,
        display_name=body.display_name,
        role=body.role,
        password=body.password,
        supervisor_id=body.supervisor_id,
    )
    return UserOut.model_validate(view)


@router.post("/users/{user_id}/active", response_model=UserOut)
async def set_user_active(auth: AdminAuth, user_id: PathId, body: UserActiveIn) -> UserOut:
    """Deactivate or reactivate an account. Deactivating ends its sessions and revokes its
    tokens for good: reactivating does not bring them back."""
    view = await auth.call(
        admin_service.set_user_active, actor=auth.staff, user_id=user_id, active=body.active
    )
    return UserOut.model_validate(view)


@router.post("/users/{user_id}/password-reset", response_model=UserOut)
async def force_password_reset(auth: AdminAuth, user_id: PathId) -> UserOut:
    """Make the user choose a new password at their next sign-in; their sessions and access
    tokens end now, for good."""
    view = await auth.call(auth_service.require_password_change, actor=auth.staff, user_id=user_id)
    return UserOut.model_validate(view)


@router.post("/users/{user_id}/team", response_model=UserOut)
async def set_user_team(auth: AdminAuth, user_id: PathId, body: UserTeamIn) -> UserOut:
    """Put a therapist in a supervisor's team (or in none)."""
    view = await auth.call(
        admin_service.assign_team,
        actor=auth.staff,
        therapist_id=user_id,
        supervisor_id=body.supervisor_id,
    )
    return UserOut.model_validate(view)


@router.get("/clinic", response_model=ClinicOut)
async def clinic(auth: AdminAuth) -> ClinicOut:
    view = await auth.call(admin_service.get_clinic, actor=auth.staff)
    return ClinicOut.model_validate(view)


@router.put("/clinic/settings", response_model=ClinicOut)
async def update_settings(auth: AdminAuth, body: ClinicSettingsModel) -> ClinicOut:
    view = await auth.call(
        admin_service.update_clinic_settings,
        actor=auth.staff,
        settings=body.model_dump(mode="json"),
    )
    return ClinicOut.model_validate(view)


# --------------------------------------------------------------------------- matching
# Tagged "matching" as well as "v1", so the document still groups them as it did.


@router.post(
    "/intake",
    response_model=IntakeOut,
    status_code=201,
    tags=["matching"],
    openapi_extra=links(
        201,
        Decide=(
            "POST /api/v1/matching/intakes/{intake_id}/decision",
            {"intake_id": "$response.body#/id"},
        ),
    ),
)
async def api_intake(request: Request, auth: PublicJsonAuth, body: IntakeIn) -> IntakeOut:
    """Add an intake to a clinic's queue. No account needed: send JSON with ``clinic_id`` and
    no cookies (rate-limited per address, like the intake page). With a staff token the intake
    goes into the token's clinic (e.g. from the clinic's own web site or EHR)."""
    actor = auth.actor
    if actor is None:
        await limit_intakes(request, auth)
        if body.clinic_id is None:
            raise InvalidInput("clinic_id", "say which clinic's queue this intake is for")
    intake_id = await auth.call(
        matching_service.submit_intake,
        clinic_id=body.clinic_id,
        intake=body.intake,
        contact_name=body.contact_name,
        contact_email=body.contact_email,
        actor=actor,
        contact_phone=body.contact_phone,
    )
    return IntakeOut(id=intake_id)


@router.get("/matching/queue", response_model=QueueOut, tags=["matching"])
async def api_queue(auth: AdminAuth) -> QueueOut:
    """Waiting intakes with the optimiser's proposals, reasons, caveats and alternatives."""
    view = await auth.call(matching_service.matching_queue, actor=auth.staff)
    return QueueOut.model_validate(view)


@router.post(
    "/matching/intakes/{intake_id}/decision", response_model=DecisionOut, tags=["matching"]
)
async def api_decide(auth: AdminAuth, intake_id: PathId, body: DecisionIn) -> DecisionOut:
    """Accept the proposal, override it (note required; ``force`` to break a rule) or hold."""
    view = await auth.call(
        matching_service.decide,
        actor=auth.staff,
        intake_id=intake_id,
        therapist_id=body.therapist_id,
        note=body.note,
        force=body.force,
    )
    return DecisionOut.model_validate(view)


@router.get("/matching/profile", response_model=MatchingProfileOut, tags=["matching"])
async def api_profile(auth: StaffAuth) -> MatchingProfileOut:
    """The caller's matching profile."""
    view = await auth.call(matching_service.get_profile, actor=auth.staff)
    return MatchingProfileOut.model_validate(view)


@router.put("/matching/profile", response_model=MatchingProfileOut, tags=["matching"])
async def api_save_profile(auth: StaffAuth, body: JsonObject) -> MatchingProfileOut:
    """Replace the caller's matching profile (fields as in docs/matching.md)."""
    view = await auth.call(matching_service.save_profile, actor=auth.staff, profile=body)
    return MatchingProfileOut.model_validate(view)


@router.get(
    "/matching/episodes/{episode_id}/alternatives",
    response_model=list[MatchOut],
    tags=["matching"],
)
async def api_alternatives(
    auth: StaffAuth, episode_id: PathId, detail: FitEndDetail = "client_request"
) -> list[MatchOut]:
    """Other therapists for a client whose fit is ending (current therapist excluded)."""
    found = await auth.call(
        matching_service.rematch_alternatives,
        actor=auth.staff,
        episode_id=episode_id,
        detail=detail,
    )
    return [MatchOut.model_validate(m) for m in found]


@router.post(
    "/matching/episodes/{episode_id}/handover", response_model=HandoverOut, tags=["matching"]
)
async def api_hand_over(auth: StaffAuth, episode_id: PathId, body: HandoverIn) -> HandoverOut:
    """End the episode for fit and continue with another therapist (client's consent needed)."""
    view = await auth.call(
        matching_service.hand_over,
        actor=auth.staff,
        episode_id=episode_id,
        therapist_id=body.therapist_id,
        client_consented=body.client_consented,
        detail=body.detail,
    )
    return HandoverOut.model_validate(view)
