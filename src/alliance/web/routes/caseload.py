"""The caseload page: a therapist's clients (a supervisor's team, an admin's clinic) by urgency."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from alliance.services import admin as admin_service
from alliance.services import timelines
from alliance.services.views import UserView
from alliance.web.deps import Auth, StaffAuth
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/caseload")
async def caseload(
    request: Request,
    auth: StaffAuth,
    therapist: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    return await caseload_page(request, auth, therapist=therapist)


async def caseload_page(
    request: Request,
    auth: Auth,
    *,
    status_code: int = 200,
    therapist: int | None = None,
    **extra: Any,
) -> Response:
    """The caseload, with ``extra`` for the add-client form (a warning, the values typed).

    ``therapist``: one therapist's clients (the team page and the clinic report link here);
    the service keeps to what the viewer may see either way."""
    rows = await auth.call(timelines.caseload, actor=auth.staff, therapist_id=therapist)
    role = auth.staff.role
    therapists: list[UserView] = []
    if role in ("admin", "supervisor"):
        users = await auth.call(admin_service.list_users, actor=auth.staff)
        therapists = [u for u in users if u.active and u.role == "therapist"]
    heading = {"admin": "Clinic caseload", "supervisor": "Team caseload"}.get(
        role or "", "Your caseload"
    )
    return render(
        request,
        "caseload.html",
        {
            "nav": "caseload",
            "rows": rows,
            "heading": heading,
            "show_therapist": role in ("admin", "supervisor"),
            "therapists": therapists,
            **extra,
        },
        status_code=status_code,
    )
