"""Sign-in hardening (issue 9): deactivation and forced resets that revoke for good, a
password policy that refuses guessable passwords, changing one's own password, and e-mails no
database can store (the throttling of guesses is in test_login_throttle). On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from clinic_world import PASSWORD, World

from alliance.services import admin, auth, ratelimit
from alliance.services.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    TooManyAttempts,
)

BOB = "bob@north.example"
NEW_PASSWORD = "plum tractor sleeps quietly"


# -- 2. deactivation revokes for good --------------------------------------------------------


def test_deactivation_revokes_sessions_and_tokens_for_good(world: World) -> None:
    user_id = world.bob.user_id or 0
    session = auth.start_web_session(world.ctx, user_id=user_id)
    _, token = auth.create_access_token(world.ctx, actor=world.bob, name="script")
    assert session.token is not None
    admin.set_user_active(world.ctx, actor=world.ada, user_id=user_id, active=False)
    admin.set_user_active(world.ctx, actor=world.ada, user_id=user_id, active=True)
    with pytest.raises(AuthenticationFailed):
        auth.touch_web_session(world.ctx, session.token)
    with pytest.raises(AuthenticationFailed):
        auth.verify_access_token(world.ctx, token)
    tokens = auth.list_access_tokens(world.ctx, actor=world.bob)
    assert all(t.revoked_at is not None for t in tokens)
    # The account itself is back: a new sign-in and new tokens work.
    assert auth.authenticate(world.ctx, email=BOB, password=PASSWORD)
    _, fresh = auth.create_access_token(world.ctx, actor=world.bob, name="new script")
    assert auth.verify_access_token(world.ctx, fresh).user_id == user_id


# -- 4. password policy, own change, forced reset --------------------------------------------


@pytest.mark.parametrize(
    ("password", "why", "personal"),
    [
        ("aaaaaaaaaaaa", 'Repeats like "aaa"', False),
        ("password1234", "very common password", False),
        ("qwertyuiopas", "similar to a commonly used", False),
        ("bob@north.example1", "too easy to guess", True),  # the user's own e-mail
        ("Northside2026!", "too easy to guess", True),  # the clinic's name and a year
    ],
)
def test_weak_and_common_passwords_are_refused_with_a_reason(
    world: World, password: str, why: str, personal: bool
) -> None:
    with pytest.raises(InvalidInput, match=why) as refused:
        auth.change_password(
            world.ctx, actor=world.bob, current_password=PASSWORD, new_password=password
        )
    assert refused.value.field == "new_password"
    assert "too easy to guess" in refused.value.detail
    if personal:  # strong enough for somebody else
        auth.check_password_strength(password, user_inputs=["sue@south.example", "Sue"])
        return
    with pytest.raises(InvalidInput, match=why):
        auth.create_staff_user(
            world.ctx,
            actor=world.ada,
            clinic_id=world.north,
            email="new@north.example",
            display_name="New",
            role="therapist",
            password=password,
        )


def test_a_user_changes_their_own_password_after_giving_the_current_one(world: World) -> None:
    user_id = world.bob.user_id or 0
    here = auth.start_web_session(world.ctx, user_id=user_id)
    elsewhere = auth.start_web_session(world.ctx, user_id=user_id)
    assert here.token
    assert elsewhere.token
    with pytest.raises(InvalidInput, match="not your current password"):
        auth.change_password(
            world.ctx, actor=world.bob, current_password="a wrong guess", new_password=NEW_PASSWORD
        )
    auth.change_password(
        world.ctx,
        actor=world.bob,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        keep_session=here.token,
    )
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(world.ctx, email=BOB, password=PASSWORD)
    assert auth.authenticate(world.ctx, email=BOB, password=NEW_PASSWORD)
    assert auth.touch_web_session(world.ctx, here.token)
    with pytest.raises(AuthenticationFailed):
        auth.touch_web_session(world.ctx, elsewhere.token)


def test_wrong_current_passwords_count_as_failed_sign_ins(world: World) -> None:
    for _ in range(world.ctx.settings.login_rate_limit):
        with pytest.raises(InvalidInput):
            auth.change_password(
                world.ctx, actor=world.bob, current_password="guess", new_password=NEW_PASSWORD
            )
    with pytest.raises(TooManyAttempts):
        auth.change_password(
            world.ctx, actor=world.bob, current_password=PASSWORD, new_password=NEW_PASSWORD
        )


def test_an_admin_forces_a_new_password_at_next_sign_in(world: World) -> None:
    user_id = world.bob.user_id or 0
    session = auth.start_web_session(world.ctx, user_id=user_id)
    _, token = auth.create_access_token(world.ctx, actor=world.bob, name="script")
    assert session.token
    view = auth.require_password_change(world.ctx, actor=world.ada, user_id=user_id)
    assert view.must_change_password
    with pytest.raises(AuthenticationFailed):
        auth.touch_web_session(world.ctx, session.token)
    with pytest.raises(AuthenticationFailed):
        auth.verify_access_token(world.ctx, token)
    result = auth.authenticate(world.ctx, email=BOB, password=PASSWORD)
    assert result.password_change_required
    with pytest.raises(AuthenticationFailed):  # no session before the new password
        auth.start_web_session(world.ctx, user_id=user_id)
    with pytest.raises(InvalidInput, match="must differ"):
        auth.set_new_password_at_sign_in(world.ctx, user_id=user_id, new_password=PASSWORD)
    done = auth.set_new_password_at_sign_in(world.ctx, user_id=user_id, new_password=NEW_PASSWORD)
    assert not done.password_change_required
    assert auth.start_web_session(world.ctx, user_id=user_id).token
    again = auth.authenticate(world.ctx, email=BOB, password=NEW_PASSWORD)
    assert not again.password_change_required
    # Not for another clinic's admin, and not for oneself (change it on the account page).
    with pytest.raises(NotFound):
        auth.require_password_change(world.ctx, actor=world.carol, user_id=user_id)
    with pytest.raises(InvalidInput):
        auth.require_password_change(world.ctx, actor=world.ada, user_id=world.ada.user_id or 0)


# -- 6. e-mails no database can store ---------------------------------------------------------


@pytest.mark.parametrize("email", ["bob\x00@north.example", "\x00", "bob@north.example\ud800"])
def test_an_email_with_nul_or_a_surrogate_is_a_failed_sign_in(world: World, email: str) -> None:
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(world.ctx, email=email, password=PASSWORD)


def test_rate_limit_keys_with_nul_or_surrogates_are_counted(world: World) -> None:
    for key in ("login:email:a\x00b", "login:email:\udc00", "login:" + "x" * 300):
        assert [ratelimit.check(world.ctx, key, 2, 900) for _ in range(3)] == [True, True, False]
    # Two long keys that share their first 255 characters are not one count.
    assert ratelimit.check(world.ctx, "login:" + "x" * 300 + "y", 2, 900)
