"""Session analysis pages: attach a transcript to a session, read its analysis with the
evidence, download the self-contained report, and a therapist's indicators across sessions.

Thin: each page is one service call (:mod:`alliance.services.transcripts`); the charts are
the analysis report's own inline SVGs (rendered on the server, no scripts).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from alliance.analysis.report import (
    behaviour_chart,
    low_confidence,
    marker_timeline,
    render_html,
    talk_chart,
)
from alliance.services import transcripts
from alliance.services.errors import InvalidInput
from alliance.web.deps import Auth, StaffAuth
from alliance.web.schemas import FreeText, PathId
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)


async def _upload_page(
    request: Request, auth: Auth, session_id: int, *, problem: str | None = None
) -> Response:
    listing = await auth.call(
        transcripts.session_transcripts, actor=auth.staff, session_id=session_id
    )
    return render(
        request,
        "analysis_upload.html",
        {
            "nav": "caseload",
            "s": listing,
            "problem": problem,
            "max_mb": auth.ctx.settings.transcript_max_bytes / 1_000_000,
        },
        status_code=422 if problem else 200,
    )


@router.get("/sessions/{session_id}/transcripts")
async def upload_page(request: Request, auth: StaffAuth, session_id: PathId) -> Response:
    return await _upload_page(request, auth, session_id)


@router.post("/sessions/{session_id}/transcripts")
async def attach(
    request: Request,
    auth: StaffAuth,
    session_id: PathId,
    transcript: Annotated[UploadFile | None, File()] = None,
    therapist: Annotated[FreeText, Form(max_length=200)] = "",
) -> Response:
    limit = auth.ctx.settings.transcript_max_bytes
    # Read one byte past the limit: enough for the parser to name the line it is crossed on.
    data = await transcript.read(limit + 1) if transcript is not None else b""
    name = (transcript.filename if transcript is not None else None) or "transcript"
    try:
        summary = await auth.call(
            transcripts.attach_transcript,
            actor=auth.staff,
            session_id=session_id,
            filename=name,
            data=data,
            therapist_name=therapist or None,
        )
    except InvalidInput as exc:
        return await _upload_page(request, auth, session_id, problem=exc.detail)
    return RedirectResponse(f"/transcripts/{summary.id}", status_code=303)


@router.get("/transcripts/{transcript_id}")
async def analysis_page(request: Request, auth: StaffAuth, transcript_id: PathId) -> Response:
    analysis = await auth.call(
        transcripts.transcript_analysis, actor=auth.staff, transcript_id=transcript_id
    )
    result = analysis.result
    charts = await run_in_threadpool(
        lambda: [
            c for c in (talk_chart(result), behaviour_chart(result), marker_timeline(result)) if c
        ]
    )
    return render(
        request,
        "analysis_view.html",
        {
            "nav": "caseload",
            "a": analysis,
            "r": result,
            "s": result.summary,
            "charts": charts,
            "low": low_confidence(result),
        },
    )


@router.get("/transcripts/{transcript_id}/report.html")
async def report_download(request: Request, auth: StaffAuth, transcript_id: PathId) -> Response:
    analysis = await auth.call(
        transcripts.transcript_analysis, actor=auth.staff, transcript_id=transcript_id
    )
    page = await run_in_threadpool(render_html, analysis.result)
    # An attachment: opened from disk, the report's inline styles are not subject to the
    # app's content security policy, and it works offline.
    filename = f"session-{analysis.summary.session_number}-analysis.html"
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/therapists/{therapist_id}/analysis")
async def therapist_page(request: Request, auth: StaffAuth, therapist_id: PathId) -> Response:
    overview = await auth.call(
        transcripts.therapist_indicators, actor=auth.staff, therapist_id=therapist_id
    )
    return render(request, "analysis_therapist.html", {"nav": "team", "o": overview})
