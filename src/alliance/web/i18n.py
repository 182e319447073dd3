"""Client-page languages: the shipped gettext catalogues and the choice of a page's language.

Catalogues live as ``locale/<lang>/LC_MESSAGES/messages.po`` beside this module and are read
with Babel when first needed. The ``.po`` text is the only form in the repository: compiling
it in memory keeps ``pip install -e .`` on a clean clone working with no build step, and no
``.mo`` file can go stale beside the ``.po`` it was made from.

Staff pages stay English: only client pages (check-in, thank-you, intake) pick a language.
A service's validation message reaches a client page through :func:`client_message`: in the
page's language when it is a :class:`alliance.messages.Msg` (or a message id) the catalogue
translates, otherwise one general sentence in that language, never English on a page that is
not English.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

from alliance.messages import Msg
from alliance.services.clinic_settings import CLIENT_LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"
#: What a client page in another language shows for a message its catalogue cannot translate
#: (pydantic's own type errors, say, which only a tampered form reaches).
GENERIC_PROBLEM = "This answer could not be accepted. Please check it and try again."


def shipped_languages() -> tuple[str, ...]:
    """English (the source) and every language with a catalogue here, sorted."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")}
    return (SOURCE_LANGUAGE, *sorted(found - {SOURCE_LANGUAGE}))


@functools.lru_cache(maxsize=8)
def _catalog(language: str | None) -> Catalog | None:
    path = LOCALE_DIR / str(language) / "LC_MESSAGES" / "messages.po"
    if not language or language == SOURCE_LANGUAGE or not path.is_file():
        return None
    with path.open("rb") as handle:
        return read_po(handle)


@functools.lru_cache(maxsize=8)
def translations(language: str | None) -> gettext.NullTranslations:
    """The catalogue of ``language`` (no translation for English or an unknown language)."""
    catalog = _catalog(language)
    if catalog is None:
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _translation_of(language: str, msgid: str) -> str | None:
    """``msgid``'s translation in ``language``'s catalogue; None where it has none (as gettext,
    a fuzzy or empty entry is no translation)."""
    catalog = _catalog(language)
    entry = catalog.get(msgid) if catalog is not None else None
    if entry is None or entry.fuzzy or not isinstance(entry.string, str) or not entry.string:
        return None
    return entry.string


def client_message(message: str, language: str) -> str:
    """A service's message as a client page in ``language`` shows it.

    English (or a language without a catalogue) shows the message exactly as the service wrote
    it. Another language shows the translation of a :class:`~alliance.messages.Msg`'s id with
    the same values filled in, or of a plain message that is itself a message id; anything else
    (no translation, or one whose placeholders do not fit) is :data:`GENERIC_PROBLEM` in that
    language, so the page never mixes in an English sentence.
    """
    msgid = message.msgid if isinstance(message, Msg) else str(message)
    # (An empty message id would look up the catalogue's header.)
    if _catalog(language) is None or not msgid.strip():
        return str(message)
    translated = _translation_of(language, msgid)
    if translated is not None:
        if not isinstance(message, Msg):
            return translated
        try:
            return translated.format(**message.params)
        except (KeyError, IndexError, ValueError):
            pass
    return translations(language).gettext(GENERIC_PROBLEM)


def _supported(tag: str | None) -> str | None:
    """``tag``'s primary language when a client page can be shown in it ("es-MX" → "es")."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in CLIENT_LANGUAGES else None


def _from_accept_language(header: str) -> str | None:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    for _, _, tag in sorted(weighted):
        if found := _supported(tag):
            return found
    return None


def asked_language(request: Request) -> str | None:
    """The language ``?lang=`` asks for, when a client page can be shown in it: it then comes
    before every other choice (a caller may skip reading the clinic's)."""
    return _supported(request.query_params.get("lang"))


def client_language(
    request: Request, *, preferred: str | None = None, clinic_default: str | None = None
) -> str:
    """A client page's language: ``?lang=``, then the client's own preferred language, then the
    clinic's ``client_language``, then the browser's Accept-Language; English otherwise.

    A clinic's default counts before the browser's because a clinic serving Spanish speakers
    knows its clients better than a shared or borrowed phone's settings do; ``?lang=`` lets a
    client (or the link's sender) always override it.
    """
    if found := asked_language(request):
        return found
    for choice in (preferred, clinic_default):
        if found := _supported(choice):
            return found
    return _from_accept_language(request.headers.get("accept-language", "")) or SOURCE_LANGUAGE


def language_name(language: str) -> str:
    """The language's name in itself ("English", "español"): what a client would type."""
    return str(Locale.parse(language).get_language_name(language) or language)
