"""Staff authentication: argon2id passwords, TOTP, server-side sessions, access tokens."""

from __future__ import annotations

import pyotp
import pytest
from clinic_world import PASSWORD, Clock, World
from sqlalchemy import select

from alliance.services import admin, auth
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    TotpRequired,
)
from alliance.store.db import transaction
from alliance.store.models import AccessToken, AuditEvent, StaffSession, StaffUser


def _events(world: World, action: str) -> list[AuditEvent]:
    with transaction(world.ctx.session_factory) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_passwords_are_stored_as_argon2id_hashes(world: World) -> None:
    with transaction(world.ctx.session_factory) as session:
        user = session.get(StaffUser, world.alice.user_id)
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_it_logs_in_with_the_right_password_and_audits_it(world: World) -> None:
    result = auth.authenticate(world.ctx, email=" Alice@North.example ", password=PASSWORD)
    assert result.user.id == world.alice.user_id
    assert not result.mfa_setup_required
    assert [e.actor_id for e in _events(world, "login")] == [world.alice.user_id]


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("alice@north.example", "wrong password!"),
        ("nobody@north.example", PASSWORD),
    ],
)
def test_a_wrong_login_gets_one_message_and_is_audited(
    world: World, email: str, password: str
) -> None:
    with pytest.raises(AuthenticationFailed) as failed:
        auth.authenticate(world.ctx, email=email, password=password)
    assert failed.value.message == "wrong e-mail, password or code"
    assert len(_events(world, "deny")) == 1


def test_a_deactivated_user_cannot_log_in(world: World) -> None:
    admin.deactivate_user(world.ctx, actor=world.ada, user_id=world.bob.user_id or 0)
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(world.ctx, email="bob@north.example", password=PASSWORD)


def test_it_refuses_short_passwords_and_duplicate_emails(world: World) -> None:
    with pytest.raises(InvalidInput, match="password"):
        auth.create_staff_user(
            world.ctx,
            actor=world.ada,
            clinic_id=world.north,
            email="new@north.example",
            display_name="New",
            role="therapist",
            password="short",
        )
    with pytest.raises(Conflict):
        auth.create_staff_user(
            world.ctx,
            actor=world.ada,
            clinic_id=world.north,
            email="ALICE@north.example",
            display_name="Alice 2",
            role="therapist",
            password=PASSWORD,
        )


def test_totp_once_enabled_is_required_and_a_code_cannot_be_replayed(
    world: World, clock: Clock
) -> None:
    secret, uri = auth.start_totp_enrolment(world.ctx, actor=world.alice)
    assert uri.startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    with pytest.raises(InvalidInput):
        auth.confirm_totp(
            world.ctx,
            actor=world.alice,
            code="000000" if totp.at(clock.now) != "000000" else "111111",
        )
    auth.confirm_totp(world.ctx, actor=world.alice, code=totp.at(clock.now))
    with transaction(world.ctx.session_factory) as session:
        user = session.get(StaffUser, world.alice.user_id)
        assert user is not None
        assert user.totp_secret_enc is not None
        assert secret not in user.totp_secret_enc
    with pytest.raises(TotpRequired):
        auth.authenticate(world.ctx, email="alice@north.example", password=PASSWORD)
    clock.advance(seconds=30)
    code = totp.at(clock.now)
    assert auth.authenticate(
        world.ctx, email="alice@north.example", password=PASSWORD, totp=code
    ).user.totp_enabled
    with pytest.raises(AuthenticationFailed):  # the same code again: replay
        auth.authenticate(world.ctx, email="alice@north.example", password=PASSWORD, totp=code)


def test_a_clinic_can_enforce_a_second_factor(world: World) -> None:
    admin.update_clinic_settings(
        world.ctx, actor=world.ada, settings=ClinicSettings(mfa_enforced=True)
    )
    result = auth.authenticate(world.ctx, email="bob@north.example", password=PASSWORD)
    assert result.mfa_setup_required


def test_turning_the_second_factor_on_ends_the_users_other_web_sessions(
    world: World, clock: Clock
) -> None:
    user_id = world.alice.user_id or 0
    enrolling = auth.start_web_session(world.ctx, user_id=user_id)
    elsewhere = auth.start_web_session(world.ctx, user_id=user_id)
    colleague = auth.start_web_session(world.ctx, user_id=world.bob.user_id or 0)
    secret, _ = auth.start_totp_enrolment(world.ctx, actor=world.alice)
    auth.confirm_totp(
        world.ctx,
        actor=world.alice,
        code=pyotp.TOTP(secret).at(clock.now),
        keep_session=enrolling.token,
    )
    actor, _ = auth.touch_web_session(world.ctx, enrolling.token)
    assert actor.user_id == user_id
    with pytest.raises(AuthenticationFailed):
        auth.touch_web_session(world.ctx, elsewhere.token)
    auth.touch_web_session(world.ctx, colleague.token)  # nobody else is signed out


def test_a_web_session_expires_when_idle(world: World, clock: Clock) -> None:
    started = auth.start_web_session(world.ctx, user_id=world.alice.user_id or 0)
    assert started.token is not None
    with transaction(world.ctx.session_factory) as session:
        assert session.get(StaffSession, started.token) is None  # only the hash is stored
    clock.advance(minutes=29)
    actor, _ = auth.touch_web_session(world.ctx, started.token)
    assert actor == world.alice
    clock.advance(minutes=31)
    with pytest.raises(AuthenticationFailed, match="expired"):
        auth.touch_web_session(world.ctx, started.token)
    with pytest.raises(AuthenticationFailed):
        auth.touch_web_session(world.ctx, started.token)


def test_a_web_session_ends_at_its_maximum_age_even_when_active(world: World, clock: Clock) -> None:
    started = auth.start_web_session(world.ctx, user_id=world.alice.user_id or 0)
    assert started.token is not None
    for _ in range(12 * 4 - 1):  # active every 15 minutes for just under 12 hours
        clock.advance(minutes=15)
        auth.touch_web_session(world.ctx, started.token)
    clock.advance(minutes=15)
    with pytest.raises(AuthenticationFailed):
        auth.touch_web_session(world.ctx, started.token)


def test_logout_ends_the_session_at_once(world: World) -> None:
    started = auth.start_web_session(world.ctx, user_id=world.alice.user_id or 0)
    assert started.token is not None
    auth.end_web_session(world.ctx, started.token)
    with pytest.raises(AuthenticationFailed):
        auth.touch_web_session(world.ctx, started.token)
    assert len(_events(world, "logout")) == 1


def test_access_tokens_are_hashed_verified_and_revocable(world: World) -> None:
    view, token = auth.create_access_token(world.ctx, actor=world.alice, name="EHR sync")
    with transaction(world.ctx.session_factory) as session:
        stored = session.get(AccessToken, view.id)
        assert stored is not None
        assert token not in stored.token_hash
    assert auth.verify_access_token(world.ctx, token) == world.alice
    with pytest.raises(AuthenticationFailed):
        auth.verify_access_token(world.ctx, token + "x")
    auth.revoke_access_token(world.ctx, actor=world.alice, token_id=view.id)
    with pytest.raises(AuthenticationFailed):
        auth.verify_access_token(world.ctx, token)
    assert [
        t.revoked_at is not None for t in auth.list_access_tokens(world.ctx, actor=world.alice)
    ] == [True]


def test_nobody_else_can_revoke_a_token(world: World) -> None:
    from alliance.services.errors import NotFound

    view, _ = auth.create_access_token(world.ctx, actor=world.alice, name="script")
    with pytest.raises(NotFound):
        auth.revoke_access_token(world.ctx, actor=world.bob, token_id=view.id)
    with pytest.raises(NotFound):
        auth.revoke_access_token(world.ctx, actor=world.carol, token_id=view.id)
    assert [e.actor_id for e in _events(world, "deny")] == [world.bob.user_id, world.carol.user_id]
    assert auth.revoke_access_token(world.ctx, actor=world.ada, token_id=view.id).revoked_at


def test_production_refuses_the_cheap_test_hash_profile() -> None:
    import base64

    from pydantic import ValidationError

    from alliance.config import Settings

    key = "p1:" + base64.urlsafe_b64encode(b"p" * 32).decode()
    with pytest.raises(ValidationError, match="PASSWORD_HASH_PROFILE"):
        Settings(
            mode="production",
            secret_key="s" * 40,
            encryption_keys=key,
            password_hash_profile="fast-insecure-tests",
        )
    assert (
        auth.password_hasher(
            Settings(mode="production", secret_key="s" * 40, encryption_keys=key)
        ).memory_cost
        == 64 * 1024
    )


def test_an_admin_resets_a_lost_second_factor(world: World) -> None:
    import pyotp

    from alliance.services import auth

    secret, _ = auth.start_totp_enrolment(world.ctx, actor=world.bob)
    auth.confirm_totp(world.ctx, actor=world.bob, code=pyotp.TOTP(secret).at(world.ctx.now()))
    reset = auth.reset_totp(world.ctx, actor=world.ada, user_id=world.bob.user_id or 0)
    assert not reset.totp_enabled
    result = auth.authenticate(
        world.ctx, email="bob@north.example", password="correct horse battery"
    )
    assert result.user.id == world.bob.user_id
    with pytest.raises(NotFound):
        auth.reset_totp(world.ctx, actor=world.carol, user_id=world.bob.user_id or 0)
