"""Jinja2 environment and the one ``render`` helper every page goes through.

``render`` adds what every page needs (the current actor for the navigation, the CSRF token
for forms, a one-line flash message) so that route functions pass only their own data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from alliance.measures.registry import InstrumentError, InstrumentRegistry

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def _when(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(fmt) + (" UTC" if "%H" in fmt else "")


def _day(value: datetime | None) -> str:
    return _when(value, "%d %b %Y")


def _num(value: float | None, digits: int = 1, fixed: bool = False) -> str:
    """``digits`` decimals; a whole number without them unless ``fixed`` (for averages, where
    "4" beside "4.42" would read as a different kind of number)."""
    if value is None:
        return "—"
    if float(value).is_integer() and not fixed:
        return str(int(value))
    return f"{value:.{digits}f}"


def _score_filter(registry: InstrumentRegistry) -> Callable[..., str]:
    """``value|score(instrument_id)``: a mean-scored instrument's score always with two
    decimals (WAI-SR 4.00, 3.58), a summed one as the whole number it is (PHQ-9 17)."""

    def mean_scored(instrument_id: str) -> bool:
        try:
            return registry.get(instrument_id).scoring.method == "mean"
        except InstrumentError:
            return False

    def score(value: float | None, instrument_id: str | None = None) -> str:
        return _num(value, 2, fixed=bool(instrument_id) and mean_scored(str(instrument_id)))

    return score


# Messages shown after a redirect, chosen by a short code in ``?flash=`` so that a crafted
# link cannot put arbitrary text on a clinician's screen.
FLASH_MESSAGES = {
    "acknowledged": "Alert acknowledged. Your note was saved.",
    "resolved": "Alert resolved. Your note was saved.",
    "session": "Session recorded.",
    "goals": "Goals saved.",
    "user": "User saved.",
    "settings": "Clinic settings saved.",
    "plan": "Measurement plan saved.",
    "token": "Access token revoked.",
    "mfa": "Two-step sign-in is now on for your account.",
    "loggedout": "You have been logged out.",
    "codes": "Too many wrong codes. Please log in again with your password.",
    "password": "Your password was changed. Your other sessions have ended.",
    "reset": "That user must choose a new password at their next sign-in; "
    "their sessions and access tokens have ended.",
    "expired": "Your session expired. Please log in again.",
    "emailed": "The check-in link was e-mailed to the client.",
    "client": "Client added. Agree goals and send the first check-in below.",
    "ended": "Episode of care ended.",
    "emails": "The client's choice about check-in e-mails was saved.",
    "handedover": "Handed over: the episode ended (fit); your colleague continues with the client.",
    "bulkacknowledged": "The selected alerts were acknowledged.",
    "nothingacknowledged": "Nothing to acknowledge: those alerts were already acknowledged.",
    "supervision": "Marked as discussed in supervision. Your note was saved.",
    "riskclosed": "Risk alert closed with your follow-up note.",
}


def _sentence(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def make_templates(registry: InstrumentRegistry | None = None) -> Jinja2Templates:
    """The app's Jinja2 environment; ``registry`` is the app context's instrument registry
    (bundled instruments only when not given)."""
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
    env = templates.env
    env.filters["when"] = _when
    env.filters["day"] = _day
    env.filters["num"] = _num
    env.filters["score"] = _score_filter(registry or InstrumentRegistry())
    env.filters["sentence"] = _sentence
    env.globals["static_url"] = lambda name: f"/static/{name}"
    env.trim_blocks = True
    env.lstrip_blocks = True
    return templates


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` with the request's actor, CSRF token and flash message added."""
    templates: Jinja2Templates = request.app.state.templates
    state = request.state
    ctx: dict[str, Any] = {
        "actor": getattr(state, "actor", None),
        "user_name": getattr(state, "user_name", None),
        "csrf_token": getattr(state, "csrf_token", ""),
        "flash": FLASH_MESSAGES.get(request.query_params.get("flash", "")),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)
