"""The client's check-in pages (public; the link's token in the path is the credential).

``GET /c/{token}`` shows the form, ``POST /c/{token}`` submits it once. A used, expired or
unknown link gets a friendly page (410), never a stack trace. The thank-you page shows the
client their own progress chart only when the clinic allows it, and the clinic's crisis text
when the answers raised a risk flag (the therapist is then e-mailed a notice with nothing
clinical in it, when SMTP is configured).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import Response

from alliance.adapters import mail
from alliance.services import checkins
from alliance.services.errors import InvalidInput, LinkRefused, NotFound
from alliance.services.views import CheckInForm, CheckInResult, ScoreView
from alliance.web import charts
from alliance.web.deps import Auth, LinkAuth
from alliance.web.forms import (
    GOAL_PREFIX,
    MANIFEST_FIELD,
    MANIFEST_SIG_FIELD,
    ParsedAnswers,
    all_answered,
    missing_required,
    parse_answers,
    posted_values,
    required_names,
    sections_for,
)
from alliance.web.routes._form_values import form_text
from alliance.web.security import sign, signature_valid
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)


def _refused(request: Request, exc: LinkRefused) -> Response:
    return render(
        request,
        "checkin/unavailable.html",
        {"reason": exc.reason, "message": exc.message},
        status_code=410,
    )


def _form_page(
    request: Request,
    auth: Auth,
    form: CheckInForm,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    manifest = ",".join(required_names(form))
    return render(
        request,
        "checkin/form.html",
        {
            "token": auth.link_token,
            "manifest": manifest,
            "manifest_sig": sign(auth.ctx.settings.secret_key, _manifest_purpose(auth), manifest),
            "sections": sections_for(form, _descriptions(auth, form)),
            "therapist_name": form.therapist_display_name,
            "session_number": form.session_number,
            "session_at": form.session_at,
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


def _descriptions(auth: Auth, form: CheckInForm) -> dict[str, str | None]:
    registry = auth.ctx.instruments
    return {s.instrument_id: registry.get(s.instrument_id).description for s in form.sections}


@router.get("/c/{token}")
async def checkin_form(request: Request, auth: LinkAuth, token: str) -> Response:
    try:
        form = await auth.call(checkins.open_checkin, token)
    except LinkRefused as exc:
        return _refused(request, exc)
    return _form_page(request, auth, form)


def form_field_for_error(field: str) -> str:
    """The form field a service's ``InvalidInput.field`` refers to.

    The service names items ``<instrument>.<linkId>`` and goals ``goal_<id>``; the form uses
    ``<instrument>/<linkId>`` and ``goal/<id>`` (instrument ids contain no dot).
    """
    if field.startswith("goal_") and field[5:].isdigit():
        return f"{GOAL_PREFIX}{field[5:]}"
    instrument_id, sep, link_id = field.partition(".")
    return f"{instrument_id}/{link_id}" if sep else field


def _manifest_purpose(auth: Auth) -> str:
    return f"required|{auth.link_token}"


def _complete_by_manifest(auth: Auth, form_data: Any, parsed: ParsedAnswers) -> bool:
    """True when the page's signed list of required fields is intact and all are answered.

    The list is signed for this link when the form is shown, so a submission can be checked
    for completeness without reading the check-in again (one transaction fewer per
    submission); anything else takes the slow path that re-reads the form.
    """
    manifest = form_data.get(MANIFEST_FIELD)
    signature = form_data.get(MANIFEST_SIG_FIELD)
    if not isinstance(manifest, str) or not isinstance(signature, str):
        return False
    if not signature_valid(
        auth.ctx.settings.secret_key, _manifest_purpose(auth), manifest, signature
    ):
        return False
    names = [n for n in manifest.split(",") if n]
    return not parsed.unknown and all_answered(names, parsed)


async def _record(
    request: Request, auth: Auth, token: str, parsed: ParsedAnswers
) -> Response | dict[str, str]:
    """One place for recording a submission (fast and slow path alike): the thanks or refusal
    page, or the field errors the service found in the answers."""
    try:
        result = await auth.call(checkins.record_check_in, token, parsed.instruments, parsed.goals)
    except LinkRefused as exc:
        return _refused(request, exc)
    except InvalidInput as exc:
        return {form_field_for_error(exc.field): _readable(exc.detail)}
    return await _thanks(request, auth, token, result)


@router.post("/c/{token}")
async def checkin_submit(request: Request, auth: LinkAuth, token: str) -> Response:
    form_data = await request.form()
    fields = [(k, v) for k, v in form_data.multi_items() if isinstance(v, str)]
    parsed = parse_answers(fields)
    errors = _not_storable_text(fields)
    if not errors and _complete_by_manifest(auth, form_data, parsed):
        outcome = await _record(request, auth, token, parsed)
        if isinstance(outcome, Response):
            return outcome
        errors = outcome
    try:
        form = await auth.call(checkins.open_checkin, token)
    except LinkRefused as exc:
        return _refused(request, exc)
    if not errors:
        errors = missing_required(form, parsed)
        if parsed.unknown:
            errors[parsed.unknown[0]] = "This is not a question of this check-in."
    if not errors:
        outcome = await _record(request, auth, token, parsed)
        if isinstance(outcome, Response):
            return outcome
        errors = outcome
    return _form_page(
        request, auth, form, values=posted_values(dict(fields)), errors=errors, status_code=422
    )


def _not_storable_text(fields: list[tuple[str, str]]) -> dict[str, str]:
    """Answers that are no storable text (a NUL character, an over-long comment), by field: the
    same rule as every other free-text input (:data:`alliance.web.schemas.FreeText`)."""
    problems: dict[str, str] = {}
    for name, value in fields:
        try:
            form_text(value, name)
        except InvalidInput as exc:
            problems.setdefault(name, _readable(exc.detail))
    return problems


async def _thanks(request: Request, auth: Auth, token: str, result: CheckInResult) -> Response:
    context: dict[str, Any] = await _progress(auth, token) if result.show_progress else {}
    # The service says whether these answers raised a risk flag; the client then sees what to
    # do if they are in danger now (the clinic's own text).
    context["crisis_message"] = result.crisis_message if result.risk_flagged else None
    context["crisis_contacts"] = result.crisis_contacts
    response = render(request, "checkin/thanks.html", context)
    settings = auth.ctx.settings
    if result.risk_flagged and result.notify_email and mail.smtp_configured(settings):
        # After the check-in's transaction has committed, and after the client has their page:
        # the notice carries nothing clinical, and a mail failure must not touch either.
        notice = mail.attention_notice(settings, to=result.notify_email)
        response.background = BackgroundTask(mail.send_quietly, settings, notice)
    return response


def _readable(detail: str) -> str:
    text = detail.strip()
    return (text[:1].upper() + text[1:]) if text else "Please answer this question."


async def _progress(auth: Auth, token: str) -> dict[str, Any]:
    """The client's own outcome chart (first outcome measure with at least one score)."""
    try:
        scores: list[ScoreView] = await auth.call(checkins.checkin_progress, token)
    except (NotFound, LinkRefused):
        return {}
    by_instrument: dict[str, list[ScoreView]] = {}
    for score in scores:
        if score.valid and score.total is not None:
            by_instrument.setdefault(score.instrument_id, []).append(score)
    for instrument_id, rows in by_instrument.items():
        instrument = auth.ctx.instruments.get(instrument_id)
        if instrument.kind != "outcome":
            continue
        points = [
            charts.Point(float(s.session_number or i), float(s.total or 0.0))
            for i, s in enumerate(rows, start=1)
        ]
        low, high = instrument.score_range
        svg = await _render(
            charts.outcome_chart,
            points,
            y_min=low,
            y_max=high,
            title=instrument.title,
            higher_is_better=instrument.direction == "higher_is_better",
        )
        return {
            "progress_chart": svg,
            "progress_title": f"Your {instrument.title} scores",
            "progress_points": points,
        }
    return {}


async def _render(func: Any, *args: Any, **kwargs: Any) -> str:
    from starlette.concurrency import run_in_threadpool

    return str(await run_in_threadpool(func, *args, **kwargs))
