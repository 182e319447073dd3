"""The second step of a two-step login (``auth.complete_totp_login``, which the web layer
calls with its pending-login note), and audited role denials."""

from __future__ import annotations

import pyotp
import pytest
from clinic_world import Clock, World
from sqlalchemy import select

from alliance.services import auth, web_support
from alliance.services.errors import AuthenticationFailed
from alliance.store.db import transaction
from alliance.store.models import AuditEvent


def _events(world: World, action: str) -> list[AuditEvent]:
    with transaction(world.ctx.session_factory) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _enrol(world: World) -> pyotp.TOTP:
    secret, _ = auth.start_totp_enrolment(world.ctx, actor=world.bob)
    totp = pyotp.TOTP(secret)
    auth.confirm_totp(world.ctx, actor=world.bob, code=totp.at(world.ctx.now()))
    return totp


def test_a_right_code_completes_the_login_and_is_audited(world: World, clock: Clock) -> None:
    totp = _enrol(world)
    clock.advance(seconds=60)  # a fresh step: the enrolment code may not be reused
    result = auth.complete_totp_login(
        world.ctx, user_id=world.bob.user_id or 0, code=totp.at(clock.now), pending="p"
    )
    assert result.user.id == world.bob.user_id
    assert [e.detail for e in _events(world, "login")][-1] == {"how": "password+totp"}


def test_a_wrong_or_replayed_code_fails_and_the_failure_stays_on_record(
    world: World, clock: Clock
) -> None:
    totp = _enrol(world)
    clock.advance(seconds=60)
    user_id = world.bob.user_id or 0
    auth.complete_totp_login(world.ctx, user_id=user_id, code=totp.at(clock.now), pending="p")
    with pytest.raises(AuthenticationFailed):  # the same code again
        auth.complete_totp_login(world.ctx, user_id=user_id, code=totp.at(clock.now), pending="p")
    with pytest.raises(AuthenticationFailed):
        auth.complete_totp_login(world.ctx, user_id=user_id, code="000000", pending="p")
    assert len([e for e in _events(world, "deny") if e.actor_id == user_id]) == 2


def test_a_user_without_a_second_factor_or_unknown_cannot_use_the_second_step(
    world: World,
) -> None:
    with pytest.raises(AuthenticationFailed):
        auth.complete_totp_login(world.ctx, user_id=world.alice.user_id or 0, code="1", pending="p")
    with pytest.raises(AuthenticationFailed):
        auth.complete_totp_login(world.ctx, user_id=10_000, code="1", pending="p")


def test_a_role_denial_records_who_what_and_why(world: World) -> None:
    web_support.record_denial(world.ctx, world.alice, "not a supervisor", path="/team")
    web_support.record_denial(world.ctx, None, "not logged in", path="/x" * 100)
    first, second = _events(world, "deny")[-2:]
    assert (first.actor_id, first.entity_type, first.entity_id) == (
        world.alice.audit_id,
        "route",
        "/team",
    )
    assert first.detail == {"why": "not a supervisor", "role": "therapist"}
    assert (second.actor_type, second.actor_id, len(second.entity_id or "")) == (
        "anonymous",
        None,
        64,
    )
