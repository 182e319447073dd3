"""The client's check-in pages (public; the link's token in the path is the credential).

``GET /c/{token}`` shows the form, ``POST /c/{token}`` submits it once, or (the "Save and
finish later" button) keeps the answers so far for the same link; ``POST /c/{token}/draft``
does the same for the page's script, which saves as the client goes. A used, expired or
unknown link gets a friendly page (410), never a stack trace. The thank-you page shows the
client their own progress chart only when the clinic allows it, and the clinic's crisis text
when the answers raised a risk flag (the therapist is then e-mailed a notice with nothing
clinical in it, when SMTP is configured).

Each page is in the client's language (:func:`alliance.web.i18n.client_language`: ``?lang=``,
which the form's action keeps, then the clinic's ``client_language``, then the browser's);
a questionnaire is shown in another language only from a validated translation file the
clinic installed, otherwise in its own language with a note saying so.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

from alliance.adapters import mail
from alliance.measures.instrument import Instrument
from alliance.measures.progress_words import goal_words
from alliance.services import checkins
from alliance.services.clinic_settings import DEFAULT_CRISIS_MESSAGE
from alliance.services.errors import InvalidInput, LinkRefused, NotFound
from alliance.services.views import CheckInForm, CheckInResult, ClientProgressView
from alliance.web import charts, i18n
from alliance.web.deps import Auth, LinkAuth
from alliance.web.forms import (
    ACTION_FIELD,
    ANSWER_THIS,
    GOAL_PREFIX,
    MANIFEST_FIELD,
    MANIFEST_SIG_FIELD,
    UNKNOWN_FIELD,
    ParsedAnswers,
    all_answered,
    draft_values,
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

# The client's own chart's axis titles (message ids of the catalogue).
SESSION_AXIS = "Session"
HIGHER_BETTER = "%(title)s (higher is better)"
LOWER_BETTER = "%(title)s (lower is better)"


def _refused(
    request: Request, exc: LinkRefused, progress: dict[str, Any] | None = None
) -> Response:
    # A refused link names no clinic, so only the link and the browser choose the language.
    lang = i18n.client_language(request)
    return render(
        request,
        "checkin/unavailable.html",
        {"reason": exc.reason, "message": exc.message, "lang": lang, **(progress or {})},
        status_code=410,
    )


def _gettext(lang: str) -> Any:
    return i18n.translations(lang).gettext


def _form_page(
    request: Request,
    auth: Auth,
    form: CheckInForm,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    saved: bool = False,
) -> Response:
    manifest = ",".join(required_names(form))
    lang = i18n.client_language(request, clinic_default=form.client_language)
    registry = auth.ctx.instruments
    languages = {s.instrument_id: registry.get(s.instrument_id).language for s in form.sections}
    translations: dict[str, Instrument] = {}
    for instrument_id, own in languages.items():
        if own.split("-")[0] != lang and (found := registry.translation(instrument_id, lang)):
            translations[instrument_id] = found
    sections = sections_for(
        form,
        _descriptions(auth, form),
        translate=_gettext(lang),
        language=lang,
        languages=languages,
        translations=translations,
    )
    return render(
        request,
        "checkin/form.html",
        {
            "token": auth.link_token,
            "manifest": manifest,
            "manifest_sig": sign(auth.ctx.settings.secret_key, _manifest_purpose(auth), manifest),
            "sections": sections,
            "question_count": sum(len(section.questions) for section in sections),
            "therapist_name": form.therapist_display_name,
            "session_number": form.session_number,
            "session_at": form.session_at,
            "expires_at": form.expires_at,
            "clinic_name": form.clinic_name,
            "time_zone": form.time_zone,
            "values": values if values is not None else draft_values(form.draft),
            "errors": errors or {},
            "saved": saved,
            "resumed": values is None and form.draft.count() > 0,
            "lang": lang,
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
        # A client coming back to a link they used sees their progress there, while the
        # link lasts (when the clinic shows it).
        progress = (
            await _progress(auth, token, i18n.client_language(request))
            if exc.reason == "used"
            else {}
        )
        return _refused(request, exc, progress)
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
    page, or the field errors the service found in the answers (its own messages, which
    :func:`_shown` puts in the page's language)."""
    try:
        result = await auth.call(checkins.record_check_in, token, parsed.instruments, parsed.goals)
    except LinkRefused as exc:
        return _refused(request, exc)
    except InvalidInput as exc:
        return {form_field_for_error(exc.field): exc.detail}
    return await _thanks(request, auth, token, result)


async def _save_draft(
    request: Request, auth: Auth, token: str, fields: list[tuple[str, str]]
) -> LinkRefused | dict[str, str]:
    """Keep the answers so far: the refusal, or the field errors (empty when saved), as the
    services word them (the caller, knowing the page's language, puts them in it)."""
    parsed = parse_answers(fields)
    errors = _not_storable_text(fields)
    if parsed.unknown:
        # A message id itself, which client_message translates as any other.
        errors.setdefault(parsed.unknown[0], UNKNOWN_FIELD)
    if errors:
        return errors
    try:
        await auth.call(checkins.save_checkin_draft, token, parsed.instruments, parsed.goals)
    except LinkRefused as exc:
        return exc
    except InvalidInput as exc:
        return {form_field_for_error(exc.field): exc.detail}
    return {}


def _shown(errors: dict[str, str], lang: str) -> dict[str, str]:
    """The services' field messages as the client reads them: in the page's language (see
    :func:`alliance.web.i18n.client_message`), as a sentence."""
    return {
        field: _readable(i18n.client_message(text if text.strip() else ANSWER_THIS, lang))
        for field, text in errors.items()
    }


@router.post("/c/{token}/draft")
async def checkin_draft(request: Request, auth: LinkAuth, token: str) -> Response:
    """The page's script saving as the client goes: 204, or 410/422 with the reason."""
    form_data = await request.form()
    fields = [(k, v) for k, v in form_data.multi_items() if isinstance(v, str)]
    kept = await _save_draft(request, auth, token, fields)
    if isinstance(kept, LinkRefused):
        # As every refused link's page: only ?lang= and the browser choose.
        message = _gettext(i18n.client_language(request))(kept.message)
        return JSONResponse({"detail": message}, status_code=410)
    if kept:
        clinic_default = await _clinic_language(request, auth, token)
        lang = i18n.client_language(request, clinic_default=clinic_default)
        return JSONResponse({"detail": _shown(kept, lang)}, status_code=422)
    return Response(status_code=204)


async def _clinic_language(request: Request, auth: Auth, token: str) -> str | None:
    """The clinic's ``client_language``, in the same order as the form page, for the draft
    save's refusal: read only when ``?lang=`` does not decide already (the page's own script
    always sends it), and then only that setting, not the whole form."""
    if i18n.asked_language(request) is not None:
        return None
    return await auth.call(checkins.checkin_client_language, token)


@router.post("/c/{token}")
async def checkin_submit(request: Request, auth: LinkAuth, token: str) -> Response:
    form_data = await request.form()
    fields = [(k, v) for k, v in form_data.multi_items() if isinstance(v, str)]
    if form_data.get(ACTION_FIELD) == "save":
        kept = await _save_draft(request, auth, token, fields)
        if isinstance(kept, LinkRefused):
            return _refused(request, kept)
        try:
            form = await auth.call(checkins.open_checkin, token)
        except LinkRefused as exc:
            return _refused(request, exc)
        lang = i18n.client_language(request, clinic_default=form.client_language)
        return _form_page(
            request,
            auth,
            form,
            values=posted_values(dict(fields)),
            errors=_shown(kept, lang),
            status_code=422 if kept else 200,
            saved=not kept,
        )
    parsed = parse_answers(fields)
    problems = _not_storable_text(fields)
    if not problems and _complete_by_manifest(auth, form_data, parsed):
        outcome = await _record(request, auth, token, parsed)
        if isinstance(outcome, Response):
            return outcome
        problems = outcome
    try:
        form = await auth.call(checkins.open_checkin, token)
    except LinkRefused as exc:
        return _refused(request, exc)
    # Only now is the page's language known (the clinic's default comes with the form).
    lang = i18n.client_language(request, clinic_default=form.client_language)
    errors = _shown(problems, lang)
    if not errors:
        translate = _gettext(lang)
        errors = missing_required(form, parsed, translate=translate)
        if parsed.unknown:
            errors[parsed.unknown[0]] = translate(UNKNOWN_FIELD)
    if not errors:
        outcome = await _record(request, auth, token, parsed)
        if isinstance(outcome, Response):
            return outcome
        errors = _shown(outcome, lang)
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
            problems.setdefault(name, exc.detail)
    return problems


async def _thanks(request: Request, auth: Auth, token: str, result: CheckInResult) -> Response:
    lang = i18n.client_language(request, clinic_default=result.client_language)
    context: dict[str, Any] = await _progress(auth, token, lang) if result.show_progress else {}
    # The service says whether these answers raised a risk flag; the client then sees what to
    # do if they are in danger now (the clinic's own text).
    context["crisis_message"] = result.crisis_message if result.risk_flagged else None
    # Only the shipped default has a translation; a clinic's own text is shown as written.
    context["crisis_is_default"] = result.crisis_message == DEFAULT_CRISIS_MESSAGE
    context["lang"] = lang
    context["crisis_contacts"] = result.crisis_contacts
    context["clinic_name"] = result.clinic_name
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
    return (text[:1].upper() + text[1:]) if text else ANSWER_THIS


async def _progress(auth: Auth, token: str, lang: str = i18n.SOURCE_LANGUAGE) -> dict[str, Any]:
    """The client's own progress (what the clinic shows): each outcome questionnaire's chart
    with its plain words, and the goal ratings. Empty when the clinic shows none."""
    try:
        view: ClientProgressView = await auth.call(checkins.checkin_progress, token)
    except (NotFound, LinkRefused):
        return {}
    translate = _gettext(lang)
    outcomes = []
    for own in view.outcomes:
        instrument = auth.ctx.instruments.get(own.instrument_id)
        points = [charts.Point(x, y) for x, y in own.points]
        low, high = instrument.score_range
        svg = await _render(
            charts.outcome_chart,
            points,
            y_min=low,
            y_max=high,
            title=instrument.short_name,
            higher_is_better=instrument.direction == "higher_is_better",
            axis_titles=_axis_titles(translate, instrument.short_name, instrument.direction),
        )
        # The title as the client read it: the installed translation's, where there is one.
        translated = (
            auth.ctx.instruments.translation(own.instrument_id, lang)
            if instrument.language.split("-")[0] != lang
            else None
        )
        outcomes.append(
            {
                "view": own,
                "title": translated.title if translated else own.title,
                "chart": svg,
                "points": points,
                # The service's sentences are the catalogue's message ids.
                "words": translate(own.words),
            }
        )
    if not outcomes and not view.goals:
        return {}
    goals = [
        {
            "text": g.text,
            "ratings": g.ratings,
            "words": goal_words(g.ratings[0], g.ratings[-1], len(g.ratings), translate=translate),
        }
        for g in view.goals
    ]
    return {"progress": {"outcomes": outcomes, "goals": goals}}


def _axis_titles(translate: Any, title: str, direction: str) -> tuple[str, str]:
    better = HIGHER_BETTER if direction == "higher_is_better" else LOWER_BETTER
    return translate(SESSION_AXIS), translate(better) % {"title": title}


async def _render(func: Any, *args: Any, **kwargs: Any) -> str:
    from starlette.concurrency import run_in_threadpool

    return str(await run_in_threadpool(func, *args, **kwargs))
