"""Reading the values that the staff pages' HTML forms post when a route reads the form itself
(a repeated field, a "none" choice in a select), shared by the route modules so bad values are
refused the same way everywhere, and by the same rules as :data:`alliance.web.schemas.FreeText`
and :data:`alliance.web.schemas.Id`."""

from __future__ import annotations

from alliance.messages import Msg, message_of
from alliance.services.errors import InvalidInput
from alliance.web.schemas import ID_MAX, TEXT_MAX, plain_text


def form_text(value: str, field: str, limit: int = TEXT_MAX) -> str:
    """A typed text: NUL, lone surrogates and text over ``limit`` are a 4xx naming ``field``."""
    if len(value) > limit:
        raise InvalidInput(field, Msg("at most {n} characters", n=limit))
    try:
        return plain_text(value)
    except ValueError as exc:
        raise InvalidInput(field, message_of(exc)) from None


def optional_int(value: str, field: str) -> int | None:
    """An empty field is ``None``; digits are an id; anything else is a 4xx naming ``field``."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= ID_MAX:
        raise InvalidInput(field, f"{value!r} is not a valid choice")
    return int(value)
