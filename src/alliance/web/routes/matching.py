"""Matching pages: the public intake form, the admin's matching queue (proposals with
reasons; accept, override or hold, each recorded), the therapist's matching profile editor,
and the fit-and-change page (alternatives for an episode whose fit is ending; hand over with
the client's consent).

Routes stay thin: parse the form, call :mod:`alliance.services.matching`, render. The same
use cases as JSON are in :mod:`alliance.web.routes.api_v1`, like every other JSON endpoint.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from alliance.matching import vocabulary
from alliance.matching.refit import FIT_END_REASONS, FitEndDetail, is_fit_end_detail
from alliance.messages import Msg
from alliance.services import matching as service
from alliance.services.errors import Conflict, InvalidInput
from alliance.web.deps import AdminAuth, Auth, PublicAuth, StaffAuth, limit_intakes
from alliance.web.i18n import (
    SOURCE_LANGUAGE,
    client_language,
    client_message,
    language_name,
    translations,
)
from alliance.web.routes._form_values import form_text, optional_int
from alliance.web.schemas import PathId
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)

DAYS = (("mon", "Mon"), ("tue", "Tue"), ("wed", "Wed"), ("thu", "Thu"), ("fri", "Fri"),
        ("sat", "Sat"), ("sun", "Sun"))  # fmt: skip
PARTS = {"morning": ("08:00", "12:00"), "afternoon": ("12:00", "17:00"),
         "evening": ("17:00", "21:00")}  # fmt: skip
IMPORTANCE = ("prefer", "must")


def _vocab_context() -> dict[str, Any]:
    voc = vocabulary()
    return {
        "concerns": voc.concerns,
        "modalities": voc.modalities,
        "age_groups": voc.age_groups,
        "modes": voc.modes,
        "styles": voc.styles,
        "days": DAYS,
        "parts": PARTS,
    }


def _words(value: str) -> list[str]:
    return [w.strip() for w in value.replace(";", ",").split(",") if w.strip()]


def _text(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return form_text(value.strip(), name, limit) if isinstance(value, str) else ""


def _many(form: FormData, name: str) -> list[str]:
    return [form_text(v, name, 200) for v in form.getlist(name) if isinstance(v, str) and v]


def _number(form: FormData, name: str) -> float | None:
    raw = _text(form, name, 20)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(name, Msg("{value} is not a number", value=repr(raw))) from None


def intake_from_form(form: FormData) -> dict[str, Any]:
    """The intake JSON (as ``ClientIntake`` reads it) from the public form's fields."""
    main = _text(form, "concern_main", 40)
    concerns = [main] + [c for c in _many(form, "concerns_other") if c != main]
    availability = []
    for day, _ in DAYS:
        for part, (start, end) in PARTS.items():
            if f"{day}-{part}" in _many(form, "avail"):
                availability.append(f"{day} {start}-{end}")
    prefs: list[dict[str, Any]] = []

    def wish(attribute: str, values: list[str], importance_field: str) -> None:
        importance = _text(form, importance_field, 10) or "prefer"
        if importance not in IMPORTANCE:
            raise InvalidInput(importance_field, Msg("choose prefer or must"))
        prefs.append({"attribute": attribute, "values": values, "importance": importance})

    if style := _text(form, "style_words"):
        wish("style", [style], "style_importance")
    if modality := _text(form, "modality", 40):
        wish("modality", [modality], "modality_importance")
    if gender := _text(form, "gender", 80):
        wish("gender", [gender], "gender_importance")
    if faith := _text(form, "faith", 80):
        wish("faith", [faith], "faith_importance")
    if lgbtq := _text(form, "lgbtq_affirming", 10):
        if lgbtq not in IMPORTANCE:
            raise InvalidInput("lgbtq_affirming", Msg("choose prefer or must"))
        prefs.append({"attribute": "lgbtq_affirming", "importance": lgbtq})
    data: dict[str, Any] = {
        "concerns": [c for c in concerns if c],
        "languages": _words(_text(form, "languages")) or ["english"],
        "modes": _many(form, "modes") or ["in_person", "video"],
        "availability": availability,
        "age_group": _text(form, "age_group", 20) or "adult",
        "preferences": prefs,
        "consent": _text(form, "consent", 5) == "yes",
    }
    if (fee := _number(form, "max_fee")) is not None:
        data["max_fee"] = fee
    if insurer := _text(form, "insurer", 80):
        data["insurer"] = insurer
    return data


def profile_from_form(form: FormData) -> dict[str, Any]:
    """The matching profile JSON from the editor's fields."""
    identity: dict[str, Any] = {}
    for key in ("gender", "ethnicity", "faith"):
        if value := _text(form, key, 80):
            identity[key] = value
    lgbtq = _text(form, "lgbtq_affirming", 5)
    if lgbtq in ("yes", "no"):
        identity["lgbtq_affirming"] = lgbtq == "yes"
    data: dict[str, Any] = {
        "modalities": _many(form, "modalities"),
        "styles": {
            s: _number(form, f"style_{s}") or 0.0
            for s in ("collaborative", "supportive", "directive")
        },
        "specialties": _many(form, "specialties"),
        "languages": _words(_text(form, "languages")),
        "age_groups": _many(form, "age_groups"),
        "modes": _many(form, "modes"),
        "availability": [
            line.strip() for line in _text(form, "availability", 2000).splitlines() if line.strip()
        ],
        "capacity": {
            "new_per_week": int(_number(form, "new_per_week") or 0),
            "caseload_limit": int(_number(form, "caseload_limit") or 0),
        },
        "fee": _number(form, "fee") or 0.0,
        "insurers": _words(_text(form, "insurers")),
        "identity": identity,
        "accepting_new": _text(form, "accepting_new", 5) == "yes",
    }
    if location := _text(form, "location", 80):
        data["location"] = location
    return data


#: What the intake form calls each field (the service names it by its JSON path), and the id
#: of the form control to jump to. The labels are message ids of the client catalogues.
INTAKE_LABELS: dict[str, tuple[str, str]] = {
    "contact_name": ("What should we call you?", "f-name"),
    "contact_email": ("E-mail", "f-email"),
    "contact_phone": ("Phone", "f-phone"),
    "age_group": ("Who is the therapy for?", "f-age"),
    "concerns": ("What would you like help with?", "f-main"),
    "concern_main": ("What would you like help with?", "f-main"),
    "style": ("How your therapist should work with you", "f-style"),
    "style_words": ("How your therapist should work with you", "f-style"),
    "style_importance": ("How your therapist should work with you", "f-style"),
    "modality": ("A particular kind of therapy", "f-modality"),
    "modality_importance": ("A particular kind of therapy", "f-modality"),
    "modes": ("How would you like to meet?", "when-h"),
    "languages": ("Languages you can have therapy in", "f-lang"),
    "availability": ("When can you come?", "when-h"),
    "max_fee": ("The most you can pay per session", "f-fee"),
    "insurer": ("Your insurer", "f-ins"),
    "gender": ("Therapist's gender", "f-gender"),
    "gender_importance": ("Therapist's gender", "f-gender"),
    "faith": ("Shares my faith", "f-faith"),
    "faith_importance": ("Shares my faith", "f-faith"),
    "lgbtq_affirming": ("LGBTQ+-affirming", "f-lgbtq"),
    "consent": ("Your agreement", "f-consent"),
}


def intake_problems(
    exc: InvalidInput, data: dict[str, Any] | None, language: str = SOURCE_LANGUAGE
) -> list[dict[str, str]]:
    """Each problem of a refused intake as the form words it, in the page's ``language``: the
    field's label (not its JSON path), the control to jump to, and the message.
    ``preferences[1].values`` is named by the wish it came from, read from the intake the form
    built (``data``)."""
    translate = translations(language).gettext
    out: list[dict[str, str]] = []
    for field, message in exc.problems:
        key = field.split(".")[0].split("[")[0]
        if key == "preferences" and data is not None and "[" in field:
            index = int(field.split("[")[1].split("]")[0])
            wishes = data.get("preferences", [])
            key = wishes[index]["attribute"] if index < len(wishes) else key
        label, anchor = INTAKE_LABELS.get(key, (key.replace("_", " ").capitalize(), ""))
        item = {
            "label": translate(label),
            "anchor": anchor,
            "text": client_message(message, language),
        }
        if item not in out:
            out.append(item)
    return out


# --------------------------------------------------------------------------- pages


@router.get("/intake/{clinic_id}")
async def intake_page(request: Request, auth: PublicAuth, clinic_id: PathId) -> Response:
    clinic = await auth.call(service.intake_clinic, clinic_id)
    context = {
        "clinic_id": clinic_id,
        "clinic_name": clinic.name,
        "values": {},
        "error": None,
        "lang": client_language(request, clinic_default=clinic.client_language),
    }
    context["language_name"] = language_name(str(context["lang"]))
    return render(request, "matching_intake.html", {**context, **_vocab_context()})


@router.post("/intake/{clinic_id}")
async def intake_submit(request: Request, auth: PublicAuth, clinic_id: PathId) -> Response:
    await limit_intakes(request, auth)
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}
    data: dict[str, Any] | None = None
    try:
        data = intake_from_form(form)
        await auth.call(
            service.submit_intake,
            clinic_id=clinic_id,
            intake=data,
            contact_name=_text(form, "contact_name", 200),
            contact_email=_text(form, "contact_email", 320) or None,
            contact_phone=_text(form, "contact_phone", 32) or None,
        )
    except InvalidInput as exc:
        clinic = await auth.call(service.intake_clinic, clinic_id)
        lang = client_language(request, clinic_default=clinic.client_language)
        context = {
            "clinic_id": clinic_id,
            "clinic_name": clinic.name,
            "lang": lang,
            "values": values,
            "checked": {(k, v) for k, v in form.multi_items() if isinstance(v, str)},
            "error": exc,
            "problems": intake_problems(exc, data, lang),
            **_vocab_context(),
        }
        context["language_name"] = language_name(str(context["lang"]))
        return render(request, "matching_intake.html", context, status_code=422)
    # The form's action keeps ?lang= when the client chose one; otherwise the browser's.
    return render(request, "matching_thanks.html", {"lang": client_language(request)})


@router.get("/admin/matching")
async def queue_page(request: Request, auth: AdminAuth) -> Response:
    done = request.query_params.get("decided", "")
    message = {
        "accepted": "Placed as proposed.",
        "override": "Placed with your choice; the override is recorded.",
        "held": "The client stays in the queue; your decision is recorded.",
    }.get(done)
    return await _queue_page(request, auth, message=message)


async def _queue_page(
    request: Request, auth: Auth, *, status_code: int = 200, **extra: Any
) -> Response:
    queue = await auth.call(service.matching_queue, actor=auth.staff)
    context = {"nav": "matching", "queue": queue, "message": None, "decision": None, **extra}
    return render(request, "matching_queue.html", context, status_code=status_code)


@router.post("/admin/matching/{intake_id}/decision")
async def decide_page(request: Request, auth: AdminAuth, intake_id: PathId) -> Response:
    form = await request.form()
    # What the admin chose and wrote, to put back in the form if the decision is refused.
    typed = {
        "intake_id": intake_id,
        "therapist_id": _text(form, "therapist_id", 12),
        "note": _text(form, "note", 2000),
        "force": _text(form, "force", 5) == "yes",
    }
    try:
        decision = await auth.call(
            service.decide,
            actor=auth.staff,
            intake_id=intake_id,
            therapist_id=optional_int(str(typed["therapist_id"]), "therapist_id"),
            note=str(typed["note"]),
            force=bool(typed["force"]),
        )
    except InvalidInput as exc:
        # Back to the queue with the reason beside the field and the note kept, not an
        # error page that loses what was typed.
        decision_error = {"field": exc.field, "text": exc.detail}
        return await _queue_page(
            request, auth, status_code=422, decision={**typed, "error": decision_error}
        )
    return RedirectResponse(f"/admin/matching?decided={decision.decision}", status_code=303)


@router.get("/profile/matching")
async def profile_page(request: Request, auth: StaffAuth) -> Response:
    return await _profile_page(request, auth, None)


@router.post("/profile/matching")
async def profile_save(request: Request, auth: StaffAuth) -> Response:
    return await _profile_save(request, auth, None)


@router.get("/admin/users/{user_id}/matching-profile")
async def user_profile_page(request: Request, auth: AdminAuth, user_id: PathId) -> Response:
    """An admin reads and edits a therapist's profile (the service checks the clinic)."""
    return await _profile_page(request, auth, user_id)


@router.post("/admin/users/{user_id}/matching-profile")
async def user_profile_save(request: Request, auth: AdminAuth, user_id: PathId) -> Response:
    return await _profile_save(request, auth, user_id)


def _profile_url(user_id: int | None) -> str:
    return "/profile/matching" if user_id is None else f"/admin/users/{user_id}/matching-profile"


def _profile_context(view: Any, user_id: int | None, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "profile" if user_id is None else "users",
        "view": view,
        "for_colleague": user_id is not None,
        "action": _profile_url(user_id),
        **extra,
        **_vocab_context(),
    }


async def _profile_page(request: Request, auth: Auth, user_id: int | None) -> Response:
    view = await auth.call(service.get_profile, actor=auth.staff, user_id=user_id)
    saved = request.query_params.get("saved") == "1"
    context = _profile_context(view, user_id, saved=saved, error=None)
    return render(request, "matching_profile.html", context)


async def _profile_save(request: Request, auth: Auth, user_id: int | None) -> Response:
    form = await request.form()
    try:
        await auth.call(
            service.save_profile,
            actor=auth.staff,
            profile=profile_from_form(form),
            user_id=user_id,
        )
    except InvalidInput as exc:
        view = await auth.call(service.get_profile, actor=auth.staff, user_id=user_id)
        view = replace(view, profile=profile_from_form_lenient(form))
        context = _profile_context(view, user_id, saved=False, error=exc)
        return render(request, "matching_profile.html", context, status_code=422)
    return RedirectResponse(_profile_url(user_id) + "?saved=1", status_code=303)


@router.get("/episodes/{episode_id}/rematch")
async def rematch_page(
    request: Request, auth: StaffAuth, episode_id: PathId, detail: FitEndDetail = "client_request"
) -> Response:
    """Alternatives for a client whose fit with their therapist is ending (that therapist
    excluded), each with a hand-over form that needs the client's consent."""
    unavailable = None
    try:
        found = await auth.call(
            service.rematch_alternatives, actor=auth.staff, episode_id=episode_id, detail=detail
        )
    except Conflict as exc:
        # Not an error for the therapist: the clinic has no other therapist to hand over to.
        found, unavailable = (), exc.message
    context = {
        "nav": "caseload",
        "episode_id": episode_id,
        "alternatives": found,
        "unavailable": unavailable,
        "detail": detail,
        "reasons": FIT_END_REASONS,
    }
    return render(request, "matching_rematch.html", context)


@router.post("/episodes/{episode_id}/handover")
async def handover_page(request: Request, auth: StaffAuth, episode_id: PathId) -> Response:
    form = await request.form()
    therapist_id = optional_int(_text(form, "therapist_id", 12), "therapist_id")
    if therapist_id is None:
        raise InvalidInput("therapist_id", "choose the colleague who continues with the client")
    detail = _text(form, "detail", 40) or "client_request"
    if not is_fit_end_detail(detail):
        raise InvalidInput("detail", f"must be one of {', '.join(FIT_END_REASONS)}")
    await auth.call(
        service.hand_over,
        actor=auth.staff,
        episode_id=episode_id,
        therapist_id=therapist_id,
        client_consented=_text(form, "client_consented", 5) == "yes",
        detail=detail,
        note=_text(form, "note", 4000),
    )
    # The client now belongs to the colleague, whom a therapist may no longer see: back to
    # the caseload, which every staff member can open.
    return RedirectResponse("/caseload?flash=handedover", status_code=303)


def profile_from_form_lenient(form: FormData) -> dict[str, Any]:
    """What the editor showed, to refill it after an error (numbers left as typed)."""
    try:
        return profile_from_form(form)
    except InvalidInput:
        return {}
