"""Supervisor and admin pages: team overview, user management, clinic settings, the audit
trail (filtered by colleague, client, action and dates; as a page or a CSV download)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from alliance._csv import to_csv
from alliance.services import admin as admin_service
from alliance.services import auth as auth_service
from alliance.services import timelines
from alliance.services.errors import InvalidInput
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


#: The actions the audit trail records, for the filter (in the order people look for them).
AUDIT_ACTIONS = ("read", "write", "export", "erase", "deny", "login", "logout")


@dataclass(frozen=True)
class AuditFilters:
    """The audit page's filters as typed (to refill the form) and as the service takes them."""

    who: str = ""
    client: str = ""
    action: str = ""
    since: str = ""
    until: str = ""

    def query(self) -> dict[str, Any]:
        """Keyword arguments of ``list_audit_events``; bad values are a 422 naming the field."""
        if self.action and self.action not in AUDIT_ACTIONS:
            raise InvalidInput("action", f"must be one of {', '.join(AUDIT_ACTIONS)}")
        start, end = _day(self.since, "since"), _day(self.until, "until")
        if start and end and end < start:
            raise InvalidInput("until", "the last day is before the first")
        return {
            "actor_id": optional_int(self.who, "who"),
            "client_id": optional_int(self.client, "client"),
            "action": self.action or None,
            "since": start,
            # The last day is shown whole: up to the start of the next one.
            "before": end + timedelta(days=1) if end else None,
        }

    def urlencoded(self) -> str:
        return urlencode({k: v for k, v in asdict(self).items() if v})


def _day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a date (YYYY-MM-DD)") from None


def plain_detail(detail: Mapping[str, Any]) -> str:
    """An event's detail as a line of words ("op: acknowledge · client ref.: 12 · with note:
    no") instead of raw JSON; the keys are the services' own, so the words stay close to them.
    """
    parts = []
    for key, value in detail.items():
        label = key.removesuffix("_id") + " ref." if key.endswith("_id") else key
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, list | tuple):
            shown = ", ".join(str(v) for v in value) or "none"
        elif isinstance(value, dict):
            shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items()) or "none"
        else:
            shown = str(value)
        parts.append(f"{label.replace('_', ' ')}: {shown}")
    return " · ".join(parts)


AuditQuery = Annotated[str, Query(max_length=20)]


def _audit_filters(
    who: AuditQuery = "",
    client: AuditQuery = "",
    action: AuditQuery = "",
    since: AuditQuery = "",
    until: AuditQuery = "",
) -> AuditFilters:
    """The trail's filters from the query string, read the same way by the page and the CSV."""
    return AuditFilters(who, client, action, since, until)


Filters = Annotated[AuditFilters, Depends(_audit_filters)]


@router.get("/admin/audit")
async def audit_page(
    request: Request,
    auth: AdminAuth,
    filters: Filters,
) -> Response:
    events = await auth.call(
        admin_service.list_audit_events, actor=auth.staff, limit=200, **filters.query()
    )
    staff = await auth.call(admin_service.list_users, actor=auth.staff)
    clients = await auth.call(timelines.caseload, actor=auth.staff)
    context = {
        "nav": "audit",
        "events": events,
        "filters": filters,
        "actions": AUDIT_ACTIONS,
        "staff": staff,
        "clients": sorted({(c.display_name, c.client_id) for c in clients}),
        "csv_url": "/admin/audit.csv"
        + ("?" + filters.urlencoded() if filters.urlencoded() else ""),
        "plain_detail": plain_detail,
    }
    return render(request, "audit.html", context)


@router.get("/admin/audit.csv")
async def audit_csv(
    request: Request,
    auth: AdminAuth,
    filters: Filters,
) -> Response:
    """The filtered trail (up to 5,000 events, newest first) as CSV; recorded as an export."""
    events = await auth.call(
        admin_service.list_audit_events,
        actor=auth.staff,
        limit=5000,
        export=True,
        **filters.query(),
    )
    frame = pd.DataFrame(
        [
            {
                "when_utc": e.at.astimezone(UTC).isoformat(timespec="seconds"),
                "who": e.actor_name,
                "action": e.action,
                "record": e.record_name,
                "record_type": e.entity_type,
                "record_ref": e.entity_id or "",
                "detail": plain_detail(e.detail),
            }
            for e in events
        ],
        columns=["when_utc", "who", "action", "record", "record_type", "record_ref", "detail"],
    )
    body = to_csv(frame, index=False) or ""
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'},
    )
