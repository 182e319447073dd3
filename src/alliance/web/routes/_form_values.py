"""Reading the optional values that the staff pages' HTML forms post (e.g. a "none" choice in
a select), shared by the route modules so bad values are refused the same way everywhere."""

from __future__ import annotations

from alliance.services.errors import InvalidInput


def optional_int(value: str, field: str) -> int | None:
    """An empty field is ``None``; digits are a number; anything else is a 4xx naming ``field``."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(field, f"{value!r} is not a number")
    return int(value)
