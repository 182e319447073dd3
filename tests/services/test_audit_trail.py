"""The audit trail across the services: every clinical read and write leaves an event."""

from __future__ import annotations

from datetime import timedelta

from clinic_world import Clock, World, rupture
from sqlalchemy import select

from alliance.services import alerts, checkins, clients, goals, sessions, timelines
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


def test_the_trail_filters_by_colleague_client_action_and_day_in_words(
    world: World, clock: Clock
) -> None:
    from alliance.services import admin

    alert_id = rupture(world, clock)  # Bob's client John
    alerts.acknowledge_alert(world.ctx, actor=world.bob, alert_id=alert_id, note="seen")
    found = admin.list_audit_events(
        world.ctx, actor=world.ada, actor_id=world.bob.user_id, client_id=world.john, action="write"
    )
    assert found
    assert all(e.actor_id == world.bob.user_id and e.action == "write" for e in found)
    assert any(e.entity_type == "alert" and e.entity_id == str(alert_id) for e in found)
    assert {e.actor_name for e in found} == {"Bob (therapist)"}
    about_sarah = admin.list_audit_events(world.ctx, actor=world.ada, client_id=world.sarah)
    assert all(e.detail.get("client_id", world.sarah) == world.sarah for e in about_sarah)
    # Ids are per table: Sarah's own client or episode row may share the alert's number.
    assert not any(e.entity_type == "alert" and e.entity_id == str(alert_id) for e in about_sarah)
    tomorrow = clock.now + timedelta(days=1)
    assert admin.list_audit_events(world.ctx, actor=world.ada, since=tomorrow) == []
    earlier = admin.list_audit_events(world.ctx, actor=world.ada, before=clock.now)
    assert earlier
    assert all(e.at < clock.now for e in earlier)
    assert not any(e.detail.get("op") == "acknowledge" for e in earlier)
