"""The one e-mail address rule, for staff logins, clients' contact addresses and intake forms,
and the phone number rule for intake forms.

Deliberately modest (RFC 5321 allows far more than a clinic ever needs to store): one ``@``
with text before it, a domain with a dot after it, no whitespace, at most 320 characters.
The address is only stripped here; staff logins are lower-cased by their own service.
"""

from __future__ import annotations

from alliance.messages import Msg
from alliance.services.errors import InvalidInput

MAX_EMAIL_LENGTH = 320
MAX_PHONE_LENGTH = 32
#: What a phone number may be written with besides digits ("+44 (0)20 7946-0958", "020.7946").
_PHONE_MARKS = frozenset(" +-().")


def email_address(value: str, *, field: str = "email") -> str:
    """``value`` stripped, or :class:`InvalidInput` naming ``field``."""
    address = value.strip()
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "@" in local
        or "." not in domain.strip(".")
        or any(c.isspace() or c == "\x00" or "\ud800" <= c <= "\udfff" for c in address)
        or len(address) > MAX_EMAIL_LENGTH
    ):
        raise InvalidInput(field, Msg("{value} is not an e-mail address", value=repr(value)))
    return address


def optional_email_address(value: str | None, *, field: str) -> str | None:
    """As :func:`email_address`, with an empty or missing value meaning "none given"."""
    if value is None or not value.strip():
        return None
    return email_address(value, field=field)


def optional_phone_number(value: str | None, *, field: str) -> str | None:
    """A phone number as the person wrote it (stripped; spaces, ``+ - ( ) .`` allowed) with 6
    to 15 digits (E.164 allows at most 15), or ``None`` when empty; else :class:`InvalidInput`.
    Nothing is reformatted: the clinic calls the number the client gave."""
    if value is None or not value.strip():
        return None
    number = value.strip()
    digits = sum(c.isdigit() for c in number)
    allowed = all(c.isdigit() or c in _PHONE_MARKS for c in number)
    if not allowed or not 6 <= digits <= 15 or len(number) > MAX_PHONE_LENGTH:
        raise InvalidInput(
            field,
            Msg(
                "{value} is not a phone number (6–15 digits; spaces, +, -, ( ) allowed)",
                value=repr(value),
            ),
        )
    return number
