"""The client progress report: the page (``/clients/{id}/report``) and its PDF
(``?format=pdf``, a download). One service call; the rendering is
:mod:`alliance.web.reports`, which the CLI uses too."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from alliance.services import reports as report_service
from alliance.services.errors import InvalidInput
from alliance.services.views import ClientReportView
from alliance.web import reports
from alliance.web.deps import StaffAuth
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
