"""Supervisor and admin pages: team overview, user management, clinic settings, audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from alliance.services import admin as admin_service
from alliance.services import auth as auth_service
from alliance.services import timelines
from alliance.web import settings_form
from alliance.web.deps import AdminAuth, SupervisorAuth
from alliance.web.routes._form_values import optional_int
from alliance.web.routes.reports import default_period, parse_day
from alliance.web.schemas import FreeText, PathId
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/team")
async def team(
    request: Request,
    auth: SupervisorAuth,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    first, last = default_period(auth.ctx.now().date())
    period = (parse_day(start, "from", first), parse_day(end, "to", last))
    overview = await auth.call(timelines.team_overview, actor=auth.staff, period=period)
    return render(request, "team.html", {"nav": "team", "overview": overview})


@router.get("/admin/users")
async def users(request: Request, auth: AdminAuth) -> Response:
    rows = await auth.call(admin_service.list_users, actor=auth.staff)
    supervisors = [u for u in rows if u.role in ("supervisor", "admin") and u.active]
    names = {u.id: u.display_name for u in rows}
    return render(
        request,
        "users.html",
        {"nav": "users", "users": rows, "supervisors": supervisors, "names": names},
    )


@router.post("/admin/users")
async def create_user(
    request: Request,
    auth: AdminAuth,
    email: Annotated[FreeText, Form(max_length=320)],
    display_name: Annotated[FreeText, Form(max_length=200)],
    role: Annotated[FreeText, Form(max_length=20)],
    password: Annotated[FreeText, Form(max_length=1024)],
    supervisor_id: Annotated[FreeText, Form(max_length=12)] = "",
) -> Response:
    actor = auth.staff
    assert actor.clinic_id is not None
    await auth.call(
        auth_service.create_staff_user,
        actor=actor,
        clinic_id=actor.clinic_id,
        email=email,
        display_name=display_name,
        role=role,
        password=password,
        supervisor_id=optional_int(supervisor_id, "supervisor_id"),
    )
    return RedirectResponse("/admin/users?flash=user", status_code=303)


@router.post("/admin/users/{user_id}/active")
async def set_active(
    request: Request, auth: AdminAuth, user_id: PathId, active: Annotated[FreeText, Form()]
) -> Response:
    await auth.call(
        admin_service.set_user_active,
        actor=auth.staff,
        user_id=user_id,
        active=active == "true",
    )
    return RedirectResponse("/admin/users?flash=user", status_code=303)


@router.post("/admin/users/{user_id}/team")
async def set_team(
    request: Request,
    auth: AdminAuth,
    user_id: PathId,
    supervisor_id: Annotated[FreeText, Form(max_length=12)] = "",
) -> Response:
    await auth.call(
        admin_service.assign_team,
        actor=auth.staff,
        therapist_id=user_id,
        supervisor_id=optional_int(supervisor_id, "supervisor_id"),
    )
    return RedirectResponse("/admin/users?flash=user", status_code=303)


@router.post("/admin/users/{user_id}/reset-mfa")
async def reset_mfa(request: Request, auth: AdminAuth, user_id: PathId) -> Response:
    await auth.call(auth_service.reset_totp, actor=auth.staff, user_id=user_id)
    return RedirectResponse("/admin/users?flash=user", status_code=303)


@router.post("/admin/users/{user_id}/password-reset")
async def force_password_reset(request: Request, auth: AdminAuth, user_id: PathId) -> Response:
    await auth.call(auth_service.require_password_change, actor=auth.staff, user_id=user_id)
    return RedirectResponse("/admin/users?flash=reset", status_code=303)


@router.get("/admin/settings")
async def settings_page(request: Request, auth: AdminAuth) -> Response:
    clinic = await auth.call(admin_service.get_clinic, actor=auth.staff)
    instruments = auth.ctx.instruments.all()
    context = settings_form.form_context(clinic.settings, instruments)
    return render(request, "clinic_settings.html", {"nav": "settings", **context})


@router.post("/admin/settings")
async def save_settings(request: Request, auth: AdminAuth) -> Response:
    form = await request.form()
    alliance_ids = [i.id for i in auth.ctx.instruments.all() if i.kind == "alliance"]
    settings = settings_form.parse_settings(form, alliance_ids)
    await auth.call(admin_service.update_clinic_settings, actor=auth.staff, settings=settings)
    return RedirectResponse("/admin/settings?flash=settings", status_code=303)


@router.get("/admin/audit")
async def audit_page(request: Request, auth: AdminAuth) -> Response:
    events = await auth.call(admin_service.list_audit_events, actor=auth.staff, limit=200)
    return render(request, "audit.html", {"nav": "audit", "events": events})
