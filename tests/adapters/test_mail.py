"""The e-mail adapter (alliance.adapters.mail): the messages it writes parse back as what was
meant, header values cannot inject headers, and the connection pool ends every connection."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from alliance.adapters.mail import MailError, SmtpNotifier, plain_text_email
from alliance.config import Settings
from alliance.notify import Message
from smtp_sink import SmtpSink, smtp_settings


def _parse(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _write(subject: str, body: str, to: str = "client@mail.example") -> bytes:
    raw = plain_text_email(
        sender="clinic@north.example", to=to, subject=subject, body=body, domain="north.example"
    )
    assert raw is not None
    return raw


def test_an_ascii_message_is_plain_7bit_with_crlf_line_ends() -> None:
    raw = _write("Your check-in from Northside", "Hello,\n\nOpen this link:\n\nhttps://x/c/abc\n")
    _, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # no bare line feed anywhere
    assert body == b"Hello,\r\n\r\nOpen this link:\r\n\r\nhttps://x/c/abc\r\n"
    parsed = _parse(raw)
    assert parsed["From"] == "clinic@north.example"
    assert parsed["To"] == "client@mail.example"
    assert parsed["Subject"] == "Your check-in from Northside"
    assert parsed["Content-Transfer-Encoding"] == "7bit"
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Date"] is not None
    assert str(parsed["Message-ID"]).endswith("@north.example>")


def test_non_ascii_subject_and_body_are_encoded_and_read_back() -> None:
    body = "Hola,\n\nClínica Añil te invita: ¿cómo van las sesiones?\n"
    raw = _write("Tu cuestionario de Clínica Añil", body)
    assert raw.isascii()
    parsed = _parse(raw)
    assert parsed["Subject"] == "Tu cuestionario de Clínica Añil"
    assert parsed["Content-Transfer-Encoding"] == "base64"
    payload = parsed.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode("utf-8") == body
    # base64 lines stay short (76 characters), as MIME asks.
    encoded = raw.partition(b"\r\n\r\n")[2]
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76
    assert base64.b64decode(encoded.replace(b"\r\n", b"")).decode() == body


def test_each_message_gets_its_own_message_id() -> None:
    first, second = _parse(_write("S", "b")), _parse(_write("S", "b"))
    assert first["Message-ID"] != second["Message-ID"]


@pytest.mark.parametrize(
    "field", ["subject", "to"], ids=["line break in subject", "line break in address"]
)
def test_a_line_break_in_a_header_value_is_refused(field: str) -> None:
    values = {"subject": "Check-in", "to": "client@mail.example"}
    values[field] += "\r\nBcc: someone@else.example"
    with pytest.raises(ValueError, match="line break"):
        plain_text_email(sender="clinic@north.example", body="b", domain="north.example", **values)


def test_a_non_ascii_address_is_left_to_the_email_package() -> None:
    assert (
        plain_text_email(
            sender="clinic@north.example",
            to="zoë@mail.example",
            subject="S",
            body="b",
            domain="north.example",
        )
        is None
    )


def test_the_notifier_refuses_header_injection_for_good(sink: SmtpSink) -> None:
    notifier = SmtpNotifier(Settings().model_copy(update=smtp_settings(sink.port)), timeout=5)
    with notifier, pytest.raises(MailError) as caught:
        notifier.send(Message(to="a@mail.example", subject="Hi\nBcc: x@y.example", body="b"))
    assert caught.value.permanent
    assert sink.messages == []


def test_messages_arrive_as_written_and_close_ends_every_connection(sink: SmtpSink) -> None:
    settings = Settings().model_copy(update=smtp_settings(sink.port))
    notifier = SmtpNotifier(settings, timeout=5, connections=2)
    assert notifier.concurrency == 2
    with notifier:
        notifier.send(Message(to="a@mail.example", subject="Clínica", body="Línea\n"))
        notifier.send(Message(to="b@mail.example", subject="Plain", body="Line\n"))
    assert [m["To"] for m in sink.messages] == ["a@mail.example", "b@mail.example"]
    # On the wire a line ends in CRLF (7bit) or is base64; either way the text is what was sent.
    assert [body.replace("\r\n", "\n") for body in sink.bodies()] == ["Línea\n", "Line\n"]
    assert notifier._idle == []  # the pool is what this test is about


def test_the_envelope_carries_the_bare_addresses(sink: SmtpSink) -> None:
    settings = Settings().model_copy(
        update={**smtp_settings(sink.port), "smtp_from": "Northside Clinic <clinic@north.example>"}
    )
    with SmtpNotifier(settings, timeout=5) as notifier:
        notifier.send(Message(to="a@mail.example", subject="S", body="b"))
    assert sink.envelopes == [("clinic@north.example", ["a@mail.example"])]
    assert sink.messages[0]["From"] == "Northside Clinic <clinic@north.example>"


@pytest.mark.parametrize(("code", "permanent"), [("550", True), ("451", False)])
def test_a_refused_recipient_is_a_mail_error_and_the_connection_goes_on(
    sink: SmtpSink, code: str, permanent: bool
) -> None:
    settings = Settings().model_copy(update=smtp_settings(sink.port))
    with SmtpNotifier(settings, timeout=5) as notifier:
        sink.refuse = code
        with pytest.raises(MailError) as caught:
            notifier.send(Message(to="a@mail.example", subject="S", body="b"))
        assert caught.value.permanent is permanent
        assert code in caught.value.reason
        sink.refuse = None
        notifier.send(Message(to="b@mail.example", subject="S", body="b"))
    assert [m["To"] for m in sink.messages] == ["b@mail.example"]
