"""Sign-in hardening (issue 9): wrong codes counted per account and per pending login, soft
throttling with device cookies instead of an account lockout, deactivation and forced resets
that revoke for good, a password policy that refuses guessable passwords, changing one's own
password, and e-mails no database can store. On SQLite and PostgreSQL."""

from __future__ import annotations

import pyotp
import pytest
from clinic_world import PASSWORD, Clock, World

from alliance.services import admin, auth, ratelimit
from alliance.services.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PendingLoginSpent,
    TooManyAttempts,
)
from alliance.services.login_throttle import (
    DEVICE_FAILURE_LIMIT,
    PENDING_FAILURE_LIMIT,
    LoginDevice,
)

BOB = "bob@north.example"
NEW_PASSWORD = "plum tractor sleeps quietly"


def _totp(world: World, clock: Clock) -> pyotp.TOTP:
    secret, _ = auth.start_totp_enrolment(world.ctx, actor=world.bob)
    totp = pyotp.TOTP(secret)
    auth.confirm_totp(world.ctx, actor=world.bob, code=totp.at(clock()))
    clock.advance(seconds=90)
    return totp


def _wrong(totp: pyotp.TOTP, clock: Clock) -> str:
    right = {totp.at(clock(), counter_offset=offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in right)


# -- 1. the second step --------------------------------------------------------------------


def test_a_pending_login_dies_after_five_wrong_codes(world: World, clock: Clock) -> None:
    totp = _totp(world, clock)
    user_id = world.bob.user_id or 0
    for _ in range(PENDING_FAILURE_LIMIT - 1):
        with pytest.raises(AuthenticationFailed) as wrong:
            auth.complete_totp_login(
                world.ctx, user_id=user_id, code=_wrong(totp, clock), pending="p1"
            )
        assert not isinstance(wrong.value, PendingLoginSpent)
    with pytest.raises(PendingLoginSpent):  # the fifth wrong code kills it
        auth.complete_totp_login(world.ctx, user_id=user_id, code=_wrong(totp, clock), pending="p1")
    with pytest.raises(PendingLoginSpent):  # ... for good: the right code no longer helps
        auth.complete_totp_login(world.ctx, user_id=user_id, code=totp.at(clock()), pending="p1")
    # A new sign-in (password again) gets a new pending login.
    result = auth.complete_totp_login(
        world.ctx, user_id=user_id, code=totp.at(clock()), pending="p2"
    )
    assert result.user.id == user_id


def test_wrong_codes_are_counted_per_account_across_pending_logins(
    world: World, clock: Clock
) -> None:
    totp = _totp(world, clock)
    user_id = world.bob.user_id or 0
    limit = world.ctx.settings.login_rate_limit
    # A fresh pending login (and, on the web, a fresh address) for every guess.
    for n in range(limit):
        with pytest.raises(AuthenticationFailed):
            auth.complete_totp_login(
                world.ctx, user_id=user_id, code=_wrong(totp, clock), pending=f"guess-{n}"
            )
    with pytest.raises(TooManyAttempts):
        auth.complete_totp_login(
            world.ctx, user_id=user_id, code=totp.at(clock()), pending="one-more"
        )
    # Another account is not affected.
    assert auth.authenticate(world.ctx, email="alice@north.example", password=PASSWORD)
    clock.advance(minutes=16)
    assert auth.complete_totp_login(
        world.ctx, user_id=user_id, code=totp.at(clock()), pending="later"
    )


# -- 3. soft throttling with device cookies --------------------------------------------------


def _guess(world: World, times: int, **kwargs: object) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationFailed):
            auth.authenticate(world.ctx, email=BOB, password="not the password", **kwargs)  # type: ignore[arg-type]


def test_guessing_slows_untrusted_clients_but_a_known_device_still_signs_in(
    world: World,
) -> None:
    limit = world.ctx.settings.login_rate_limit
    # The attacker spreads the guesses over many addresses: the account count still adds up.
    for n in range(limit):
        _guess(world, 1, client=f"203.0.113.{n}")
    with pytest.raises(TooManyAttempts):  # untrusted clients: even the right password waits
        auth.authenticate(world.ctx, email=BOB, password=PASSWORD, client="198.51.100.7")
    device = LoginDevice(user_id=world.bob.user_id or 0, nonce="bobs-laptop")
    result = auth.authenticate(
        world.ctx, email=BOB, password=PASSWORD, device=device, client="198.51.100.7"
    )
    assert result.user.id == world.bob.user_id
    # Another user's device cookie is no help for Bob's account.
    alices = LoginDevice(user_id=world.alice.user_id or 0, nonce="alices-laptop")
    with pytest.raises(TooManyAttempts):
        auth.authenticate(world.ctx, email=BOB, password=PASSWORD, device=alices)


def test_a_known_device_with_too_many_failures_of_its_own_is_throttled_too(
    world: World,
) -> None:
    device = LoginDevice(user_id=world.bob.user_id or 0, nonce="stolen-cookie")
    _guess(world, DEVICE_FAILURE_LIMIT, device=device)
    # Past its own limit the device is one more untrusted client: its guesses now count
    # against the account's untrusted budget, and then stop.
    _guess(world, world.ctx.settings.login_rate_limit, device=device)
    with pytest.raises(TooManyAttempts):
        auth.authenticate(world.ctx, email=BOB, password=PASSWORD, device=device)
    other = LoginDevice(user_id=world.bob.user_id or 0, nonce="bobs-phone")
    assert auth.authenticate(world.ctx, email=BOB, password=PASSWORD, device=other)


def test_successful_sign_ins_do_not_use_up_the_counts(world: World) -> None:
    limit = world.ctx.settings.login_rate_limit
    for _ in range(limit * 2):
        assert auth.authenticate(world.ctx, email=BOB, password=PASSWORD, client="192.0.2.1")


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
