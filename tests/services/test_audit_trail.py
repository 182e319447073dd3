"""The audit trail across the services: every clinical read and write leaves an event."""

from __future__ import annotations

from datetime import timedelta

from clinic_world import Clock, World
from sqlalchemy import select

from alliance.services import checkins, clients, goals, sessions, timelines
from alliance.store.db import transaction
from alliance.store.models import AuditEvent


def test_every_clinical_read_and_write_leaves_an_audit_event(world: World, clock: Clock) -> None:
    def count() -> int:
        with transaction(world.ctx.session_factory) as session:
            return len(session.scalars(select(AuditEvent.id)).all())

    calls = [
        lambda: clients.get_client(world.ctx, actor=world.alice, client_id=world.sarah),
        lambda: timelines.client_timeline(world.ctx, actor=world.alice, client_id=world.sarah),
        lambda: timelines.caseload(world.ctx, actor=world.alice),
        lambda: goals.agree_goals(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["g"]
        ),
        lambda: goals.list_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode),
        lambda: sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=clock.now + timedelta(days=1),
        ),
        lambda: sessions.list_sessions(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode
        ),
        lambda: checkins.list_checkins(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode
        ),
        lambda: clients.update_client_contact(
            world.ctx, actor=world.alice, client_id=world.sarah, contact_email=None
        ),
    ]
    for call in calls:
        before = count()
        call()
        assert count() > before, call
    with transaction(world.ctx.session_factory) as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "read")).all()
    assert all(e.actor_id == world.alice.user_id and e.at is not None for e in reads)
