"""The errors every service raises; the web layer maps them to HTTP, the CLI to exit code 2.

| error | meaning | HTTP |
|---|---|---|
| :class:`NotFound` | no such record, or the actor may not know it exists | 404 |
| :class:`Forbidden` | the actor is known but the action is not theirs to take | 403 |
| :class:`InvalidInput` | a field is wrong; ``field`` names it | 422 |
| :class:`Conflict` | the record's state forbids the action (e.g. episode already ended) | 409 |
| :class:`AuthenticationFailed` | wrong e-mail, password, code or token (one message) | 401 |
| :class:`TotpRequired` | password right; a second factor (or enrolling one) needed | 401 |
| :class:`PendingLoginSpent` | too many wrong codes for this half-finished sign-in | 401 |
| :class:`TooManyAttempts` | too many failed sign-ins for this account or device | 429 |
| :class:`LinkRefused` | check-in link unknown, expired or used (``reason``) | 410 |
"""

from __future__ import annotations

from typing import Any, Literal


class ServiceError(Exception):
    """Base class: ``message`` is safe to show to the user who caused it."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # An audit event (keyword arguments of alliance.store.audit.append, minus ``at``) that
        # unit_of_work writes after the rollback: how denials stay on record.
        self.audit: dict[str, Any] | None = None


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409


class InvalidInput(ServiceError):
    """``field`` and ``detail`` name the first problem; ``problems`` holds every one found
    (``(field, message)`` pairs, the first of them first), for forms that list them all.

    A message a client can cause is an :class:`alliance.messages.Msg`: English here as
    everywhere, and translatable by the client page that shows it."""

    status_code = 422

    def __init__(self, field: str, message: str, *, more: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message
        self.problems: tuple[tuple[str, str], ...] = ((field, message), *more)

    @classmethod
    def of(cls, problems: list[tuple[str, str]]) -> InvalidInput:
        """One error carrying several problems (at least one)."""
        (field, message), *more = problems
        return cls(field, message, more=tuple(more))


class AuthenticationFailed(ServiceError):
    status_code = 401

    def __init__(self, message: str = "wrong e-mail, password or code") -> None:
        super().__init__(message)


class PendingLoginSpent(AuthenticationFailed):
    """The half-finished sign-in (password accepted, code due) has had its last wrong code:
    the web layer drops it and the user starts again with the password."""

    def __init__(self) -> None:
        super().__init__("too many wrong codes; please sign in again")


class TooManyAttempts(ServiceError):
    """Too many failed sign-ins; ``retry_after`` seconds until the count starts again."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many login attempts. Please wait 15 minutes and try again.")
        self.retry_after = retry_after


class TotpRequired(ServiceError):
    """The password was right; ``enrolment_needed`` when the clinic enforces MFA and the user
    has not set it up yet (the web layer then shows the enrolment step)."""

    status_code = 401

    def __init__(self, *, enrolment_needed: bool = False) -> None:
        super().__init__(
            "set up a second factor to continue"
            if enrolment_needed
            else "enter the 6-digit code from your authenticator app"
        )
        self.enrolment_needed = enrolment_needed


LinkRefusal = Literal["unknown", "expired", "used", "session_done"]

_LINK_MESSAGES: dict[str, str] = {
    "unknown": "This check-in link is not valid. Please ask your therapist for a new one.",
    "expired": "This check-in link has expired. Please ask your therapist for a new one.",
    "used": "This check-in has already been completed. Thank you!",
    "session_done": (
        "A check-in for this session has already been completed, so these answers were not "
        "saved. Thank you! Your therapist will send a new link for your next session."
    ),
}


class LinkRefused(ServiceError):
    status_code = 410

    def __init__(self, reason: LinkRefusal) -> None:
        super().__init__(_LINK_MESSAGES[reason])
        self.reason: LinkRefusal = reason
