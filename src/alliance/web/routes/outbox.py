"""The outbox page: the check-in messages sent (or not) to the clients the caller sees —
a therapist's own, a supervisor's team's, an admin's clinic's — with what became of each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from alliance.services import delivery
from alliance.services.errors import InvalidInput
from alliance.web.deps import StaffAuth
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)

#: What each shown status means, for the page's key.
MEANINGS = {
    "queued": "waiting for the next sending run",
    "retrying": "the mail server did not take it; it will be tried again",
    "sending": "being sent now",
    "sent": "handed to the mail server",
    "opened": "the client opened the link",
    "completed": "the client finished the check-in",
    "failed": "could not be sent; see the reason, then copy a link by hand",
    "skipped": "not sent, for the reason given",
    "cancelled": "not sent: done or expired first",
}


@router.get("/outbox")
async def outbox(
    request: Request,
    auth: StaffAuth,
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    if status and status not in delivery.SHOWN_STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(delivery.SHOWN_STATUSES)}")
    rows = await auth.call(delivery.list_outbox, actor=auth.staff, status=status or None)
    return render(
        request,
        "outbox.html",
        {
            "nav": "outbox",
            "rows": rows,
            "status": status,
            "statuses": delivery.SHOWN_STATUSES,
            "meanings": MEANINGS,
            "show_therapist": auth.staff.role in ("admin", "supervisor"),
        },
    )
