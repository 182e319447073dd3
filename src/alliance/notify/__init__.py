"""Messages to clients and the interface that sends them: pure, no I/O.

:class:`Notifier` is what the delivery service talks to; :mod:`alliance.adapters.smtp` is its
e-mail implementation (an SMS provider would be another class with the same two methods).
:func:`checkin_invitation` and :func:`checkin_reminder` write the only texts a client is sent:
the clinic's name, a neutral sentence and the link — never a client's or therapist's name, a
score, an answer or anything else clinical, because e-mail is read on shared screens and kept
by mail providers. :func:`risk_escalation` is the one message staff are sent (a risk
alert waited too long for an acknowledgement), under the same rule: it says that one is
waiting and where to look, nothing about whom or what. :func:`retry_delay` is the back-off
between failed attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

MessageKind = Literal["invitation", "reminder"]


@dataclass(frozen=True)
class Message:
    """One message to one recipient (``to`` is an address for the channel)."""

    to: str
    subject: str
    body: str


class DeliveryFailed(Exception):
    """The message was not handed over. ``permanent`` failures (an address the server
    refuses outright) are not retried; the others are, with :func:`retry_delay` between."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Notifier(Protocol):
    """Sends messages over one channel. ``send`` raises :class:`DeliveryFailed`; ``close``
    ends any connection a run kept open (sending many messages over one connection).
    ``concurrency`` is how many ``send`` calls may run at once from different threads (1 for
    a notifier that is not thread-safe)."""

    channel: str
    concurrency: int

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


def checkin_invitation(*, clinic: str, url: str, expires_at: datetime, to: str) -> Message:
    """The message with a new check-in link."""
    return Message(
        to=to,
        subject=f"Your check-in from {clinic}",
        body=(
            f"Hello,\n\n{clinic} invites you to a short check-in about your sessions. "
            f"Open this private link to answer:\n\n{url}\n\n"
            f"The link is for you only, works once, and stays open until "
            f"{expires_at:%d %B %Y}.\n\n"
            "If you would rather not receive these e-mails, tell your therapist and they "
            "will stop.\n"
        ),
    )


def checkin_reminder(*, clinic: str, url: str, expires_at: datetime, to: str) -> Message:
    """The one reminder, for a link that was sent but not yet used."""
    return Message(
        to=to,
        subject=f"Reminder: your check-in from {clinic}",
        body=(
            f"Hello,\n\nA reminder that your check-in from {clinic} is still open. "
            f"It takes a few minutes:\n\n{url}\n\n"
            f"The link stays open until {expires_at:%d %B %Y}. If you have already answered, "
            "please ignore this message.\n"
        ),
    )


def retry_delay(
    attempts: int, *, base: timedelta, cap: timedelta = timedelta(hours=6)
) -> timedelta:
    """How long to wait after ``attempts`` failed attempts: ``base · 2^(attempts-1)``, at most
    ``cap`` (1 → base, 2 → 2·base, 3 → 4·base …)."""
    if attempts < 1:
        return timedelta(0)
    wait: timedelta = base * (2 ** (attempts - 1))
    return min(wait, cap)


__all__ = [
    "DeliveryFailed",
    "Message",
    "MessageKind",
    "Notifier",
    "checkin_invitation",
    "checkin_reminder",
    "retry_delay",
    "risk_escalation",
]


def risk_escalation(*, clinic: str, url: str, team_url: str, hours: int, to: str) -> Message:
    """To a supervisor or an admin: a risk alert waited more than ``hours`` hours for an
    acknowledgement. ``url`` opens that alert's risk protocol; ``team_url`` the team page.
    No client, therapist, answer or score: only where to look."""
    return Message(
        to=to,
        subject=f"{clinic}: a risk alert is waiting for acknowledgement",
        body=(
            f"Hello,\n\nA risk alert has waited more than {hours} hours in Alliance without "
            "being acknowledged. Please sign in and open it, then make sure the clinic's risk "
            f"protocol is followed today:\n\n{url}\n\n"
            f"The team page lists every risk alert that is waiting:\n\n{team_url}\n\n"
            "This message holds no client details on purpose.\n"
        ),
    )
