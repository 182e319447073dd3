"""Finding the episode a write is about (alliance.services.episodes), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from clinic_world import World

from alliance.services import checkins, clients, goals, matching, sessions
from alliance.services.errors import Conflict, InvalidInput, NotFound


def test_a_write_by_client_lands_on_the_clients_current_episode(world: World) -> None:
    link = checkins.create_checkin_link(world.ctx, actor=world.alice, client_id=world.sarah)
    assert link.checkin.episode_id == world.sarah_episode
    saved = goals.agree_goals(world.ctx, actor=world.alice, client_id=world.sarah, goals=["Sleep"])
    assert [g.episode_id for g in saved] == [world.sarah_episode]


def test_a_write_names_the_client_or_the_episode_not_both(world: World) -> None:
    for kwargs in ({}, {"client_id": world.sarah, "episode_id": world.sarah_episode}):
        with pytest.raises(InvalidInput, match="name the client or the episode"):
            goals.agree_goals(world.ctx, actor=world.alice, goals=["Sleep"], **kwargs)


def test_another_therapists_client_is_not_found_and_an_ended_one_is_a_conflict(
    world: World,
) -> None:
    with pytest.raises(NotFound):
        sessions.schedule_session(
            world.ctx,
            actor=world.bob,
            client_id=world.sarah,
            scheduled_at=world.ctx.now() + timedelta(days=1),
        )
    clients.end_episode(world.ctx, actor=world.alice, client_id=world.sarah, reason="completed")
    with pytest.raises(Conflict, match="no current episode"):
        checkins.create_checkin_link(world.ctx, actor=world.alice, client_id=world.sarah)


def test_after_a_hand_over_the_previous_therapist_cannot_write_to_the_new_episode(
    world: World,
) -> None:
    moved = matching.hand_over(
        world.ctx,
        actor=world.alice,
        episode_id=world.sarah_episode,
        therapist_id=world.bob.user_id,
        client_consented=True,
    )
    with pytest.raises(NotFound):
        goals.agree_goals(world.ctx, actor=world.alice, client_id=world.sarah, goals=["Sleep"])
    saved = goals.agree_goals(world.ctx, actor=world.bob, client_id=world.sarah, goals=["Sleep"])
    assert [g.episode_id for g in saved] == [moved.new_episode_id]
