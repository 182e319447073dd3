"""E-mailing a check-in link through the clinic's SMTP server (only when one is configured).

The message holds the link and nothing clinical: no client name, no scores. Failures are
reported to the therapist, who can still copy the link; they never lose the link.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from alliance.config import Settings


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
