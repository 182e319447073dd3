"""The client page (timeline charts, alerts, check-in links, sessions, goals) and its actions.

Acting on an alert (acknowledge, resolve) lives in :mod:`alliance.web.routes.alerts`.

Each action is one service call; the page re-renders after a redirect (POST-redirect-GET),
except after creating a check-in link, whose token exists only in that one response.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from alliance.adapters import mail
from alliance.services import (
    alerts,
    checkins,
    clients,
    delivery,
    goals,
    plans,
    sessions,
    timelines,
)
from alliance.services.delivery import OutboxView
from alliance.services.errors import InvalidInput
from alliance.services.views import CheckInLink, EpisodePlanView, TimelineView
from alliance.web import settings_form
from alliance.web.deps import Auth, StaffAuth
from alliance.web.figures import timeline_figures
from alliance.web.qr import qr_svg
from alliance.web.routes._form_values import form_text, optional_int
from alliance.web.routes.caseload import caseload_page
from alliance.web.schemas import FreeText, PathId
from alliance.web.templating import from_local, local_input, render

router = APIRouter(include_in_schema=False)


async def _client_page(
    request: Request, auth: Auth, client_id: int, *, status_code: int = 200, **extra: Any
) -> Response:
    timeline: TimelineView = await auth.call(
        timelines.client_timeline, actor=auth.staff, client_id=client_id
    )
    figures = await run_in_threadpool(timeline_figures, timeline)
    time_zone = getattr(request.state, "time_zone", "UTC")
    return render(
        request,
        "client.html",
        {
            "nav": "caseload",
            "t": timeline,
            "figures": figures,
            "smtp_configured": mail.smtp_configured(auth.ctx.settings),
            "now_local": local_input(auth.ctx.now(), time_zone),
            "end_reasons": clients.END_REASONS,
            # The note box takes what the alert service keeps (one limit, not two).
            "note_max": alerts.MAX_NOTE,
            **extra,
        },
        status_code=status_code,
    )


@router.post("/clients")
async def add_client(
    request: Request,
    auth: StaffAuth,
    display_name: Annotated[FreeText, Form(max_length=200)],
    contact_email: Annotated[FreeText, Form(max_length=320)] = "",
    therapist_id: Annotated[FreeText, Form(max_length=12)] = "",
    same_name: Annotated[FreeText, Form(max_length=4)] = "",
) -> Response:
    """A new client and their first episode (therapists add their own clients; supervisors
    and admins may choose the therapist). A name already on the caseload is not refused — two
    people may share a first name — but the page says so first and adds the client only when
    asked again with ``same_name=yes``."""
    if same_name != "yes":
        namesakes = await auth.call(
            clients.clients_named, actor=auth.staff, display_name=display_name
        )
        if namesakes:
            return await caseload_page(
                request,
                auth,
                status_code=409,
                namesakes=namesakes,
                new_client={
                    "display_name": display_name,
                    "contact_email": contact_email,
                    "therapist_id": therapist_id,
                },
            )
    client, _episode = await auth.call(
        clients.create_client,
        actor=auth.staff,
        display_name=display_name,
        contact_email=contact_email or None,
        therapist_id=optional_int(therapist_id, "therapist_id"),
    )
    return RedirectResponse(f"/clients/{client.id}?flash=client", status_code=303)


@router.get("/clients/{client_id}")
async def client_page(request: Request, auth: StaffAuth, client_id: PathId) -> Response:
    return await _client_page(request, auth, client_id)


@router.post("/clients/{client_id}/checkin-links")
async def create_link(
    request: Request,
    auth: StaffAuth,
    client_id: PathId,
    session_id: Annotated[FreeText, Form(max_length=12)] = "",
    send_email: Annotated[FreeText, Form(max_length=4)] = "",
    final: Annotated[FreeText, Form(max_length=4)] = "",
) -> Response:
    wants_email = send_email == "1" and mail.smtp_configured(auth.ctx.settings)
    link: CheckInLink = await auth.call(
        checkins.create_checkin_link,
        actor=auth.staff,
        client_id=client_id,
        session_id=optional_int(session_id, "session_id"),
        sent_via="email" if wants_email else "copy",
        final=final == "1",
    )
    asked = [auth.ctx.instruments.get(i) for i in link.checkin.instruments]
    extra: dict[str, Any] = {
        "new_link": link,
        "qr_svg": qr_svg(link.url),
        "link_asks": [i.title for i in asked]
        + ([settings_form.GOALS_LABEL] if link.checkin.rate_goals else []),
        "link_answers": sum(len(i.items) for i in asked),
    }
    if wants_email:
        sent: OutboxView = await auth.call(
            delivery.email_link_now,
            mail.SmtpNotifier(auth.ctx.settings),
            actor=auth.staff,
            checkin_id=link.checkin.id,
            token=link.token,
        )
        if sent.status == "sent":
            extra["emailed"] = True
        else:
            extra["email_error"] = (sent.reason or "the e-mail was not sent").capitalize() + "."
    return await _client_page(request, auth, client_id, **extra)


@router.get("/clients/{client_id}/plan")
async def plan_page(request: Request, auth: StaffAuth, client_id: PathId) -> Response:
    """The measurement plan of the client's current episode, editable."""
    view: EpisodePlanView = await auth.call(
        plans.get_episode_plan, actor=auth.staff, client_id=client_id
    )
    return _plan_page(request, auth, view)


def _plan_page(request: Request, auth: Auth, view: EpisodePlanView) -> Response:
    instruments = [auth.ctx.instruments.get(i) for i in view.instruments]
    return render(
        request,
        "client_plan.html",
        {
            "nav": "caseload",
            "view": view,
            "plan_rows": settings_form.plan_rows(view.plan, instruments),
            "plan_course": settings_form.plan_course(view.plan, instruments),
        },
    )


@router.post("/clients/{client_id}/plan")
async def save_plan(request: Request, auth: StaffAuth, client_id: PathId) -> Response:
    """Give the episode its own cadences, or (``clinic=1``) follow the clinic's plan again."""
    form = await request.form()
    plan = None if form.get("clinic") == "1" else settings_form.parse_plan(form)
    await auth.call(plans.set_episode_plan, actor=auth.staff, client_id=client_id, plan=plan)
    return RedirectResponse(f"/clients/{client_id}/plan?flash=plan", status_code=303)


@router.post("/clients/{client_id}/checkin-emails")
async def checkin_emails(
    request: Request,
    auth: StaffAuth,
    client_id: PathId,
    opted_out: Annotated[FreeText, Form(max_length=4)] = "",
) -> Response:
    """Record the client's choice about check-in e-mails (audited)."""
    await auth.call(
        delivery.set_checkin_email_opt_out,
        actor=auth.staff,
        client_id=client_id,
        opted_out=opted_out == "yes",
    )
    return RedirectResponse(f"/clients/{client_id}?flash=emails", status_code=303)


@router.post("/clients/{client_id}/sessions")
async def add_session(
    request: Request,
    auth: StaffAuth,
    client_id: PathId,
    scheduled_at: Annotated[FreeText, Form(max_length=40)],
    status: Annotated[FreeText, Form(max_length=20)] = "attended",
) -> Response:
    try:
        when = _parse_datetime(scheduled_at, getattr(request.state, "time_zone", "UTC"))
        await auth.call(
            sessions.schedule_session,
            actor=auth.staff,
            client_id=client_id,
            scheduled_at=when,
            status=status,
        )
    except InvalidInput as exc:
        # Back to the page with the message beside the field and what was typed kept.
        return await _client_page(
            request,
            auth,
            client_id,
            status_code=422,
            session_error=exc,
            session_form={"scheduled_at": scheduled_at, "status": status},
        )
    return RedirectResponse(f"/clients/{client_id}?flash=session", status_code=303)


@router.post("/clients/{client_id}/sessions/{session_id}")
async def mark_session(
    request: Request,
    auth: StaffAuth,
    client_id: PathId,
    session_id: PathId,
    status: Annotated[FreeText, Form(max_length=20)],
) -> Response:
    # The client id in the path is only for the redirect; the service checks the session
    # itself against the actor.
    try:
        await auth.call(
            sessions.record_session, actor=auth.staff, session_id=session_id, status=status
        )
    except InvalidInput as exc:
        return await _client_page(
            request,
            auth,
            client_id,
            status_code=422,
            mark_error=exc,
            mark_session_id=session_id,
        )
    return RedirectResponse(f"/clients/{client_id}?flash=session", status_code=303)


@router.post("/clients/{client_id}/goals")
async def agree_goals(request: Request, auth: StaffAuth, client_id: PathId) -> Response:
    form = await request.form()
    texts = [form_text(str(v), "goals") for v in form.getlist("goal")]
    await auth.call(goals.agree_goals, actor=auth.staff, client_id=client_id, goals=texts)
    return RedirectResponse(f"/clients/{client_id}?flash=goals", status_code=303)


@router.post("/clients/{client_id}/episode/end")
async def end_episode(
    request: Request,
    auth: StaffAuth,
    client_id: PathId,
    reason: Annotated[FreeText, Form(max_length=20)],
) -> Response:
    await auth.call(clients.end_episode, actor=auth.staff, client_id=client_id, reason=reason)
    return RedirectResponse(f"/clients/{client_id}?flash=ended", status_code=303)


def _parse_datetime(value: str, time_zone: str) -> datetime:
    """A ``datetime-local`` field (no zone: the clinic's local time) or a full ISO 8601
    timestamp with its offset."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("scheduled_at", f"{value!r} is not a date and time") from None
    return from_local(parsed, time_zone)
