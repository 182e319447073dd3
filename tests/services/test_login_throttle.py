"""Throttling of sign-in guesses (services/login_throttle.py, issue 9): wrong codes counted per
account and per pending login, and soft throttling with device cookies instead of an account
lockout, so a known device still signs in while a guesser is slowed. On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from clinic_world import PASSWORD, Clock, World, enrol_totp, wrong_code

from alliance.services import auth
from alliance.services.errors import (
    AuthenticationFailed,
    PendingLoginSpent,
    TooManyAttempts,
)
from alliance.services.login_throttle import (
    DEVICE_FAILURE_LIMIT,
    PENDING_FAILURE_LIMIT,
    LoginDevice,
)

BOB = "bob@north.example"


# -- 1. the second step --------------------------------------------------------------------


def test_a_pending_login_dies_after_five_wrong_codes(world: World, clock: Clock) -> None:
    totp = enrol_totp(world, clock, world.bob)
    user_id = world.bob.user_id or 0
    for _ in range(PENDING_FAILURE_LIMIT - 1):
        with pytest.raises(AuthenticationFailed) as wrong:
            auth.complete_totp_login(
                world.ctx, user_id=user_id, code=wrong_code(totp, clock), pending="p1"
            )
        assert not isinstance(wrong.value, PendingLoginSpent)
    with pytest.raises(PendingLoginSpent):  # the fifth wrong code kills it
        auth.complete_totp_login(
            world.ctx, user_id=user_id, code=wrong_code(totp, clock), pending="p1"
        )
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
    totp = enrol_totp(world, clock, world.bob)
    user_id = world.bob.user_id or 0
    limit = world.ctx.settings.login_rate_limit
    # A fresh pending login (and, on the web, a fresh address) for every guess.
    for n in range(limit):
        with pytest.raises(AuthenticationFailed):
            auth.complete_totp_login(
                world.ctx, user_id=user_id, code=wrong_code(totp, clock), pending=f"guess-{n}"
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
