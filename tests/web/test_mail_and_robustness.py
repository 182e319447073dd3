"""E-mailing a check-in link, and odd requests that must get a 4xx rather than a crash."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from webworld import World, build_world, csrf_from

from alliance.adapters import mail
from alliance.web.deps import PublicAuth


class FakeSMTP:
    """Records what would have been sent (no network in tests)."""

    sent: ClassVar[list[EmailMessage]] = []
    fail = False

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port = host, port

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def starttls(self, context: Any) -> None:
        pass

    def login(self, user: str, password: str) -> None:
        pass

    def send_message(self, message: EmailMessage) -> None:
        if FakeSMTP.fail:
            raise OSError("connection refused")
        FakeSMTP.sent.append(message)

    def ehlo_or_helo_if_needed(self) -> None:
        pass

    def docmd(self, command: str, args: str = "") -> tuple[int, bytes]:
        if FakeSMTP.fail:
            raise OSError("connection refused")
        return 250, b"OK"

    def data(self, raw: bytes) -> tuple[int, bytes]:
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        FakeSMTP.sent.append(parsed)
        return 250, b"OK"

    def rset(self) -> None:
        pass

    def quit(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def smtp_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    FakeSMTP.sent = []
    FakeSMTP.fail = False
    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    return build_world(tmp_path, smtp_host="smtp.example.org", smtp_from="clinic@example.org")


def _send_link(world: World, email: bool = True) -> str:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    data = {"csrf_token": csrf_from(page.text)}
    if email:
        data["send_email"] = "1"
    return client.post(f"/clients/{case.client_id}/checkin-links", data=data).text


def test_with_smtp_configured_the_link_is_emailed_without_clinical_content(
    smtp_world: World,
) -> None:
    page = _send_link(smtp_world)
    assert "It was e-mailed to the client" in page
    (message,) = FakeSMTP.sent
    assert message["To"] == "tina@example.org"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    url = re.search(r'id="new-link" class="copy-link" readonly value="([^"]+)"', page)
    assert url
    assert url.group(1) in body
    assert "Tina" not in body  # no client name, no scores


def test_a_failed_email_still_shows_the_link_to_copy(smtp_world: World) -> None:
    FakeSMTP.fail = True
    page = _send_link(smtp_world)
    assert "could not be sent" in page
    assert 'id="new-link"' in page


def test_without_smtp_there_is_no_email_option(world: World) -> None:
    client = world.login("tom")
    page = client.get(f"/clients/{world.cases['tom'].client_id}").text
    assert "E-mail it to" not in page


def test_head_is_answered_on_the_health_check_and_refused_cleanly_elsewhere(
    world: World,
) -> None:
    assert world.client().head("/healthz").status_code == 200
    assert world.client().head("/login").status_code == 405


def test_json_posted_to_a_form_endpoint_is_refused_cleanly(world: World) -> None:
    client = world.login("tom")
    response = client.post(f"/alerts/{world.cases['tom'].alert_id}/acknowledge", json={"note": "x"})
    assert response.status_code == 403  # no CSRF token in a JSON body


def test_an_overlong_note_is_a_422_naming_the_field(world: World) -> None:
    client = world.login("tom")
    page = client.get(f"/clients/{world.cases['tom'].client_id}")
    response = client.post(
        f"/alerts/{world.cases['tom'].alert_id}/acknowledge",
        data={"note": "x" * 5000, "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 422
    assert "note" in response.text


def test_a_malformed_cookie_header_is_ignored(world: World) -> None:
    response = world.client().get("/login", headers={"Cookie": 'bad"cookie; ==='})
    assert response.status_code == 200


def test_an_unknown_flash_code_shows_nothing(world: World) -> None:
    page = world.client().get("/login?flash=<script>alert(1)</script>").text
    assert "<script>alert(1)" not in page
    assert 'class="flash"' not in page


def test_an_unexpected_error_is_a_plain_500_page_without_a_traceback(world: World) -> None:
    @world.app.get("/boom")
    async def boom(auth: PublicAuth) -> None:
        raise RuntimeError("internal detail that must not leak")

    client = TestClient(world.app, raise_server_exceptions=False)
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "internal detail" not in response.text
    assert "Traceback" not in response.text
    api = client.get("/api/v1/caseload", headers={"Authorization": "Bearer alp_x"})
    assert api.status_code == 401
