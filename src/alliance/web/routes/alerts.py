"""Acting on alerts: acknowledge or resolve one (client page), acknowledge several (caseload),
mark one discussed in supervision (supervisors), and a risk alert's protocol page (crisis
contacts, checklist, and closing it with the required follow-up note)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from alliance.services import alerts
from alliance.services.errors import InvalidInput
from alliance.web.deps import StaffAuth, SupervisorAuth
from alliance.web.schemas import FreeText, PathId
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)

# The note box takes what the alert service keeps (one limit, not two).
Note = Annotated[FreeText, Form(max_length=alerts.MAX_NOTE)]


@router.post("/alerts/acknowledge")
async def acknowledge_many(
    request: Request,
    auth: StaffAuth,
    alert_ids: Annotated[list[FreeText], Form()] = [],  # noqa: B006
    note: Note = "",
) -> Response:
    """The caseload's "acknowledge selected": each checked row posts its open alerts' ids."""
    if len(alert_ids) > alerts.MAX_BULK or any(len(v) > 2000 for v in alert_ids):
        raise InvalidInput("alert_ids", f"at most {alerts.MAX_BULK} alerts at once")
    ids: list[int] = []
    for value in alert_ids:
        for part in value.replace(",", " ").split():
            if not part.isdigit() or len(part) > 10:
                raise InvalidInput("alert_ids", f"{part[:20]!r} is not an alert number")
            ids.append(int(part))
    done = await auth.call(alerts.acknowledge_alerts, actor=auth.staff, alert_ids=ids, note=note)
    flash = "bulkacknowledged" if done else "nothingacknowledged"
    return RedirectResponse(f"/caseload?flash={flash}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    request: Request, auth: StaffAuth, alert_id: PathId, note: Note = ""
) -> Response:
    view = await auth.call(alerts.acknowledge_alert, actor=auth.staff, alert_id=alert_id, note=note)
    # The message says what the service stored: a blank note is kept as no note at all.
    flash = "acknowledged" if view.acknowledge_note else "acknowledged-no-note"
    return RedirectResponse(
        f"/clients/{view.client_id}?flash={flash}#alert-{view.id}", status_code=303
    )


@router.post("/alerts/{alert_id}/resolve")
async def resolve(request: Request, auth: StaffAuth, alert_id: PathId, note: Note = "") -> Response:
    view = await auth.call(alerts.resolve_alert, actor=auth.staff, alert_id=alert_id, note=note)
    flash = "resolved" if view.resolve_note else "resolved-no-note"
    return RedirectResponse(f"/clients/{view.client_id}?flash={flash}", status_code=303)


@router.post("/alerts/{alert_id}/supervision")
async def supervision(
    request: Request, auth: SupervisorAuth, alert_id: PathId, note: Note = ""
) -> Response:
    view = await auth.call(
        alerts.mark_discussed_in_supervision, actor=auth.staff, alert_id=alert_id, note=note
    )
    return RedirectResponse(
        f"/clients/{view.client_id}?flash=supervision#alert-{view.id}", status_code=303
    )


@router.get("/alerts/{alert_id}/protocol")
async def protocol(request: Request, auth: StaffAuth, alert_id: PathId) -> Response:
    view = await auth.call(alerts.risk_protocol, actor=auth.staff, alert_id=alert_id)
    return render(request, "alert_protocol.html", {"nav": "caseload", "p": view})


@router.post("/alerts/{alert_id}/protocol")
async def close_risk(
    request: Request,
    auth: StaffAuth,
    alert_id: PathId,
    note: Note = "",
    checks: Annotated[list[FreeText], Form()] = [],  # noqa: B006
    action: Annotated[FreeText, Form(max_length=20)] = "resolve",
) -> Response:
    """Acknowledge the risk alert, or close it with the follow-up note; a missing note shows
    the page again with the problem next to the note, the note and the ticks kept."""
    try:
        if action == "acknowledge":
            view = await auth.call(
                alerts.acknowledge_alert, actor=auth.staff, alert_id=alert_id, note=note
            )
            return RedirectResponse(
                f"/alerts/{view.id}/protocol?flash=acknowledged", status_code=303
            )
        view = await auth.call(
            alerts.resolve_alert, actor=auth.staff, alert_id=alert_id, note=note, checks=checks
        )
    except InvalidInput as exc:
        page = await auth.call(alerts.risk_protocol, actor=auth.staff, alert_id=alert_id)
        context = {
            "nav": "caseload",
            "p": page,
            "error": exc.detail,
            "error_field": exc.field,
            "note": note,
            "ticked": set(checks),
        }
        return render(request, "alert_protocol.html", context, status_code=422)
    return RedirectResponse(f"/clients/{view.client_id}?flash=riskclosed", status_code=303)
