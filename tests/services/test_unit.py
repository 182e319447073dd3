"""The unit of work: all or nothing, and an audited denial survives the rollback."""

from __future__ import annotations

import pytest
from clinic_world import World
from sqlalchemy import select

from alliance.services.context import ServiceContext
from alliance.services.errors import Forbidden, NotFound
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.store.db import transaction
from alliance.store.models import AuditEvent


def _actions(world: World) -> list[tuple[str, str | None]]:
    with transaction(world.ctx.session_factory) as session:
        return [(e.action, e.entity_id) for e in session.scalars(select(AuditEvent))]


def test_a_failing_unit_of_work_leaves_nothing_behind(world: World) -> None:
    def half_done() -> None:
        with unit_of_work(world.ctx) as session:
            record(session, world.ctx, world.alice, "write", "thing", 1)
            raise RuntimeError("half-way")

    before = _actions(world)
    with pytest.raises(RuntimeError):
        half_done()
    assert _actions(world) == before
    with unit_of_work(world.ctx) as session:
        record(session, world.ctx, world.alice, "write", "thing", 2)
    assert _actions(world)[-1] == ("write", "2")


def test_a_denial_is_written_after_the_rollback_and_only_once(world: World) -> None:
    denial = NotFound("nothing here")
    denial.audit = {
        "actor_type": "staff",
        "actor_id": world.alice.user_id,
        "clinic_id": world.north,
        "action": "deny",
        "entity_type": "client",
        "entity_id": 99,
        "detail": {"why": "test"},
    }

    def denied() -> None:
        with unit_of_work(world.ctx) as session:
            record(session, world.ctx, world.alice, "write", "client", 99)
            raise denial

    def again() -> None:
        with unit_of_work(world.ctx):
            raise denial  # re-raised: already on record

    with pytest.raises(NotFound):
        denied()
    with pytest.raises(NotFound):
        again()
    assert _actions(world).count(("deny", "99")) == 1
    assert ("write", "99") not in _actions(world)


def test_denials_audited_records_a_denial_raised_before_any_unit_of_work(world: World) -> None:
    @denials_audited
    def refuse(ctx: ServiceContext, *, why: str) -> None:
        error = Forbidden(why)
        error.audit = {
            "actor_type": "staff",
            "actor_id": world.bob.user_id,
            "clinic_id": world.north,
            "action": "deny",
            "entity_type": "route",
            "entity_id": "early",
            "detail": {"why": why},
        }
        raise error

    with pytest.raises(Forbidden):
        refuse(world.ctx, why="not yours")
    assert ("deny", "early") in _actions(world)
