"""Proofs for ASVS requirements that no other test pinned down (see docs/security.md#owasp-asvs-5).

Each test names the behaviour, not the requirement: the table in docs/security.md maps one to
the other, and ``tests/test_security_doc.py`` keeps the table's citations pointing at tests
that exist.
"""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pyotp
import pytest
from fastapi.testclient import TestClient
from webworld import PASSWORD, Clock, World, build_world, csrf_from

from alliance.adapters import mail
from alliance.services import auth as auth_service
from alliance.services import goals as goals_service
from alliance.services.contact import email_address
from alliance.services.errors import AuthenticationFailed, InvalidInput
from alliance.web.deps import PublicAuth
from alliance.web.security import SESSION_COOKIE, sign, signature_valid

PRODUCTION = {
    "mode": "production",
    "secret_key": "x" * 40,
    "encryption_keys": "k1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
    "password_hash_profile": "standard",
}


def _login(client: TestClient, email: str, password: str) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )


def test_hsts_lasts_a_year_and_covers_subdomains(tmp_path: Path) -> None:
    world = build_world(tmp_path, **PRODUCTION)
    client = TestClient(world.app, base_url="https://testserver")
    for path in ("/login", "/api/v1/caseload", "/no-such-page"):
        policy = client.get(path).headers["strict-transport-security"]
        max_age = int(re.search(r"max-age=(\d+)", policy).group(1))  # type: ignore[union-attr]
        assert max_age >= 365 * 24 * 3600, path
        assert "includeSubDomains" in policy, path


def test_every_kind_of_answer_carries_the_security_headers(world: World) -> None:
    client = world.client()
    token = {"Authorization": f"Bearer {world.token('tom')}"}
    answers = {
        "page": client.get("/login"),
        "api": client.get("/api/v1/me", headers=token),
        "api error": client.get("/api/v1/caseload"),
        "schema": client.get("/openapi.json"),
        "not found": client.get("/no-such-page"),
        "static": client.get("/static/alliance.css"),
    }
    for what, response in answers.items():
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], what
        assert headers["x-content-type-options"] == "nosniff", what
        assert headers["referrer-policy"] == "no-referrer", what
        if what != "static":
            assert headers["cache-control"] == "no-store", what


def test_the_content_security_policy_allows_no_inline_script_plugins_or_base_tags(
    world: World,
) -> None:
    directives = dict(
        part.strip().split(" ", 1)
        for part in world.client().get("/login").headers["content-security-policy"].split(";")
    )
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in ";".join(directives.values())


def test_text_a_person_typed_is_escaped_where_it_is_shown(world: World) -> None:
    case = world.cases["tom"]
    payloads = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>']
    goals_service.agree_goals(
        world.ctx, actor=world.people["tom"].actor, episode_id=case.episode_id, goals=payloads
    )
    page = world.login("tom").get(f"/clients/{case.client_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<img src=x" not in page


def test_no_cross_origin_request_is_ever_allowed(world: World) -> None:
    client = world.client()
    evil = "https://evil.example"
    preflight = client.options(
        "/api/v1/intake",
        headers={
            "Origin": evil,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    token = {"Authorization": f"Bearer {world.token('tom')}", "Origin": evil}
    for response in (preflight, client.get("/api/v1/me", headers=token)):
        assert not [k for k in response.headers if k.lower().startswith("access-control-")]


def _new_session_cookie(response: Any) -> str:
    (value,) = [
        v.split(";")[0].split("=", 1)[1]
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and v.startswith(SESSION_COOKIE + "=")
    ]
    return value


def test_a_session_cookie_planted_before_login_is_replaced_by_a_fresh_one(world: World) -> None:
    planted = "A" * 43
    client = world.client()
    client.cookies.set(SESSION_COOKIE, planted, domain="testserver.local")
    response = _login(client, world.people["tom"].email, PASSWORD)
    assert response.status_code == 303
    first = _new_session_cookie(response)
    assert first != planted
    assert len(first) >= 43  # 32 random bytes, base64url: 256 bits
    assert client.cookies[SESSION_COOKIE] == first
    again = _new_session_cookie(_login(world.client(), world.people["tom"].email, PASSWORD))
    assert again not in (first, planted)
    stranger = world.client()
    stranger.cookies.set(SESSION_COOKIE, planted)
    assert stranger.get("/caseload", follow_redirects=False).status_code == 303


def test_a_64_character_password_is_taken_exactly_as_typed(world: World) -> None:
    password = "Ünïcode, spaces and CASE: " + "x" * 38  # 64 characters
    assert len(password) == 64
    auth_service.create_staff_user(
        world.ctx,
        actor=world.people["ada"].actor,
        clinic_id=world.cases["tom"].clinic_id,
        email="long@clinic1.example",
        display_name="Long",
        role="therapist",
        password=password,
    )
    for wrong in (password.lower(), password[:-1], password + " ", password.strip("Ü")):
        assert _login(world.client(), "long@clinic1.example", wrong).status_code == 401
    assert _login(world.client(), "long@clinic1.example", password).status_code == 303


def test_password_fields_are_masked_and_open_to_password_managers(world: World) -> None:
    login_page = world.client().get("/login").text
    users_page = world.login("ada").get("/admin/users").text
    assert re.search(r'type="password"[^>]*autocomplete="current-password"', login_page)
    assert re.search(r'type="password"[^>]*autocomplete="new-password"', users_page)
    for html in (login_page, users_page):
        assert "onpaste" not in html
        assert 'autocomplete="off"' not in re.sub(r"<input(?![^>]*password)[^>]*>", "", html)


def test_every_signed_in_page_offers_logout(world: World) -> None:
    paths = {
        "ada": ["/caseload", "/admin/users", "/admin/settings", "/admin/audit", "/account"],
        "sue": ["/team", "/account"],
        "tom": ["/caseload", f"/clients/{world.cases['tom'].client_id}", "/account"],
    }
    for who, pages in paths.items():
        client = world.login(who)
        for path in pages:
            page = client.get(path)
            assert page.status_code == 200, path
            assert '<form method="post" action="/logout"' in page.text, (who, path)


def test_answers_name_their_media_type_and_text_its_charset(world: World) -> None:
    client = world.client()
    token = {"Authorization": f"Bearer {world.token('tom')}"}
    assert client.get("/login").headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/no-such-page").headers["content-type"] == "text/html; charset=utf-8"
    # JSON is UTF-8 by definition (RFC 8259), so its media type takes no charset parameter.
    assert client.get("/api/v1/me", headers=token).headers["content-type"] == "application/json"
    assert client.get("/api/v1/caseload").headers["content-type"] == "application/json"
    assert client.get("/static/alliance.css").headers["content-type"].startswith("text/css")


def test_trace_is_not_supported(world: World) -> None:
    client = world.client()
    for path in ("/login", "/api/v1/me", "/healthz"):
        response = client.request("TRACE", path)
        assert response.status_code == 405, path
        assert "TRACE" not in response.headers.get("allow", "")


def test_the_static_folder_lists_no_directory(world: World) -> None:
    client = world.client()
    for path in ("/static/", "/static"):
        response = client.get(path)  # "/static" redirects to "/static/"
        assert response.status_code == 404, path
        # The 404 page links the stylesheet itself; a listing would name the files as text.
        assert ">alliance.css<" not in response.text, path
        assert ">copy.js<" not in response.text, path


def test_a_downloaded_report_names_a_file_the_server_chose(world: World) -> None:
    sample = Path(__file__).resolve().parents[1] / "data" / "transcripts" / "teams_session.vtt"
    http = world.login("tom")
    session_id = world.new_session("tom")
    page = http.get(f"/sessions/{session_id}/transcripts")
    response = http.post(
        f"/sessions/{session_id}/transcripts",
        data={"csrf_token": csrf_from(page.text), "therapist": ""},
        files={"transcript": ('../../etc/x"; filename="evil.html', sample.read_bytes(), "")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    report = http.get(response.headers["location"] + "/report.html")
    disposition = report.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="session-\d+-analysis\.html"', disposition)


def test_a_signature_made_for_one_purpose_is_refused_for_another() -> None:
    key = "k" * 40
    signature = sign(key, "checkin-manifest", "phq9,gad7")
    assert signature_valid(key, "checkin-manifest", "phq9,gad7", signature)
    assert not signature_valid(key, "another-purpose", "phq9,gad7", signature)
    assert not signature_valid(key, "checkin-manifest", "phq9", signature)
    assert not signature_valid("z" * 40, "checkin-manifest", "phq9,gad7", signature)


class _RecordingSMTP:
    contexts: ClassVar[list[ssl.SSLContext]] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        pass

    def __enter__(self) -> _RecordingSMTP:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def starttls(self, context: ssl.SSLContext) -> None:
        _RecordingSMTP.contexts.append(context)

    def login(self, user: str, password: str) -> None:
        pass

    def send_message(self, message: EmailMessage) -> None:
        pass

    def quit(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_e_mail_goes_over_tls_that_checks_the_servers_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _RecordingSMTP.contexts = []
    monkeypatch.setattr(mail.smtplib, "SMTP", _RecordingSMTP)
    world = build_world(tmp_path, smtp_host="smtp.example.org", smtp_from="clinic@example.org")
    message = EmailMessage()
    message["To"] = "someone@example.org"
    message.set_content("hello")
    mail.send(world.ctx.settings, message)
    (context,) = _RecordingSMTP.contexts
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_totp_code_older_than_the_step_before_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock)
    actor = world.people["tom"].actor
    secret, _ = auth_service.start_totp_enrolment(world.ctx, actor=actor)
    totp = pyotp.TOTP(secret)
    auth_service.confirm_totp(world.ctx, actor=actor, code=totp.at(clock()))
    clock.advance(seconds=300)
    step = totp.timecode(clock())
    stale = totp.generate_otp(step - 2)
    if stale in {totp.generate_otp(step + d) for d in (-1, 0, 1)}:
        pytest.skip("the stale code happens to equal a current one (one in a million)")
    email = world.people["tom"].email
    with pytest.raises(AuthenticationFailed):
        auth_service.authenticate(world.ctx, email=email, password=PASSWORD, totp=stale)
    assert auth_service.authenticate(
        world.ctx, email=email, password=PASSWORD, totp=totp.at(clock())
    ).user.totp_enabled


@pytest.mark.parametrize(
    "value",
    [
        "tina@example.org\r\nBcc: spy@evil.example",
        "tina@example.org\nBcc: spy@evil.example",
        "tina@example.org, spy@evil.example",
    ],
)
def test_an_address_that_would_add_a_header_or_a_recipient_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        email_address(value, field="contact_email")


def test_an_unexpected_error_is_logged_on_the_server(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    @world.app.get("/boom")
    async def boom(auth: PublicAuth) -> None:
        raise RuntimeError("internal detail for the log only")

    client = TestClient(world.app, raise_server_exceptions=False)
    with caplog.at_level("ERROR", logger="alliance.web"):
        assert client.get("/boom").status_code == 500
    (record,) = [r for r in caplog.records if r.name == "alliance.web"]
    assert "GET /boom" in record.getMessage()
    assert record.exc_info
    assert "internal detail" in str(record.exc_info[1])


def test_the_demo_clinic_with_its_known_passwords_refuses_production(tmp_path: Path) -> None:
    from alliance.demo import seed_demo

    world = build_world(tmp_path, **PRODUCTION)
    with pytest.raises(RuntimeError, match="development mode only"):
        seed_demo(world.ctx.session_factory, world.ctx.settings)
