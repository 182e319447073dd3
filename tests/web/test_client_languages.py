"""Client pages in the client's language: the Spanish catalogue is complete, each client page
rendered in Spanish keeps no English sentence of its own, the language is chosen in the
documented order, staff pages stay English, and a questionnaire is shown in Spanish only from
a validated translation file the clinic installed (scored as the original)."""

from __future__ import annotations

import ast
import html
import re
import string
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from httpx import Response
from jinja2.ext import babel_extract
from sqlalchemy import select
from webworld import World, build_world, csrf_from, full_answers

from alliance.matching.profiles import resolve_style, vocabulary
from alliance.measures import progress_words
from alliance.services import admin as admin_service
from alliance.services import checkins, clients
from alliance.services import matching as matching_service
from alliance.services.clinic_settings import CLIENT_LANGUAGES, DEFAULT_CRISIS_MESSAGE
from alliance.services.errors import _LINK_MESSAGES
from alliance.store.db import transaction
from alliance.store.models import Score
from alliance.web import forms, i18n
from alliance.web.routes import checkin as checkin_routes
from alliance.web.routes.matching import DAYS, INTAKE_LABELS, PARTS
from alliance.web.templating import TEMPLATE_DIR

CLIENT_TEMPLATES = (
    "checkin/form.html",
    "checkin/thanks.html",
    "checkin/unavailable.html",
    "checkin/_own_progress.html",
    "matching_intake.html",
    "matching_thanks.html",
)
SPANISH = i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po"

Message = str | tuple[str, str]
SOURCE = Path(i18n.__file__).resolve().parents[1]


#: The only modules allowed to build a ``Msg`` from a variable, each with the registry of the
#: message ids it builds from (read here instead).
MSG_REGISTRIES: dict[str, tuple[str, ...]] = {
    "messages.py": (),  # rebuilding a pickled Msg from its own id
    "services/matching.py": tuple(matching_service._PYDANTIC_MESSAGES.values()),
}


def msg_templates() -> list[str]:
    """The message id of every ``Msg(...)`` in the package's source, read from the code itself
    (so a new validation message cannot be forgotten here). A call whose id is not a literal
    could not be checked, so it fails the test instead, outside the few modules that take their
    ids from a registry (:data:`MSG_REGISTRIES`)."""
    found: list[str] = [m for ids in MSG_REGISTRIES.values() for m in ids]
    unreadable: list[str] = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "Msg":
                position = 0  # Msg(msgid, ...)
            elif (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) == ("Msg", "worded")
            ):
                position = 1  # Msg.worded(english, msgid, ...)
            else:
                continue
            first = node.args[position] if len(node.args) > position else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(first.value)
            elif path.relative_to(SOURCE).as_posix() not in MSG_REGISTRIES:
                unreadable.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert unreadable == [], "Msg(...) needs a literal message id"
    return list(dict.fromkeys(found))


def client_msgids() -> list[Message]:
    """Every English message a client page can show: the templates' literal messages, base.html's
    (the skip link), and the Python-side sentences those pages translate by value."""
    found: list[Message] = []
    for name in (*CLIENT_TEMPLATES, "base.html"):
        for _, message, _, _ in extract_from_file(
            babel_extract, str(TEMPLATE_DIR / name), options={"trimmed": "true"}
        ):
            if name == "base.html" and message != "Skip to content":
                continue
            found.append(message if isinstance(message, str) else (message[0], message[1]))
    voc = vocabulary()
    found += [
        checkin_routes.HIGHER_BETTER,
        checkin_routes.LOWER_BETTER,
        *forms.MESSAGES,
        *progress_words.MESSAGES,
        *_LINK_MESSAGES.values(),
        DEFAULT_CRISIS_MESSAGE,
        *voc.concerns.values(),
        *voc.modalities.values(),
        *voc.age_groups.values(),
        *voc.modes.values(),
        *(s.phrases[0] for s in voc.styles.values()),
        *(label for _, label in DAYS),
        *(part.capitalize() for part in PARTS),
        *(label for label, _ in INTAKE_LABELS.values()),
        i18n.GENERIC_PROBLEM,
        *msg_templates(),
    ]
    return list(dict.fromkeys(found))


def _spanish() -> Any:
    with SPANISH.open("rb") as handle:
        return read_po(handle)


def test_every_client_message_has_a_spanish_translation() -> None:
    catalog = _spanish()
    missing = []
    for message in client_msgids():
        key = message if isinstance(message, str) else message[0]
        entry = catalog.get(key)
        strings = [] if entry is None else entry.string
        strings = [strings] if isinstance(strings, str) else list(strings)
        if entry is None or entry.fuzzy or not strings or not all(s.strip() for s in strings):
            missing.append(key)
    assert missing == []


def test_the_spanish_catalogue_holds_no_stale_message() -> None:
    wanted = {m if isinstance(m, str) else m[0] for m in client_msgids()}
    stale = [
        m.id
        for m in _spanish()
        if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in wanted
    ]
    assert stale == []


def test_the_clinic_setting_offers_exactly_the_shipped_catalogues() -> None:
    assert i18n.shipped_languages() == CLIENT_LANGUAGES


def _english_sentences() -> list[str]:
    """Each English message's literal runs (placeholders cut out) long enough to be a phrase
    and not the same in Spanish: what must not be left on a Spanish page."""
    catalog = _spanish()
    runs: list[str] = []
    for message in client_msgids():
        for text in [message] if isinstance(message, str) else list(message):
            entry = catalog.get(text if isinstance(message, str) else message[0])
            translated = entry.string if entry is not None else ""
            translated = translated if isinstance(translated, str) else " ".join(translated)
            for run in re.split(r"%\(\w+\)s|\{\w+\}|<[^>]+>", text):
                run = run.strip(" .,:;“”")
                if len(run) >= 12 and " " in run and run not in translated:
                    runs.append(run)
    return runs


def _visible(page: str) -> str:
    # A chart's words are its <text> elements; the rest of the SVG is drawing.
    charts = " ".join(re.findall(r"<text\b[^>]*>([^<]*)</text>", page))
    page = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", page, flags=re.S) + " " + charts
    page = re.sub(r'\b(?:value|data-[\w-]+|href|action)="[^"]*"', " ", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _assert_spanish(page: str) -> None:
    assert '<html lang="es">' in page
    text = _visible(page)
    left = [s for s in _english_sentences() if s in text]
    assert left == []


def test_each_client_page_in_spanish_has_no_english_sentence_of_its_own(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    form = client.get(f"/c/{token}?lang=es")
    assert form.status_code == 200
    _assert_spanish(form.text)
    assert "Tu check-in" in form.text or "Tu cuestionario" in form.text
    answers = full_answers(form.text, pick="last")
    incomplete = {k: v for k, v in answers.items() if not k.startswith("phq9/")}
    errors = client.post(f"/c/{token}?lang=es", data=incomplete)
    assert errors.status_code == 422
    _assert_spanish(errors.text)
    saved = client.post(f"/c/{token}?lang=es", data={**incomplete, "_action": "save"})
    _assert_spanish(saved.text)
    # The last option everywhere endorses PHQ-9 item 9: the crisis text, in Spanish (default).
    done = client.post(f"/c/{token}?lang=es", data=answers)
    assert done.status_code == 200
    _assert_spanish(done.text)
    assert 'id="crisis"' in done.text
    used = client.get(f"/c/{token}?lang=es")
    assert used.status_code == 410
    _assert_spanish(used.text)
    unknown = client.get("/c/not-a-real-token?lang=es")
    _assert_spanish(unknown.text)
    clinic_id = world.cases["tom"].clinic_id
    intake = client.get(f"/intake/{clinic_id}?lang=es")
    assert intake.status_code == 200
    _assert_spanish(intake.text)
    assert f'action="/intake/{clinic_id}?lang=es"' in intake.text


def _set_clinic(world: World, **update: object) -> None:
    ada = world.people["ada"].actor
    current = admin_service.get_clinic(world.ctx, actor=ada).settings
    admin_service.update_clinic_settings(
        world.ctx, actor=ada, settings=current.model_copy(update=update)
    )


def _lang_of(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', page)
    assert found
    return found.group(1)


def test_the_language_comes_from_the_link_then_the_clinic_then_the_browser(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    spanish_browser = {"Accept-Language": "fr-FR;q=0.9, es-MX;q=0.8, en;q=0.1"}
    # The clinic's language (English by default) comes before the browser's ...
    assert _lang_of(client.get(f"/c/{token}", headers=spanish_browser).text) == "en"
    # ... which decides where no clinic is known (a link that names none).
    unknown = client.get("/c/not-a-real-token", headers=spanish_browser)
    assert _lang_of(unknown.text) == "es"
    assert _lang_of(client.get("/c/not-a-real-token").text) == "en"
    _set_clinic(world, client_language="es")
    page = client.get(f"/c/{token}", headers={"Accept-Language": "en"})
    assert _lang_of(page.text) == "es"
    chosen = client.get(f"/c/{token}?lang=en")
    assert _lang_of(chosen.text) == "en"
    assert f'action="/c/{token}?lang=en"' in chosen.text
    # The page offers the other language, named in itself.
    assert '<a href="?lang=es" lang="es" hreflang="es">Español</a>' in chosen.text
    # An unknown ?lang= falls through to the clinic's language, never an error.
    assert _lang_of(client.get(f"/c/{token}?lang=xx").text) == "es"


def test_staff_pages_stay_english_whatever_the_browser_asks(world: World) -> None:
    _set_clinic(world, client_language="es")
    staff = world.login("tom")
    page = staff.get("/caseload", headers={"Accept-Language": "es"})
    assert page.status_code == 200
    assert _lang_of(page.text) == "en"
    assert "Caseload" in page.text


def test_an_unknown_client_language_setting_is_refused() -> None:
    from pydantic import ValidationError

    from alliance.services.clinic_settings import ClinicSettings

    with pytest.raises(ValidationError, match="client_language"):
        ClinicSettings(client_language="fr")


# A made-up questionnaire and a made-up "validated" Spanish version of it: never a real
# instrument's wording.
DUMMY = """
id: dummy_mood
title: Dummy mood check (test only)
version: "1"
citation: Made up for a test.
licence: Made up for a test.
language: en
kind: outcome
description: Think of the past few days.
direction: higher_is_worse
answer_sets:
  amount:
    - {code: 0, label: Never dummy, score: 0}
    - {code: 1, label: Often dummy, score: 1}
items:
  - {linkId: dm_1, text: Dummy question about pebbles, options: amount}
  - {linkId: dm_2, text: Dummy question about clouds, options: amount}
scoring: {method: sum, max_missing: 0, source: Made up for a test.}
"""
DUMMY_ES = (
    DUMMY.replace("id: dummy_mood", "id: dummy_mood_es\ntranslation_of: dummy_mood")
    .replace("language: en", "language: es")
    .replace("Dummy question about pebbles", "Pregunta ficticia sobre guijarros")
    .replace("Dummy question about clouds", "Pregunta ficticia sobre nubes")
    .replace("Never dummy", "Nunca ficticio")
    .replace("Often dummy", "A menudo ficticio")
    .replace("Think of the past few days.", "Piense en los últimos días.")
    .replace("Dummy mood check (test only)", "Control ficticio del ánimo (solo pruebas)")
)


def test_a_validated_translation_is_shown_in_spanish_and_scored_as_the_original(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "instruments"
    folder.mkdir()
    (folder / "dummy_mood.yaml").write_text(DUMMY, encoding="utf-8")
    (folder / "dummy_mood_es.yaml").write_text(DUMMY_ES, encoding="utf-8")
    world = build_world(tmp_path, instruments_dir=folder)
    assert "dummy_mood_es" not in {i.id for i in world.ctx.instruments.all()}
    ada = world.people["ada"].actor
    current = admin_service.get_clinic(world.ctx, actor=ada).settings
    choice = current.instruments.model_copy(update={"outcome": ("dummy_mood",)})
    admin_service.update_clinic_settings(
        world.ctx, actor=ada, settings=current.model_copy(update={"instruments": choice})
    )
    tom = world.people["tom"]
    _, episode = clients.create_client(world.ctx, actor=tom.actor, display_name="Dora")
    token = checkins.create_checkin_link(world.ctx, actor=tom.actor, episode_id=episode.id).token
    client = world.client()
    spanish = client.get(f"/c/{token}?lang=es")
    assert "Pregunta ficticia sobre guijarros" in spanish.text
    assert "A menudo ficticio" in spanish.text
    assert "Piense en los últimos días." in spanish.text  # the translation's instructions
    assert "Dummy question about pebbles" not in spanish.text
    # WAI-SR has no installed Spanish version: shown as it is, with a note in Spanish.
    assert spanish.text.count("Este cuestionario se muestra en su idioma original.") == 2
    english = client.get(f"/c/{token}")
    assert "Dummy question about pebbles" in english.text
    assert "en su idioma original" not in english.text
    answers = full_answers(spanish.text, pick="last")
    assert set(answers) >= {"dummy_mood/dm_1", "dummy_mood/dm_2"}
    done = client.post(f"/c/{token}?lang=es", data=answers)
    assert done.status_code == 200
    # The client's own progress names the questionnaire as they read it.
    assert "Control ficticio del ánimo (solo pruebas)" in done.text
    with transaction(world.ctx.session_factory) as session:
        stored = set(
            session.scalars(select(Score.instrument_id).where(Score.episode_id == episode.id))
        )
    assert "dummy_mood" in stored
    assert "dummy_mood_es" not in stored


def test_an_admin_sets_the_client_language_on_the_settings_page(world: World) -> None:
    admin = world.login("ada")
    page = admin.get("/admin/settings")
    assert '<option value="es">Español (es)</option>' in page.text
    base = {"instruments.alliance": "wai_sr", "instruments.outcome": "phq9"}
    refused = admin.post(
        "/admin/settings",
        data={**base, "client_language": "fr", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 422
    assert "client_language" in refused.text
    saved = admin.post(
        "/admin/settings",
        data={**base, "client_language": "es", "csrf_token": csrf_from(page.text)},
    )
    assert saved.status_code in (200, 303)
    ada = world.people["ada"].actor
    assert admin_service.get_clinic(world.ctx, actor=ada).settings.client_language == "es"
    token = world.cases["tom"].link_token
    assert _lang_of(world.client().get(f"/c/{token}").text) == "es"


# --------------------------------------------------------------------------- service messages


def _fields(message_id: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message_id) if name is not None}


def test_each_validation_message_keeps_its_placeholders_in_spanish() -> None:
    """A translation may leave a value out (an English option key, say) but never ask for one
    the English does not give: that would turn the message into the general sentence."""
    catalog = _spanish()
    wrong = {}
    for message_id in msg_templates():
        entry = catalog.get(message_id)
        assert entry is not None, message_id
        extra = _fields(entry.string) - _fields(message_id)
        if extra:
            wrong[message_id] = extra
    assert wrong == {}


def test_a_client_message_is_english_as_written_or_spanish_and_never_mixed() -> None:
    from alliance.messages import Msg

    msg = Msg("at most {n} characters", n=4000)
    assert i18n.client_message(msg, "en") == "at most 4000 characters"
    assert i18n.client_message(msg, "es") == "como máximo 4000 caracteres"
    # A plain message that is itself a message id is translated too ...
    assert i18n.client_message(forms.UNKNOWN_FIELD, "es") == (
        "Esta no es una pregunta de este cuestionario."
    )
    # ... anything else (pydantic's own words) is the one general sentence in Spanish, and
    # exactly itself in English.
    pydantic_words = "Input should be a valid integer"
    assert i18n.client_message(pydantic_words, "en") == pydantic_words
    general = i18n.client_message(pydantic_words, "es")
    assert general == i18n.translations("es").gettext(i18n.GENERIC_PROBLEM)
    assert general != i18n.GENERIC_PROBLEM
    # A message id the catalogue lacks falls back the same way.
    assert i18n.client_message(Msg("no such id {n}", n=1), "es") == general


def _check_in(world: World, client: Any, lang: str, **change: str) -> Any:
    token = world.cases["tom"].link_token
    query = f"?lang={lang}" if lang else ""
    form = client.get(f"/c/{token}{query}")
    answers = {**full_answers(form.text, pick="first"), **change}
    return client.post(f"/c/{token}{query}", data=answers)


# (field, value, the Spanish words shown, the English words they replace)
BAD_ANSWERS = [
    ("phq9/phq9_1", "7", "La respuesta '7' no es ninguna de las opciones", "is not one of"),
    ("goal/1", "11", "'11' no es un número entero del 0 al 10", "is not a whole number 0–10"),
    ("goal/1", "mucho", "'mucho' no es un número del 0 al 10", "is not a number 0–10"),
    ("session_feedback/sf_comment", "x" * 4001, "Como máximo 4000 caracteres", "4000 characters"),
    (
        "session_feedback/sf_comment",
        "a\x00b",
        "No puede contener el carácter NUL",
        "contain the NUL",
    ),
]


@pytest.mark.parametrize(("field", "value", "spanish", "english"), BAD_ANSWERS)
def test_a_refused_answer_is_explained_in_the_check_ins_language(
    world: World, field: str, value: str, spanish: str, english: str
) -> None:
    client = world.client()
    es = _check_in(world, client, "es", **{field: value})
    assert es.status_code == 422
    shown = _visible(es.text)
    assert spanish in shown
    assert english not in shown
    _assert_spanish(es.text)
    en = _check_in(world, client, "", **{field: value})
    assert en.status_code == 422
    assert english in _visible(en.text)
    assert spanish not in _visible(en.text)


def test_the_clinics_language_puts_a_refused_answer_in_spanish_without_lang(
    world: World,
) -> None:
    _set_clinic(world, client_language="es")
    page = _check_in(world, world.client(), "", **{"goal/1": "11"})
    assert page.status_code == 422
    assert "'11' no es un número entero del 0 al 10" in _visible(page.text)
    # ... and "Save and finish later" explains a refusal in the same language.
    saved = _check_in(world, world.client(), "", **{"goal/1": "11", "_action": "save"})
    assert saved.status_code == 422
    assert "'11' no es un número entero del 0 al 10" in _visible(saved.text)
    assert "is not a whole number" not in _visible(saved.text)


def test_the_page_scripts_draft_save_explains_a_refusal_in_the_pages_language(
    world: World,
) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    csrf = csrf_from(client.get(f"/c/{token}?lang=es").text)
    bad = {"csrf_token": csrf, "goal/1": "11"}
    spanish = client.post(f"/c/{token}/draft?lang=es", data=bad)
    assert spanish.status_code == 422
    assert spanish.json() == {"detail": {"goal/1": "'11' no es un número entero del 0 al 10"}}
    english = client.post(f"/c/{token}/draft", data=bad)
    assert english.json() == {"detail": {"goal/1": "'11' is not a whole number 0–10"}}
    unknown = client.post(
        f"/c/{token}/draft?lang=es", data={"csrf_token": csrf, "phq9/phq9_77": "2"}
    )
    assert unknown.json() == {
        "detail": {"phq9/phq9_77": "Esa pregunta no forma parte de este cuestionario"}
    }


def test_the_draft_save_takes_the_clinics_language_as_the_page_does(world: World) -> None:
    _set_clinic(world, client_language="es")
    client = world.client()
    token = world.cases["tom"].link_token
    english_browser = {"Accept-Language": "en"}
    page = client.get(f"/c/{token}", headers=english_browser)
    assert _lang_of(page.text) == "es"
    bad = {"csrf_token": csrf_from(page.text), "goal/1": "11"}
    # Without ?lang= (a script or a page not sending it): the clinic's, as the page ...
    plain = client.post(f"/c/{token}/draft", data=bad, headers=english_browser)
    assert plain.status_code == 422
    assert plain.json() == {"detail": {"goal/1": "'11' no es un número entero del 0 al 10"}}
    # ... also for a refusal found before the answers reach the service.
    unknown = client.post(f"/c/{token}/draft", data={**bad, "goal/1": "", "phq9/phq9_77": "2"})
    assert unknown.json() == {
        "detail": {"phq9/phq9_77": "Esa pregunta no forma parte de este cuestionario"}
    }
    # ?lang= still comes first, and a refused link names no clinic: the browser's.
    chosen = client.post(f"/c/{token}/draft?lang=en", data=bad)
    assert chosen.json() == {"detail": {"goal/1": "'11' is not a whole number 0–10"}}
    gone = client.post("/c/not-a-real-token/draft", data=bad, headers=english_browser)
    assert gone.status_code == 410
    assert gone.json()["detail"].startswith("This check-in link is not valid.")


BAD_INTAKE = {
    "contact_name": " ",
    "contact_email": "robin@",
    "contact_phone": "abc",
    "concern_main": "",
    "languages": "español, " + "k" * 90,
    "max_fee": "-5",
    "style_words": "purple elephants",
}


def _problem_items(page: str) -> list[tuple[str, str, str]]:
    text = html.unescape(page)
    start = text.index('<div class="problems"')
    box = text[start : text.index("</div>", start)]
    return re.findall(r'<li><a href="#([^"]+)">([^<]+)</a>: ([^<]+)</li>', box)


def _post_intake(world: World, data: dict[str, str], query: str = "") -> Response:
    """The public intake form as a client sends it: opened (for its CSRF token), then posted."""
    clinic_id = world.cases["tom"].clinic_id
    http = world.client()
    page = http.get(f"/intake/{clinic_id}{query}")
    return http.post(
        f"/intake/{clinic_id}{query}", data={**data, "csrf_token": csrf_from(page.text)}
    )


def test_a_refused_intake_lists_its_problems_in_spanish(world: World) -> None:
    refused = _post_intake(world, BAD_INTAKE, "?lang=es")
    assert refused.status_code == 422
    assert _problem_items(refused.text) == [
        (
            "f-name",
            "¿Cómo quieres que te llamemos?",
            "Escribe un nombre (o un apodo) de 1 a 100 caracteres.",
        ),
        ("f-email", "Correo electrónico", "'robin@' no es una dirección de correo electrónico."),
        (
            "f-phone",
            "Teléfono",
            "'abc' no es un número de teléfono (de 6 a 15 cifras; se admiten espacios, +, -, "
            "paréntesis).",
        ),
        ("f-main", "¿Con qué te gustaría recibir ayuda?", "Elige al menos 1 de las opciones."),
        (
            "f-style",
            "Cómo debería trabajar contigo tu terapeuta",
            "No hemos reconocido una forma de trabajar en 'purple elephants'; prueba a decirlo "
            "con otras palabras o deja este campo vacío.",
        ),
        ("f-lang", "Idiomas en los que puedes hacer terapia", "Como máximo 80 caracteres."),
        ("f-fee", "Lo máximo que puedes pagar por sesión", "Tiene que ser 0 o más."),
        (
            "f-consent",
            "Tu consentimiento",
            "Solo podemos proponerte un terapeuta si das tu consentimiento.",
        ),
    ]
    _assert_spanish(refused.text)
    for english in ("is not a phone number", "give a name", "relationship style", "agree"):
        assert english not in refused.text


def test_the_same_refused_intake_on_an_english_page_keeps_the_english_words(
    world: World,
) -> None:
    refused = _post_intake(world, BAD_INTAKE)
    assert refused.status_code == 422
    items = _problem_items(refused.text)
    assert [(label, text) for _, label, text in items] == [
        ("What should we call you?", "Give a name (or a nickname) of 1–100 characters."),
        ("E-mail", "'robin@' is not an e-mail address."),
        ("Phone", "'abc' is not a phone number (6–15 digits; spaces, +, -, ( ) allowed)."),
        # Pydantic's own words, as before (the Spanish page translates them by error type).
        (
            "What would you like help with?",
            "Tuple should have at least 1 item after validation, not 0.",
        ),
        ("How your therapist should work with you", items[4][2]),
        (
            "Languages you can have therapy in",
            "Value should have at most 80 items after validation, not 90.",
        ),
        ("The most you can pay per session", "Input should be greater than or equal to 0."),
        ("Your agreement", "We can only match you if you agree to it."),
    ]
    assert items[4][2].startswith("Cannot tell a relationship style from 'purple elephants'")


def test_a_spanish_clinics_intake_through_the_api_still_answers_in_english(world: World) -> None:
    _set_clinic(world, client_language="es")
    answer = world.client().post(
        "/api/v1/intake?lang=es",
        json={
            "clinic_id": world.cases["tom"].clinic_id,
            "contact_name": "Robin",
            "contact_phone": "abc",
            "intake": {"concerns": ["grief"], "languages": ["spanish"], "consent": True},
        },
        headers={"Accept-Language": "es"},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "field": "contact_phone",
            "message": "'abc' is not a phone number (6–15 digits; spaces, +, -, ( ) allowed)",
        }
    ]


SPANISH_INTAKE = {
    "contact_name": "Lucía",
    "concern_main": "grief",
    "languages": "español",
    "modes": "video",
    "avail": "mon-morning",
    "style_importance": "prefer",
    "consent": "yes",
}


def test_the_spanish_intake_takes_the_examples_it_shows_and_a_clients_own_words(
    world: World,
) -> None:
    clinic_id = world.cases["tom"].clinic_id
    http = world.client()
    page = http.get(f"/intake/{clinic_id}?lang=es")
    text = html.unescape(page.text)
    start = text.index('id="f-style-hint"')
    shown = re.findall(r"“([^”]+)”", text[start : text.index("</p>", start)])
    # The examples are the page's own Spanish words, one per style in the vocabulary's order.
    styles = vocabulary().styles
    assert len(shown) == len(styles)
    assert not set(shown) & {p for s in styles.values() for p in s.phrases}
    assert [resolve_style(words) for words in shown] == list(styles)
    for words in [*shown, "Que me escuche y me apoye, sin juzgarme"]:
        done = http.post(
            f"/intake/{clinic_id}?lang=es",
            data={**SPANISH_INTAKE, "style_words": words, "csrf_token": csrf_from(page.text)},
        )
        assert done.status_code == 200, words
    queue = matching_service.matching_queue(world.ctx, actor=world.people["ada"].actor)
    wished = [w for p in queue.proposals for w in p.wishes if w.startswith("prefers style")]
    assert "prefers style: Que me escuche y me apoye, sin juzgarme" in wished


def test_spanish_words_that_name_no_style_are_refused_in_spanish(world: World) -> None:
    words = {**SPANISH_INTAKE, "style_words": "no lo tengo claro"}
    refused = _post_intake(world, words, "?lang=es")
    assert refused.status_code == 422
    assert _problem_items(refused.text) == [
        (
            "f-style",
            "Cómo debería trabajar contigo tu terapeuta",
            "No hemos reconocido una forma de trabajar en 'no lo tengo claro'; prueba a decirlo "
            "con otras palabras o deja este campo vacío.",
        )
    ]
    _assert_spanish(refused.text)


def test_the_api_takes_an_intake_whose_style_is_said_in_spanish(world: World) -> None:
    answer = world.client().post(
        "/api/v1/intake",
        json={
            "clinic_id": world.cases["tom"].clinic_id,
            "contact_name": "Lucía",
            "contact_email": "lucia@example.org",
            "intake": {
                "concerns": ["grief"],
                "languages": ["spanish"],
                "consent": True,
                "preferences": [{"attribute": "style", "values": "que trabajemos en equipo"}],
            },
        },
    )
    assert answer.status_code == 201, answer.text
