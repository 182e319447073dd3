"""Login, two-step sign-in, sessions, CSRF, rate limits and security headers."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient
from webworld import PASSWORD, Clock, World, build_world, csrf_from

from alliance.services import admin as admin_service
from alliance.services import auth as auth_service
from alliance.services.clinic_settings import ClinicSettings
from alliance.store import audit
from alliance.store.db import transaction
from alliance.web.security import CSRF_COOKIE, DEVICE_COOKIE, PENDING_COOKIE, SESSION_COOKIE


def _post_login(client: TestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )


def _set_cookie_headers(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def test_a_wrong_password_is_refused_with_a_message_and_no_session(world: World) -> None:
    client = world.client()
    response = _post_login(client, world.people["tom"].email, "not the password")
    assert response.status_code == 401
    assert "Wrong e-mail, password or code" in response.text
    assert SESSION_COOKIE not in client.cookies


def test_the_session_cookie_is_httponly_and_samesite_lax(world: World) -> None:
    response = _post_login(world.client(), world.people["tom"].email)
    cookie = next(c for c in _set_cookie_headers(response) if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development mode over plain http


def test_production_mode_uses_host_prefixed_secure_cookies(tmp_path: Path) -> None:
    world = build_world(
        tmp_path,
        mode="production",
        secret_key="x" * 40,
        encryption_keys="k1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
        password_hash_profile="standard",
    )
    client = TestClient(world.app, base_url="https://testserver")  # Secure cookies need https
    page = client.get("/login")
    assert "max-age" in page.headers["strict-transport-security"]
    response = client.post(
        "/login",
        data={
            "email": world.people["tom"].email,
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookies = _set_cookie_headers(page) + _set_cookie_headers(response)
    names = {c.split("=", 1)[0] for c in cookies}
    assert names == {
        "__Host-" + CSRF_COOKIE,
        "__Host-" + SESSION_COOKIE,
        "__Host-" + PENDING_COOKIE,  # deleted: no half-finished sign-in is left behind
        "__Host-" + DEVICE_COOKIE,
    }
    for cookie in cookies:
        # What browsers require of a __Host- cookie: Secure, Path=/, no Domain.
        assert "Secure" in cookie, cookie
        assert "Path=/" in cookie, cookie
        assert "domain=" not in cookie.lower(), cookie
        assert "HttpOnly" in cookie, cookie
    # The session works under its prefixed name; the plain name means nothing here.
    assert client.get("/caseload").status_code == 200
    plain = TestClient(world.app, base_url="https://testserver")
    plain.cookies.set(SESSION_COOKIE, client.cookies["__Host-" + SESSION_COOKIE])
    assert plain.get("/caseload", follow_redirects=False).status_code == 303


def test_development_mode_cookies_have_no_prefix_and_are_not_secure(world: World) -> None:
    response = _post_login(world.client(), world.people["tom"].email)
    names = {c.split("=", 1)[0] for c in _set_cookie_headers(response)}
    assert SESSION_COOKIE in names
    assert not any(name.startswith("__Host-") for name in names)


def test_logout_ends_the_session_on_the_server(world: World) -> None:
    client = world.login("tom")
    stolen = client.cookies[SESSION_COOKIE]
    page = client.get("/caseload")
    response = client.post(
        "/logout", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    replay = world.client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    again = replay.get("/caseload", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")


def test_an_idle_session_expires_and_sends_the_user_to_login(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock, session_idle_minutes=30)
    client = world.login("tom")
    assert client.get("/caseload").status_code == 200
    clock.advance(minutes=31)
    response = client.get("/caseload", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?flash=expired"
    assert "Your session expired" in client.get("/login?flash=expired").text


def _enable_totp(world: World, who: str, clock: Clock) -> pyotp.TOTP:
    actor = world.people[who].actor
    secret, _uri = auth_service.start_totp_enrolment(world.ctx, actor=actor)
    totp = pyotp.TOTP(secret)
    auth_service.confirm_totp(world.ctx, actor=actor, code=totp.at(clock()))
    clock.advance(seconds=90)  # the next login must use a later code (no replay)
    return totp


def test_a_user_with_totp_must_enter_a_code_after_the_password(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock)
    totp = _enable_totp(world, "tom", clock)
    client = world.client()
    response = _post_login(client, world.people["tom"].email)
    assert response.status_code == 303
    assert response.headers["location"] == "/login/mfa"
    assert SESSION_COOKIE not in client.cookies
    assert PENDING_COOKIE in client.cookies
    # The pending step is not a session.
    assert client.get("/caseload", follow_redirects=False).status_code == 303
    page = client.get("/login/mfa")
    assert "6-digit code" in page.text
    wrong = client.post("/login/mfa", data={"code": "000000", "csrf_token": csrf_from(page.text)})
    assert wrong.status_code == 401
    right = client.post(
        "/login/mfa",
        data={"code": totp.at(clock()), "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert right.status_code == 303
    assert client.get("/caseload").status_code == 200


def test_a_forged_pending_cookie_does_not_reach_the_code_step(world: World) -> None:
    client = world.client()
    client.cookies.set(PENDING_COOKIE, f"{world.people['tom'].user_id}.totp.9999999999.deadbeef")
    response = client.get("/login/mfa", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_a_clinic_that_enforces_mfa_makes_new_users_enrol_first(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock)
    admin = world.people["ada"].actor
    current = admin_service.get_clinic(world.ctx, actor=admin).settings
    admin_service.update_clinic_settings(
        world.ctx,
        actor=admin,
        settings=ClinicSettings.model_validate({**current.to_json(), "mfa_enforced": True}),
    )
    client = world.client()
    response = _post_login(client, world.people["tess"].email)
    assert response.headers["location"] == "/login/enrol"
    page = client.get("/login/enrol")
    secret = re.search(r'<code class="mono" id="secret">([A-Z2-7]+)</code>', page.text)
    assert secret, page.text
    assert "otpauth://totp/" in page.text  # shown as text: no outside QR-code service
    code = pyotp.TOTP(secret.group(1)).at(clock())
    done = client.post(
        "/login/enrol",
        data={"code": code, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/caseload"
    assert client.get("/account").status_code == 200


def test_a_user_can_turn_on_totp_from_the_account_page(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock)
    client = world.login("tom")
    page = client.get("/account")
    assert "Set up two-step sign-in" in page.text
    enrol = client.post("/account/mfa", data={"csrf_token": csrf_from(page.text)})
    secret = re.search(r'id="secret">([A-Z2-7]+)<', enrol.text)
    assert secret
    bad = client.post(
        "/account/mfa/confirm", data={"code": "000000", "csrf_token": csrf_from(enrol.text)}
    )
    assert bad.status_code == 422
    assert "not right" in bad.text
    good = client.post(
        "/account/mfa/confirm",
        data={"code": pyotp.TOTP(secret.group(1)).at(clock()), "csrf_token": csrf_from(enrol.text)},
    )
    assert good.status_code == 200
    assert "Two-step sign-in is now on" in good.text


def test_a_form_post_without_the_csrf_token_is_refused(world: World) -> None:
    client = world.login("tom")
    alert_id = world.cases["tom"].alert_id
    response = client.post(f"/alerts/{alert_id}/acknowledge", data={"note": "x"})
    assert response.status_code == 403
    assert "security token" in response.text
    assert "open" in client.get(f"/clients/{world.cases['tom'].client_id}").text


def test_a_csrf_token_from_another_session_is_refused(world: World) -> None:
    tess = world.login("tess")
    foreign_token = csrf_from(tess.get("/caseload").text)
    tom = world.login("tom")
    response = tom.post(
        f"/alerts/{world.cases['tom'].alert_id}/acknowledge",
        data={"note": "x", "csrf_token": foreign_token},
    )
    assert response.status_code == 403


def test_the_login_form_itself_needs_its_csrf_token(world: World) -> None:
    client = world.client()
    client.get("/login")
    response = client.post(
        "/login", data={"email": world.people["tom"].email, "password": PASSWORD}
    )
    assert response.status_code == 403


def test_login_attempts_are_rate_limited_with_a_message(tmp_path: Path) -> None:
    world = build_world(tmp_path, login_rate_limit=3)
    client = world.client()
    statuses = [
        _post_login(client, world.people["tom"].email, "wrong one").status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    response = _post_login(client, world.people["tom"].email)  # even the right password
    assert response.status_code == 429
    assert "Too many login attempts" in response.text
    assert int(response.headers["retry-after"]) > 0


def test_check_in_link_requests_are_rate_limited(tmp_path: Path) -> None:
    world = build_world(tmp_path, link_rate_limit=2)
    client = world.client()
    token = world.cases["tom"].link_token
    assert [client.get(f"/c/{token}").status_code for _ in range(3)] == [200, 200, 429]
    assert "Too many" in client.get(f"/c/{token}").text


def test_pages_carry_the_security_headers(world: World) -> None:
    response = world.client().get("/login")
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_no_page_loads_anything_from_another_origin(world: World) -> None:
    client = world.login("tom")
    for path in (
        "/login",
        "/caseload",
        f"/clients/{world.cases['tom'].client_id}",
        f"/c/{world.new_link('tom')}",
    ):
        html = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', html), path


def test_a_role_denial_is_audited(world: World) -> None:
    client = world.login("tom")
    assert client.get("/team").status_code == 403
    with transaction(world.ctx.session_factory) as session:
        denials = audit.events(session, action="deny", entity_type="route")
        assert [(e.actor_id, e.entity_id) for e in denials] == [
            (world.people["tom"].user_id, "/team")
        ]


def test_a_bearer_token_is_not_accepted_on_pages(world: World) -> None:
    client = world.client()
    response = client.get(
        "/caseload",
        headers={"Authorization": f"Bearer {world.token('tom')}"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_a_session_cookie_is_not_accepted_by_the_api(world: World) -> None:
    client = world.login("tom")
    assert client.get("/api/v1/caseload").status_code == 401


def test_a_revoked_access_token_stops_working(world: World) -> None:
    view, token = auth_service.create_access_token(
        world.ctx, actor=world.people["tom"].actor, name="script"
    )
    client = world.client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json()["role"] == "therapist"
    auth_service.revoke_access_token(world.ctx, actor=world.people["tom"].actor, token_id=view.id)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
