"""Jinja2 environment and the one ``render`` helper every page goes through.

``render`` adds what every page needs (the current actor for the navigation, the CSRF token
for forms, a one-line flash message, the clinic's time zone for the ``when`` and ``day``
filters) so that route functions pass only their own data.

Templates are translatable (Jinja's i18n extension: ``{% trans %}`` and ``_()``); the catalogue
is chosen per page from the ``lang`` in its context (:mod:`alliance.web.i18n`), so a page
rendered without one (every staff page) is English.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from starlette.responses import HTMLResponse

from alliance.measures.registry import InstrumentError, InstrumentRegistry
from alliance.web import i18n

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def zone(name: str | None) -> ZoneInfo:
    """The clinic's time zone (UTC when unset or no longer known to this machine)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, time_zone: str | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """``value`` (UTC in the database) as the clinic reads it, with the zone's abbreviation
    when the format has a time ("03 Dec 2026 14:05 CET")."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone(time_zone))
    return local.strftime(fmt) + (f" {local.tzname()}" if "%H" in fmt else "")


def local_input(value: datetime, time_zone: str | None) -> str:
    """A ``datetime-local`` field's value in the clinic's time zone."""
    return value.astimezone(zone(time_zone)).strftime("%Y-%m-%dT%H:%M")


def from_local(value: datetime, time_zone: str | None) -> datetime:
    """A time without a zone, as staff typed it, read in the clinic's time zone (UTC out)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(time_zone))
    return value.astimezone(UTC)


@pass_context
def _when(context: Any, value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    return local_time(value, context.get("time_zone"), fmt)


@pass_context
def _day(context: Any, value: datetime | None) -> str:
    language = context.get("lang") or i18n.SOURCE_LANGUAGE
    if value is None or language == i18n.SOURCE_LANGUAGE:
        return local_time(value, context.get("time_zone"), "%d %b %Y")
    # A client page in another language names the month in it ("3 dic 2026").
    from babel.dates import format_date

    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    local = aware.astimezone(zone(context.get("time_zone")))
    return format_date(local.date(), "d MMM y", locale=language)


@pass_context
def _gettext(context: Any, message: str) -> str:
    return i18n.translations(context.get("lang")).gettext(message)


@pass_context
def _ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return i18n.translations(context.get("lang")).ngettext(singular, plural, n)


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
    "acknowledged-no-note": "Alert acknowledged without a note.",
    "resolved": "Alert resolved. Your note was saved.",
    "resolved-no-note": "Alert resolved without a note.",
    "session": "Session recorded.",
    "goals": "Goals saved.",
    "user": "User saved.",
    "settings": "Clinic settings saved.",
    "export": "Export requested. It is being built in the background; this page shows when "
    "it is ready.",
    "exportdeleted": "Export deleted.",
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


def _instrument_filter(registry: InstrumentRegistry) -> Callable[[object], str]:
    """``instrument_id|instrument``: the name staff know it by ("PHQ-9", "WAI-SR"), not its id
    (an id no instrument has any more is shown as it is)."""

    def name(instrument_id: object) -> str:
        try:
            return registry.get(str(instrument_id)).short_name
        except InstrumentError:
            return str(instrument_id)

    return name


def make_templates(registry: InstrumentRegistry | None = None) -> Jinja2Templates:
    """The app's Jinja2 environment; ``registry`` is the app context's instrument registry
    (bundled instruments only when not given)."""
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
    env = templates.env
    env.add_extension("jinja2.ext.i18n")
    # New-style gettext: placeholders are filled (and escaped) by Jinja, so a translation
    # cannot break the page's markup.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    # A {% trans %} block's line breaks are layout, not part of the message id.
    env.policies["ext.i18n.trimmed"] = True
    env.filters["when"] = _when
    env.filters["day"] = _day
    env.filters["num"] = _num
    env.filters["score"] = _score_filter(registry or InstrumentRegistry())
    env.filters["instrument"] = _instrument_filter(registry or InstrumentRegistry())
    env.filters["sentence"] = _sentence
    env.globals["static_url"] = lambda name: f"/static/{name}"
    env.globals["client_languages"] = [(c, i18n.language_name(c)) for c in i18n.shipped_languages()]
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
        # The clinic's, from the staff session; a client page passes its own.
        "time_zone": getattr(state, "time_zone", "UTC"),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)
