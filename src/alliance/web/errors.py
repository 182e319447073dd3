"""Turning failures into readable 4xx answers (an HTML page, or JSON under ``/api/``).

Service errors map to status codes in one place, from the ``status_code`` each error class
declares: ``NotFound`` → 404, ``Forbidden`` → 403, ``InvalidInput`` → 422 naming the field,
``Conflict`` → 409, ``LinkRefused`` → 410, any other ``ServiceError`` → 400. Request validation
errors list each bad field in plain words. Anything unexpected becomes a generic 500 page with
no traceback (the details go to the server log only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from alliance.services.errors import InvalidInput, ServiceError
from alliance.web.templating import render

log = logging.getLogger("alliance.web")

HEADINGS = {
    400: "That request could not be processed",
    401: "Please log in",
    403: "You do not have access to this",
    404: "Not found",
    405: "Not allowed",
    409: "That has changed in the meantime",
    410: "This link is no longer valid",
    422: "Please check what you entered",
    429: "Too many attempts",
    500: "Something went wrong",
}


class LoginRequired(Exception):
    """Raised by the authorization dependency when a page needs a logged-in user."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "login required")
        self.reason = reason


class TooManyRequests(Exception):
    """A rate limit was hit; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    problems: list[Problem] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one shape of an error: JSON ``{"detail", "errors"}`` for the API, a page otherwise."""
    if wants_json(request):
        body: dict[str, Any] = {"detail": message}
        if problems:
            body["errors"] = [{"field": p.field, "message": p.message} for p in problems]
        return JSONResponse(body, status_code=status, headers=headers)
    response = render(
        request,
        "error.html",
        {
            "heading": HEADINGS.get(status, "That did not work"),
            "message": message,
            "problems": problems or [],
            "back_url": "/",
        },
        status_code=status,
    )
    if headers:
        response.headers.update(headers)
    return response


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header")]
    return ".".join(parts) or "request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        # Each service error carries its own status (NotFound 404, Forbidden 403,
        # InvalidInput 422, Conflict 409, LinkRefused 410, ...).
        status = int(getattr(exc, "status_code", 400))
        if isinstance(exc, InvalidInput):
            problem = Problem(exc.field, exc.detail)
            return error_response(request, status, exc.message, problems=[problem])
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 and wants_json(request) else None
        return error_response(request, status, exc.message or HEADINGS[400], headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            Problem(_field_name(err.get("loc", ())), str(err.get("msg", "invalid")))
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems) or "invalid request"
        return error_response(request, 422, summary, problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HEADINGS.get(exc.status_code, "")
        return error_response(
            request, exc.status_code, detail, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return error_response(
                request,
                401,
                "Authentication required: send 'Authorization: Bearer <personal access token>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = "/login" + ("?flash=expired" if exc.reason == "expired" else "")
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(TooManyRequests)
    async def _too_many(request: Request, exc: TooManyRequests) -> Response:
        return error_response(
            request, 429, exc.message, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request, 500, "An unexpected error occurred. It has been logged; please try again."
        )
