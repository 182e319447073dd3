"""The front door, a health check and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse

from alliance.web.deps import PublicAuth

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(auth: PublicAuth) -> RedirectResponse:
    """Staff land on their caseload; everyone else on the login page."""
    return RedirectResponse("/caseload" if auth.actor else "/login", status_code=303)


@router.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
async def healthz(auth: PublicAuth) -> dict[str, str]:
    """Liveness for a reverse proxy or orchestrator (no database access, no data)."""
    return {"status": "ok"}


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, auth: PublicAuth) -> JSONResponse:
    """The API's OpenAPI document (a description of endpoints; it contains no records)."""
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)
