"""Messages a client page can show in the client's language: :class:`Msg`.

A validation message raised deep down (the scoring engine refusing an answer, an intake
validator, a contact-detail rule) is English wherever it is read: the JSON API, the CLI, the
logs and staff pages show it as it is. A client page in another language shows its
translation instead. :class:`Msg` lets one value serve both: it *is* the English sentence (a
``str``, so every caller and test comparing text is unchanged) and it also keeps the gettext
message id it was made from and the values put into it, so the web layer
(:func:`alliance.web.i18n.client_message`) can look the id up in the page's catalogue and fill
in the same values.

Message ids use ``str.format`` fields (``"at most {n} characters"``); a value the person typed
is passed as a parameter, never written into the id, so the catalogue holds one entry per
sentence. ``tests/web/test_client_languages.py`` reads every ``Msg("...")`` in the source and
fails when the Spanish catalogue lacks one, so each call must give its id as a literal (the
one exception, pydantic's own messages in :mod:`alliance.services.matching`, keeps its ids in
a table that test reads).

This module is pure and imports nothing of the package: domain packages, services and the web
layer all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Msg", "message_of"]


class Msg(str):
    """An English message that remembers its message id (``msgid``) and values (``params``).

    ``Msg("at most {n} characters", n=2000) == "at most 2000 characters"``.
    """

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Msg:
        self = super().__new__(cls, msgid.format(**params))
        self.msgid = msgid
        self.params = dict(params)
        return self

    @classmethod
    def worded(cls, english: str, msgid: str, /, **params: object) -> Msg:
        """A message whose English is given word for word (another library's own, which must
        not change) and whose translation is ``msgid``'s, filled with ``params``."""
        self = str.__new__(cls, english)
        self.msgid = msgid
        self.params = dict(params)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # str's own pickling would rebuild from the English text, which is no message id (and
        # may hold braces a client typed).
        return (_rebuild, (str(self), self.msgid, dict(self.params)))


def _rebuild(english: str, msgid: str, params: dict[str, object]) -> Msg:
    return Msg.worded(english, msgid, **params)


def message_of(exc: BaseException) -> str:
    """The message ``exc`` was raised with, still a :class:`Msg` when it was one.

    ``str(exc)`` would hand back a plain copy of the text, which no client page can translate.
    """
    if len(exc.args) == 1 and isinstance(exc.args[0], Msg):
        return exc.args[0]
    return str(exc)
