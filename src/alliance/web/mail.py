"""E-mailing through the clinic's SMTP server (only when one is configured): a check-in link
to a client, and a notice to a therapist that a client needs attention today.

Neither message holds anything clinical: no client name, no scores, no answers. A failed link
e-mail is reported to the therapist, who can still copy the link; a failed notice is logged,
and the urgent alert on the caseload still stands.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from alliance.config import Settings

logger = logging.getLogger(__name__)


class MailError(Exception):
    """The message could not be handed to the SMTP server."""


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def checkin_message(
    settings: Settings, *, to: str, url: str, therapist: str | None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = "Your one-minute check-in"
    who = f"{therapist} has" if therapist else "Your therapist has"
    message.set_content(
        f"Hello,\n\n{who} sent you a short check-in about your sessions. It takes about a "
        f"minute:\n\n{url}\n\nThe link is private to you, works once, and expires in "
        f"{settings.checkin_link_days} days.\n"
    )
    return message


def attention_notice(settings: Settings, *, to: str) -> EmailMessage:
    """A therapist's notice after a client's answer raised a risk flag. E-mail is not a safe
    place for clinical content, so it says only that someone needs attention and where to look."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = "A client needs your attention today"
    message.set_content(
        "Hello,\n\nA client on your caseload needs your attention today. Open Alliance to "
        f"see the alert:\n\n{settings.base_url.rstrip('/')}/caseload\n"
    )
    return message


def send_quietly(settings: Settings, message: EmailMessage) -> None:
    """:func:`send`, logging a failure instead of raising (for work done after a response)."""
    try:
        send(settings, message)
    except MailError as exc:
        logger.warning("notice to a therapist not sent: %s", exc)


def send(settings: Settings, message: EmailMessage, *, timeout: float = 10.0) -> None:
    """Send one message with the ``smtp_*`` settings (STARTTLS unless turned off)."""
    if not settings.smtp_host:
        raise MailError("no SMTP server is configured")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"the e-mail could not be sent ({exc.__class__.__name__})") from exc
