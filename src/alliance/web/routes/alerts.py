"""Acting on an alert from the client page: acknowledge it, or resolve it, with a note."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from alliance.services import alerts
from alliance.web.deps import StaffAuth
from alliance.web.schemas import FreeText, PathId

router = APIRouter(include_in_schema=False)


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    request: Request,
    auth: StaffAuth,
    alert_id: PathId,
    note: Annotated[FreeText, Form(max_length=alerts.MAX_NOTE)] = "",
) -> Response:
    view = await auth.call(alerts.acknowledge_alert, actor=auth.staff, alert_id=alert_id, note=note)
    # The message says what the service stored: a blank note is kept as no note at all.
    flash = "acknowledged" if view.acknowledge_note else "acknowledged-no-note"
    return RedirectResponse(
        f"/clients/{view.client_id}?flash={flash}#alert-{view.id}", status_code=303
    )


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    request: Request,
    auth: StaffAuth,
    alert_id: PathId,
    note: Annotated[FreeText, Form(max_length=alerts.MAX_NOTE)] = "",
) -> Response:
    view = await auth.call(alerts.resolve_alert, actor=auth.staff, alert_id=alert_id, note=note)
    flash = "resolved" if view.resolve_note else "resolved-no-note"
    return RedirectResponse(f"/clients/{view.client_id}?flash={flash}", status_code=303)
