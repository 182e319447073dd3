"""The admin's research exports in the app: ask for one (the options of ``alliance export``),
watch it being built in the background, download it, delete it.

Thin: each route is one service call (:mod:`alliance.services.export_jobs`); the export
itself is the CLI's (:func:`alliance.services.exports.export_clinic`), run by the app's
export worker, which a request wakes at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from alliance.services import export_jobs
from alliance.services.errors import InvalidInput
from alliance.services.exports import FORMATS
from alliance.web.deps import AdminAuth, Auth
from alliance.web.schemas import FreeText, PathId
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)

#: The formats as the form offers them (the values are the CLI's ``--format`` names).
FORMAT_LABELS = {
    "csv": "CSV (one file per table)",
    "parquet": "Parquet",
    "spss": "SPSS (.sav)",
    "stata": "Stata (.dta)",
    "rds": "R (.rds)",
    "fhir": "FHIR R4 Bundle (JSON)",
}
assert set(FORMAT_LABELS) == set(FORMATS)  # a new export format shows up on the form


async def _page(
    request: Request,
    auth: Auth,
    *,
    problem: str | None = None,
    chosen: str = "csv",
    deidentified: bool = True,
) -> Response:
    jobs = await auth.call(export_jobs.list_exports, actor=auth.staff)
    return render(
        request,
        "exports.html",
        {
            "nav": "exports",
            "jobs": jobs,
            "pending": any(j.pending for j in jobs),
            "formats": FORMAT_LABELS,
            "chosen": chosen,
            "deidentified": deidentified,
            "problem": problem,
            "keep_days": auth.ctx.settings.export_keep_days,
        },
        status_code=422 if problem else 200,
    )


@router.get("/admin/exports")
async def exports_page(request: Request, auth: AdminAuth) -> Response:
    return await _page(request, auth)


@router.post("/admin/exports")
async def request_export(
    request: Request,
    auth: AdminAuth,
    format: Annotated[FreeText, Form(max_length=20)] = "csv",
    scope: Annotated[FreeText, Form(max_length=20)] = "deidentified",
) -> Response:
    if scope not in ("deidentified", "full"):
        return await _page(
            request, auth, problem="scope: choose de-identified or full", chosen=format
        )
    deidentified = scope == "deidentified"
    try:
        job = await auth.call(
            export_jobs.request_export, actor=auth.staff, format=format, deidentified=deidentified
        )
    except InvalidInput as exc:
        return await _page(
            request, auth, problem=exc.message, chosen=format, deidentified=deidentified
        )
    worker = getattr(request.app.state, "export_worker", None)
    if worker is not None:
        worker.wake()
    return RedirectResponse(f"/admin/exports?flash=export#export-{job.id}", status_code=303)


@router.get("/admin/exports/{job_id}/download")
async def download(request: Request, auth: AdminAuth, job_id: PathId) -> Response:
    archive = await auth.call(export_jobs.download_export, actor=auth.staff, job_id=job_id)
    return Response(
        archive.data,
        media_type=archive.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{archive.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/admin/exports/{job_id}/delete")
async def delete(request: Request, auth: AdminAuth, job_id: PathId) -> Response:
    await auth.call(export_jobs.delete_export, actor=auth.staff, job_id=job_id)
    return RedirectResponse("/admin/exports?flash=exportdeleted", status_code=303)
