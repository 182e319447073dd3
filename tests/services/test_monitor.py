"""Keeping alerts current: the daily sweep over open episodes."""

from __future__ import annotations

from clinic_world import Clock, World, weekly_check_ins

from alliance.services import alerts


def test_the_daily_sweep_notices_a_client_who_stopped_coming(world: World, clock: Clock) -> None:
    from alliance.services.monitor import refresh_open_episodes

    weekly_check_ins(world, clock, world.sarah_episode, world.alice, [(4, 1)] * 5)
    assert refresh_open_episodes(world.ctx) == 0
    clock.advance(weeks=6)
    assert refresh_open_episodes(world.ctx) >= 1
    kinds = {
        a.kind
        for a in alerts.list_client_alerts(world.ctx, actor=world.alice, client_id=world.sarah)
    }
    assert "irregular_sessions" in kinds
    assert refresh_open_episodes(world.ctx) == 0  # nothing new the next day
