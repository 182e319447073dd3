"""Sign-in hardening through the pages and the API (issue 9): the code step cannot be guessed
from ever-new addresses, a known browser still signs in while the account is being guessed,
deactivation and forced resets end everything, passwords are changed on a page and by API,
and an e-mail no database can store is a 4xx on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from webworld import PASSWORD, Clock, World, build_world, csrf_from, login

from alliance.services import admin as admin_service
from alliance.services import auth as auth_service
from alliance.web.security import DEVICE_COOKIE, PENDING_COOKIE, SESSION_COOKIE

NEW_PASSWORD = "plum tractor sleeps quietly"


class ForwardedFor:
    """What uvicorn does with ``--forwarded-allow-ips='*'``: the client address is whatever
    the X-Forwarded-For header says. The probe sent a new one with every guess."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-for":
                    scope = {**scope, "client": (value.decode().split(",")[0].strip(), 1)}
        await self.app(scope, receive, send)


def _client(world: World) -> TestClient:
    return TestClient(ForwardedFor(world.app))


def _post_login(client: TestClient, email: str, password: str, ip: str = "192.0.2.1") -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        headers={"X-Forwarded-For": ip},
        follow_redirects=False,
    )


def _enable_totp(world: World, who: str, clock: Clock) -> pyotp.TOTP:
    actor = world.people[who].actor
    secret, _ = auth_service.start_totp_enrolment(world.ctx, actor=actor)
    totp = pyotp.TOTP(secret)
    auth_service.confirm_totp(world.ctx, actor=actor, code=totp.at(clock()))
    clock.advance(seconds=90)
    return totp


def _wrong_code(totp: pyotp.TOTP, clock: Clock) -> str:
    right = {totp.at(clock(), counter_offset=o) for o in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in right)


def _code(client: TestClient, code: str, ip: str) -> Any:
    page = client.get("/login/mfa", headers={"X-Forwarded-For": ip})
    return client.post(
        "/login/mfa",
        data={"code": code, "csrf_token": csrf_from(page.text)},
        headers={"X-Forwarded-For": ip},
        follow_redirects=False,
    )


def test_a_pending_login_dies_after_five_wrong_codes_whatever_the_address(
    tmp_path: Path,
) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock, login_rate_limit=10)
    totp = _enable_totp(world, "tom", clock)
    client = _client(world)
    assert _post_login(client, world.people["tom"].email, PASSWORD).status_code == 303
    statuses = [
        _code(client, _wrong_code(totp, clock), f"10.0.0.{n}").status_code for n in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 303]  # the fifth sends the user back to the start
    assert PENDING_COOKIE not in client.cookies
    stolen = client.get("/login?flash=codes")
    assert "Too many wrong codes" in stolen.text


def test_wrong_codes_from_ever_new_addresses_stop_at_the_account_limit(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock, login_rate_limit=10)
    totp = _enable_totp(world, "tom", clock)
    guesses = 0
    n = 0
    # The probe: 30 wrong codes, each from a new address, a new sign-in every four codes.
    results: list[int] = []
    while guesses < 30:
        client = _client(world)
        n += 1
        assert _post_login(client, world.people["tom"].email, PASSWORD, f"10.1.{n}.1").status_code
        for _ in range(4):
            guesses += 1
            results.append(_code(client, _wrong_code(totp, clock), f"10.2.{guesses}.1").status_code)
    assert results.count(401) == 10, str(results)  # then the account's code step is closed
    assert set(results[10:]) == {429}
    client = _client(world)
    _post_login(client, world.people["tom"].email, PASSWORD, "10.9.9.9")
    right = _code(client, totp.at(clock()), "10.9.9.10")
    assert right.status_code == 429  # no session from the 31st try
    assert SESSION_COOKIE not in client.cookies


def test_a_known_browser_signs_in_while_others_guess_the_password(tmp_path: Path) -> None:
    world = build_world(tmp_path, login_rate_limit=10)
    email = world.people["tom"].email
    laptop = _client(world)
    assert _post_login(laptop, email, PASSWORD).status_code == 303
    assert DEVICE_COOKIE in laptop.cookies
    laptop.cookies.delete(SESSION_COOKIE)  # signed out; the device cookie stays

    attacker = _client(world)
    codes = [_post_login(attacker, email, "guess", f"203.0.113.{n}").status_code for n in range(12)]
    assert codes == [401] * 10 + [429, 429]
    # Untrusted clients wait, even with the right password ...
    assert _post_login(_client(world), email, PASSWORD, "198.51.100.1").status_code == 429
    # ... while the known browser, from the same address as a guess, still gets in.
    known = _post_login(laptop, email, PASSWORD, "203.0.113.3")
    assert known.status_code == 303
    assert known.headers["location"] == "/caseload"
    # Another user is not slowed down by it.
    assert _post_login(_client(world), world.people["tess"].email, PASSWORD).status_code == 303


def test_a_forged_device_cookie_is_just_an_untrusted_client(tmp_path: Path) -> None:
    world = build_world(tmp_path, login_rate_limit=3)
    email = world.people["tom"].email
    forged = _client(world)
    forged.cookies.set(DEVICE_COOKIE, f"{world.people['tom'].user_id}.nonce.deadbeef")
    codes = [_post_login(forged, email, "guess", f"203.0.113.{n}").status_code for n in range(4)]
    assert codes == [401, 401, 401, 429]


def test_deactivation_ends_sessions_and_tokens_for_good(world: World) -> None:
    browser = world.login("tom")
    token = world.token("tom")
    api = world.client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/me", headers=bearer).status_code == 200
    ada = world.login("ada")
    page = ada.get("/admin/users")
    tom_id = world.people["tom"].user_id
    for active in ("false", "true"):
        response = ada.post(
            f"/admin/users/{tom_id}/active",
            data={"active": active, "csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303
    # Reactivated: the account works again, the old session and token do not.
    assert browser.get("/caseload", follow_redirects=False).status_code == 303
    assert api.get("/api/v1/me", headers=bearer).status_code == 401
    assert world.login("tom").get("/caseload").status_code == 200


def test_a_user_changes_their_own_password_on_the_account_page(world: World) -> None:
    here = world.login("tom")
    elsewhere = world.login("tom")
    page = here.get("/account/password")
    assert page.status_code == 200
    csrf = csrf_from(page.text)

    def change(current: str, new: str, confirm: str | None = None) -> Any:
        return here.post(
            "/account/password",
            data={
                "current_password": current,
                "new_password": new,
                "confirm_password": new if confirm is None else confirm,
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )

    wrong = change("not it at all", NEW_PASSWORD)
    assert wrong.status_code == 422
    assert "That is not your current password." in wrong.text
    weak = change(PASSWORD, "aaaaaaaaaaaa")
    assert weak.status_code == 422
    assert "too easy to guess" in weak.text
    assert "Repeats like" in weak.text
    assert change(PASSWORD, NEW_PASSWORD, "something else").status_code == 422
    done = change(PASSWORD, NEW_PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == "/account?flash=password"
    assert here.get("/caseload").status_code == 200  # this session stays
    assert elsewhere.get("/caseload", follow_redirects=False).status_code == 303
    client = world.client()
    assert _post_login(client, world.people["tom"].email, PASSWORD).status_code == 401
    login(world.client(), world.people["tom"].email, NEW_PASSWORD)


def test_the_api_changes_the_callers_password(world: World) -> None:
    client = world.client()
    bearer = {"Authorization": f"Bearer {world.token('tom')}"}
    weak = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "password1234"},
        headers=bearer,
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["field"] == "new_password"
    wrong = client.post(
        "/api/v1/me/password",
        json={"current_password": "nope nope nope", "new_password": NEW_PASSWORD},
        headers=bearer,
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "current_password"
    done = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer,
    )
    assert done.status_code == 200
    assert client.get("/api/v1/me", headers=bearer).status_code == 200  # tokens keep working
    login(world.client(), world.people["tom"].email, NEW_PASSWORD)


def test_an_admin_forces_a_new_password_at_the_next_sign_in(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock)
    totp = _enable_totp(world, "tom", clock)
    tom = world.client()
    login_page = tom.get("/login")
    tom.post(
        "/login",
        data={
            "email": world.people["tom"].email,
            "password": PASSWORD,
            "csrf_token": csrf_from(login_page.text),
        },
    )
    tom.post(
        "/login/mfa",
        data={"code": totp.at(clock()), "csrf_token": csrf_from(tom.get("/login/mfa").text)},
    )
    assert tom.get("/caseload").status_code == 200
    token = world.token("tom")
    ada = world.login("ada")
    page = ada.get("/admin/users")
    assert "Require new password" in page.text
    tom_id = world.people["tom"].user_id
    forced = ada.post(
        f"/admin/users/{tom_id}/password-reset",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert forced.headers["location"] == "/admin/users?flash=reset"
    assert "new password due" in ada.get("/admin/users").text
    assert tom.get("/caseload", follow_redirects=False).status_code == 303
    bearer = {"Authorization": f"Bearer {token}"}
    assert world.client().get("/api/v1/me", headers=bearer).status_code == 401

    # Next sign-in: password, code, then a new password before any session.
    clock.advance(seconds=60)
    again = world.client()
    assert _post_login(again, world.people["tom"].email, PASSWORD).status_code == 303
    step = _code(again, totp.at(clock()), "192.0.2.1")
    assert step.headers["location"] == "/login/password"
    assert SESSION_COOKIE not in again.cookies
    page = again.get("/login/password")
    weak = again.post(
        "/login/password",
        data={
            "new_password": PASSWORD,
            "confirm_password": PASSWORD,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert weak.status_code == 422
    assert "Must differ from the current password." in weak.text
    done = again.post(
        "/login/password",
        data={
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/caseload"
    assert again.get("/caseload").status_code == 200


def test_the_forced_reset_route_takes_bounded_ids_and_admins_only(world: World) -> None:
    ada = world.login("ada")
    csrf = csrf_from(ada.get("/admin/users").text)
    for bad in ("99999999999999999999", "0", "-1"):
        response = ada.post(f"/admin/users/{bad}/password-reset", data={"csrf_token": csrf})
        assert response.status_code == 404, bad
    other_clinic = world.people["bea"].user_id
    assert (
        ada.post(f"/admin/users/{other_clinic}/password-reset", data={"csrf_token": csrf})
    ).status_code == 404
    tom = world.login("tom")
    csrf_tom = csrf_from(tom.get("/caseload").text)
    denied = tom.post(
        f"/admin/users/{world.people['tess'].user_id}/password-reset",
        data={"csrf_token": csrf_tom},
    )
    assert denied.status_code == 403
    bearer = {"Authorization": f"Bearer {world.token('ada')}"}
    api = world.client().post(
        f"/api/v1/users/{world.people['tess'].user_id}/password-reset", headers=bearer
    )
    assert api.status_code == 200
    assert api.json()["must_change_password"] is True
    weak_user = world.client().post(
        "/api/v1/users",
        json={
            "email": "weak@a.example",
            "display_name": "Weak",
            "role": "therapist",
            "password": "aaaaaaaaaaaa",
        },
        headers=bearer,
    )
    assert weak_user.status_code == 422
    assert "too easy to guess" in weak_user.json()["errors"][0]["message"]
    assert admin_service.list_users(world.ctx, actor=world.people["ada"].actor)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        yield build_world(tmp_path, login_rate_limit=10)
    else:
        url = str(request.getfixturevalue("postgres_database_url"))
        yield build_world(tmp_path, database_url=url, login_rate_limit=10)


@pytest.mark.parametrize(
    "email", ["tom\x00@a.example", "\x00", "x" * 300 + "\x00@a.example", "tom@a.example\x00"]
)
def test_a_login_email_with_nul_is_a_4xx_never_a_500(any_world: World, email: str) -> None:
    client = TestClient(any_world.app, raise_server_exceptions=False)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert 400 <= response.status_code < 500, response.text[:300]
    assert SESSION_COOKIE not in client.cookies
    # And the service itself, reached another way, counts it as a failed sign-in.
    with pytest.raises(auth_service.AuthenticationFailed):
        auth_service.authenticate(any_world.ctx, email=email, password=PASSWORD)
    assert world_still_works(any_world)


def world_still_works(world: World) -> bool:
    login(world.client(), world.people["tom"].email)
    return True
