"""The printable reports: the client progress report (``/clients/{id}/report``) and the clinic
outcome report (``/reports/clinic?from=…&to=…``, admins and supervisors), each as a page and, with
``?format=pdf``, a PDF download. One service call each; the rendering is
:mod:`alliance.web.reports`, which the CLI uses too."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from alliance.services import outcomes as outcome_service
from alliance.services import reports as report_service
from alliance.services.errors import InvalidInput
from alliance.services.views import ClientReportView, ClinicOutcomesView
from alliance.web import reports
from alliance.web.deps import StaffAuth, SupervisorAuth
from alliance.web.schemas import PathId
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)

FORMATS = ("html", "pdf")


@router.get("/clients/{client_id}/report")
async def client_report(
    request: Request,
    auth: StaffAuth,
    client_id: PathId,
    format: Annotated[str, Query(max_length=8)] = "html",
) -> Response:
    if format not in FORMATS:
        raise InvalidInput("format", f"must be one of {', '.join(FORMATS)}, not {format!r}")
    view: ClientReportView = await auth.call(
        report_service.client_report, actor=auth.staff, client_id=client_id
    )
    if format == "pdf":
        # Laying out a PDF takes about a second of CPU: off the event loop.
        pdf = await run_in_threadpool(reports.report_pdf, request.app.state.templates.env, view)
        name = reports.filename(view, "pdf")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    context = reports.report_context(view)
    return render(request, reports.TEMPLATE, {"nav": "caseload", "standalone": False, **context})


def parse_day(value: str | None, where: str, default: date) -> date:
    """A ``YYYY-MM-DD`` query value (empty: ``default``); anything else is a 400 naming it."""
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(where, f"must be a date as YYYY-MM-DD, not {value!r}") from None


def default_period(today: date) -> tuple[date, date]:
    """The year up to and including ``today``."""
    return today - timedelta(days=364), today


@router.get("/reports/clinic")
async def clinic_report(
    request: Request,
    auth: SupervisorAuth,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    format: Annotated[str, Query(max_length=8)] = "html",
) -> Response:
    if format not in FORMATS:
        raise InvalidInput("format", f"must be one of {', '.join(FORMATS)}, not {format!r}")
    first, last = default_period(auth.ctx.now().date())
    view: ClinicOutcomesView = await auth.call(
        outcome_service.clinic_outcomes,
        actor=auth.staff,
        start=parse_day(start, "from", first),
        end=parse_day(end, "to", last),
    )
    if format == "pdf":
        pdf = await run_in_threadpool(
            reports.clinic_report_pdf, request.app.state.templates.env, view
        )
        name = reports.clinic_filename(view, "pdf")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    context = reports.clinic_context(view)
    return render(request, reports.CLINIC_TEMPLATE, {"nav": "team", "standalone": False, **context})
