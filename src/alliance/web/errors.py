"""Turning failures into readable 4xx answers (an HTML page, or JSON under ``/api/``).

Service errors map to status codes in one place, from the ``status_code`` each error class
declares: ``NotFound`` → 404, ``Forbidden`` → 403, ``InvalidInput`` → 422 naming the field,
``Conflict`` → 409, ``LinkRefused`` → 410, any other ``ServiceError`` → 400. Request validation
errors list each bad field in plain words (422), except two: a path id outside 1..2**31-1 (what
the id columns hold) is 404, as for any other address with nothing behind it (an id that is no
number stays a 422 that says so), and a body that is not JSON at all (bad syntax, bad UTF-8,
nested too deep to read) is 400. Anything unexpected becomes a generic 500 page with no
traceback (the details go to the server log only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from alliance.services.errors import InvalidInput, ServiceError, TooManyAttempts
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


NOT_FOUND = "There is nothing at this address."
NOT_JSON = "The request body is not valid JSON."
FASTAPI_BODY_UNREADABLE = "There was an error parsing the body"


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


def _id_out_of_range(error: Mapping[str, Any]) -> bool:
    # A number in the path beyond the ids that can exist (``PathId``) names nothing: not found.
    # A path segment that is no number at all stays a 422 that says so.
    in_path = tuple(error.get("loc", ()))[:1] == ("path",)
    return in_path and error.get("type") in ("greater_than_equal", "less_than_equal")


def _message(error: Mapping[str, Any]) -> str:
    # Our own validators' words, without pydantic's "Value error, " in front of them.
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        # Each service error carries its own status (NotFound 404, Forbidden 403,
        # InvalidInput 422, Conflict 409, LinkRefused 410, ...).
        status = int(getattr(exc, "status_code", 400))
        if isinstance(exc, InvalidInput):
            problems = [Problem(field, message) for field, message in exc.problems]
            return error_response(request, status, exc.message, problems=problems)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 and wants_json(request) else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(request, status, exc.message or HEADINGS[400], headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(_id_out_of_range(err) for err in errors):
            return error_response(request, 404, NOT_FOUND)
        if any(err.get("type") == "json_invalid" for err in errors):
            return error_response(request, 400, NOT_JSON)
        problems = [Problem(_field_name(err.get("loc", ())), _message(err)) for err in errors]
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems) or "invalid request"
        return error_response(request, 422, summary, problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HEADINGS.get(exc.status_code, "")
        if exc.status_code == 400 and detail == FASTAPI_BODY_UNREADABLE:
            # FastAPI's words when it cannot read a body at all (e.g. JSON nested thousands
            # of levels deep): the same answer as for any other body that is not JSON.
            detail = NOT_JSON
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
