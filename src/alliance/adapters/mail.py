"""E-mail through the clinic's SMTP server (only when one is configured): the one SMTP path.

:class:`SmtpNotifier` is the :class:`alliance.notify.Notifier` for e-mail: the delivery service
sends check-in links and reminders through it, over one connection per run. :func:`send` hands
one ready :class:`~email.message.EmailMessage` to the same code (the therapist's notice that a
client needs attention today, :func:`attention_notice`).

No message holds anything clinical: no client name, no scores, no answers. A failed notice is
logged, and the urgent alert on the caseload still stands.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from contextlib import ExitStack, suppress
from email.header import Header
from email.message import EmailMessage
from email.mime.text import MIMEText

from alliance.config import Settings
from alliance.notify import DeliveryFailed, Message

logger = logging.getLogger(__name__)


class MailError(DeliveryFailed):
    """The message could not be handed to the SMTP server."""


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


class SmtpNotifier:
    """Sends :class:`~alliance.notify.Message` objects with the ``smtp_*`` settings (STARTTLS
    unless turned off). The connection opens on the first message and stays open until
    :meth:`close`, so a run of ten thousand messages does not log in ten thousand times; a
    failure closes it and the next message opens a fresh one."""

    channel = "email"

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._stack: ExitStack | None = None
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: Message) -> None:
        # MIMEText (the compat32 policy) builds a plain-text message several times faster than
        # EmailMessage's header registry, which counts when a run sends thousands.
        email = MIMEText(message.body, "plain", "utf-8")
        email["From"] = self.settings.smtp_from
        email["To"] = message.to
        email["Subject"] = Header(message.subject, "utf-8").encode()
        self.send_email(email)

    def send_email(self, email: EmailMessage | MIMEText) -> None:
        if not self.settings.smtp_host:
            raise MailError("no SMTP server is configured", permanent=True)
        try:
            self._connection().send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            # 5xx: the server will never take this address; 4xx: try again later.
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise MailError(
                f"the SMTP server refused the address ({', '.join(map(str, codes))})",
                permanent=permanent,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise MailError(f"the SMTP server answered {exc.smtp_code}", permanent=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise MailError(f"the e-mail could not be sent ({exc.__class__.__name__})") from exc

    def close(self) -> None:
        stack, self._stack, self._smtp = self._stack, None, None
        if stack is not None:
            # The connection is going away either way.
            with suppress(OSError, smtplib.SMTPException):
                stack.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            stack = ExitStack()
            try:
                smtp = stack.enter_context(
                    smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=self.timeout)
                )
                # One connection carries many small commands: without TCP_NODELAY each message
                # waits out the peer's delayed ACK (about 40 ms), 25 messages a second at best.
                sock = getattr(smtp, "sock", None)
                if isinstance(sock, socket.socket):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password or "")
            except BaseException:
                stack.close()
                raise
            self._stack, self._smtp = stack, smtp
        return self._smtp


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
    """Send one message over a connection of its own (raises :class:`MailError`)."""
    with SmtpNotifier(settings, timeout=timeout) as notifier:
        notifier.send_email(message)
