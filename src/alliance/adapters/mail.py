"""E-mail through the clinic's SMTP server (only when one is configured): the one SMTP path.

:class:`SmtpNotifier` is the :class:`alliance.notify.Notifier` for e-mail: the delivery service
sends check-in links and reminders through it, over a few connections kept open for a run, each
message written by :func:`plain_text_email`. :func:`send` hands one ready
:class:`~email.message.EmailMessage` to the same code (the therapist's notice that a client
needs attention today, :func:`attention_notice`).

No message holds anything clinical: no client name, no scores, no answers. A failed notice is
logged, and the urgent alert on the caseload still stands.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import suppress
from email.header import Header
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid, parseaddr

from alliance.config import Settings
from alliance.notify import DeliveryFailed, Message

logger = logging.getLogger(__name__)


class MailError(DeliveryFailed):
    """The message could not be handed to the SMTP server."""


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


class SmtpNotifier:
    """Sends :class:`~alliance.notify.Message` objects with the ``smtp_*`` settings (STARTTLS
    unless turned off) over up to ``connections`` SMTP connections at once (``smtp_connections``
    by default): :attr:`concurrency` tells the delivery service how many messages it may hand
    over in parallel, and each :meth:`send` borrows an idle connection or opens one. A
    connection stays open until :meth:`close`, so a run of ten thousand messages does not log
    in ten thousand times; a failure closes that connection and the next message opens a fresh
    one. Thread-safe."""

    channel = "email"

    def __init__(
        self, settings: Settings, *, timeout: float = 10.0, connections: int | None = None
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.concurrency = max(1, connections or settings.smtp_connections)
        self._lock = threading.Lock()
        self._idle: list[smtplib.SMTP] = []
        self._domain = settings.smtp_from.rpartition("@")[2].strip(" >") or "localhost"
        # The envelope sender, worked out once ("Clinic <a@b>" → "a@b"); smtplib's sendmail
        # parses both addresses again for every message.
        self._envelope_from = parseaddr(settings.smtp_from)[1] or settings.smtp_from

    def __enter__(self) -> SmtpNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: Message) -> None:
        try:
            raw = plain_text_email(
                sender=self.settings.smtp_from,
                to=message.to,
                subject=message.subject,
                body=message.body,
                domain=self._domain,
            )
        except ValueError as exc:
            raise MailError(str(exc), permanent=True) from None
        if raw is None:
            # An address or subject the fast writer leaves to the email package.
            email = MIMEText(message.body, "plain", "utf-8")
            email["From"] = self.settings.smtp_from
            email["To"] = message.to
            email["Subject"] = Header(message.subject, "utf-8").encode()
            self.send_email(email)
        else:
            to, envelope_from = message.to, self._envelope_from
            self._hand_over(lambda smtp: _transaction(smtp, envelope_from, to, raw))

    def send_email(self, email: EmailMessage | MIMEText) -> None:
        self._hand_over(lambda smtp: smtp.send_message(email))

    def _hand_over(self, deliver: Callable[[smtplib.SMTP], object]) -> None:
        if not self.settings.smtp_host:
            raise MailError("no SMTP server is configured", permanent=True)
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._borrow()
            deliver(smtp)
        except smtplib.SMTPRecipientsRefused as exc:
            _quit(smtp)
            codes = [code for code, _ in exc.recipients.values()]
            # 5xx: the server will never take this address; 4xx: try again later.
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise MailError(
                f"the SMTP server refused the address ({', '.join(map(str, codes))})",
                permanent=permanent,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            _quit(smtp)
            raise MailError(f"the SMTP server answered {exc.smtp_code}", permanent=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            _quit(smtp)
            raise MailError(f"the e-mail could not be sent ({exc.__class__.__name__})") from exc
        with self._lock:
            self._idle.append(smtp)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp in idle:
            _quit(smtp)

    def _borrow(self) -> smtplib.SMTP:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _open(self) -> smtplib.SMTP:
        settings = self.settings
        smtp = smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=self.timeout)
        try:
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
            smtp.close()
            raise
        return smtp


def _transaction(smtp: smtplib.SMTP, sender: str, to: str, raw: bytes) -> None:
    """One mail transaction for one recipient: MAIL, RCPT, DATA, raising what
    ``SMTP.sendmail`` raises. ``sendmail`` itself parses both addresses on every call (a
    quarter of the sender's time in a large run); ``to`` here is an address the service has
    validated, used as it is unless it looks like more than a bare address."""
    if not _BARE_ADDRESS.fullmatch(to):
        smtp.sendmail(sender, [to], raw)
        return
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.docmd("mail", f"FROM:<{sender}>")
    if code != 250:
        _reset(smtp)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.docmd("rcpt", f"TO:<{to}>")
    if code not in (250, 251):
        _reset(smtp)
        raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
    code, reply = smtp.data(raw)
    if code != 250:
        _reset(smtp)
        raise smtplib.SMTPDataError(code, reply)


_BARE_ADDRESS = re.compile(r"[^\s<>@\"(),;:]+@[^\s<>@\"(),;:]+")


def _reset(smtp: smtplib.SMTP) -> None:
    # As sendmail does: end the failed transaction so the connection can carry the next one.
    with suppress(OSError, smtplib.SMTPException):
        smtp.rset()


def _quit(smtp: smtplib.SMTP | None) -> None:
    """End a connection that is going away either way (a polite QUIT where it still works)."""
    if smtp is None:
        return
    with suppress(OSError, smtplib.SMTPException):
        smtp.quit()
    smtp.close()


# Longest header line SMTP allows (RFC 5322 2.1.1: 998 characters before CRLF).
_MAX_LINE = 998


@functools.lru_cache(maxsize=256)
def _subject_header(subject: str) -> str:
    """The Subject header's value: as written when ASCII, else RFC 2047 encoded words. Cached:
    a run sends thousands of messages under a handful of subjects (one per clinic)."""
    if subject.isascii():
        return subject
    return Header(subject, "utf-8").encode()


def plain_text_email(*, sender: str, to: str, subject: str, body: str, domain: str) -> bytes | None:
    """A plain-text UTF-8 message, ready for ``SMTP.sendmail``, written directly rather than
    through the email package (which costs about 0.3 ms a message in header folding and address
    parsing, a third of a 10,000-message run). ``None`` when a value needs what only the email
    package does (a non-ASCII address, a header too long for one line); the caller then uses it.

    Header values never carry a line break (that would let text inject headers): one found is
    a ``ValueError``. The body is 7bit when it is ASCII with short lines, else base64."""
    for value in (sender, to, subject):
        if "\r" in value or "\n" in value:
            raise ValueError("a header value holds a line break")
    if not (sender.isascii() and to.isascii()):
        return None
    subject_value = _subject_header(subject)
    if len(subject_value) + len("Subject: ") > _MAX_LINE:
        return None
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if body.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        encoding, payload = "7bit", "\r\n".join(lines).encode("ascii")
    else:
        encoding = "base64"
        payload = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    head = (
        f"From: {sender}\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject_value}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        f"Message-ID: {make_msgid(domain=domain)}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + payload


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
