"""Therapy sessions: numbered in order, recorded as attended/missed/cancelled, listed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from clinic_world import Clock, World

from alliance.services import alerts, clients, sessions
from alliance.services.errors import Conflict, InvalidInput, NotFound


def test_sessions_are_numbered_in_the_order_they_are_scheduled(world: World, clock: Clock) -> None:
    for days in (7, 14, 21):
        sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            client_id=world.sarah,
            scheduled_at=clock.now + timedelta(days=days),
        )
    listed = sessions.list_sessions(world.ctx, actor=world.alice, episode_id=world.sarah_episode)
    assert [(s.number, s.status) for s in listed] == [
        (1, "scheduled"),
        (2, "scheduled"),
        (3, "scheduled"),
    ]


def test_it_refuses_a_time_without_a_zone_and_an_unknown_status(world: World, clock: Clock) -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=datetime(2026, 3, 3, 9, 0),
        )
    with pytest.raises(InvalidInput) as raised:
        sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=clock.now,
            status="postponed",
        )
    assert raised.value.field == "status"


@pytest.mark.parametrize("status", ["attended", "missed"])
def test_a_session_in_the_future_cannot_be_recorded_as_attended_or_missed(
    world: World, clock: Clock, status: str
) -> None:
    tomorrow = clock.now + timedelta(days=1)
    with pytest.raises(InvalidInput, match="in the future") as raised:
        sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            client_id=world.sarah,
            scheduled_at=tomorrow,
            status=status,
        )
    assert raised.value.field == "scheduled_at"
    assert (
        sessions.list_sessions(world.ctx, actor=world.alice, episode_id=world.sarah_episode) == []
    )
    # Scheduling it is fine; marking it before its time is refused, and nothing changes.
    planned = sessions.schedule_session(
        world.ctx, actor=world.alice, client_id=world.sarah, scheduled_at=tomorrow
    )
    with pytest.raises(InvalidInput, match="in the future"):
        sessions.record_session(world.ctx, actor=world.alice, session_id=planned.id, status=status)
    (kept,) = sessions.list_sessions(world.ctx, actor=world.alice, episode_id=world.sarah_episode)
    assert kept.status == "scheduled"
    # Once its time has come it can be recorded.
    clock.now = tomorrow + timedelta(hours=1)
    done = sessions.record_session(
        world.ctx, actor=world.alice, session_id=planned.id, status=status
    )
    assert done.status == status


def test_missed_sessions_in_a_row_raise_the_missed_sessions_alert(
    world: World, clock: Clock
) -> None:
    for _ in range(3):
        clock.advance(days=7)
        row = sessions.schedule_session(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode, scheduled_at=clock.now
        )
        recorded = sessions.record_session(
            world.ctx, actor=world.alice, session_id=row.id, status="missed"
        )
        assert recorded.status == "missed"
    kinds = {
        a.kind
        for a in alerts.list_client_alerts(world.ctx, actor=world.alice, client_id=world.sarah)
    }
    assert "missed_sessions" in kinds


def test_an_unknown_or_foreign_session_is_not_found(world: World, clock: Clock) -> None:
    row = sessions.schedule_session(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, scheduled_at=clock.now
    )
    with pytest.raises(NotFound):
        sessions.record_session(world.ctx, actor=world.bob, session_id=row.id, status="attended")
    with pytest.raises(NotFound):
        sessions.record_session(
            world.ctx, actor=world.alice, session_id=row.id + 99, status="missed"
        )


def test_no_session_is_scheduled_on_an_ended_episode(world: World, clock: Clock) -> None:
    clients.end_episode(world.ctx, actor=world.alice, episode_id=world.sarah_episode, reason="fit")
    with pytest.raises(Conflict):
        sessions.schedule_session(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode, scheduled_at=clock.now
        )
