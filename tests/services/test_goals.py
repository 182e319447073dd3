"""Client goals: agreed with the client (1-3, encrypted), replaced as a set, listed."""

from __future__ import annotations

import pytest
from clinic_world import World
from sqlalchemy import select

from alliance.services import clients, goals
from alliance.services.errors import Conflict, InvalidInput, NotFound
from alliance.store.db import transaction
from alliance.store.models import Goal


def test_goals_are_agreed_in_the_clients_words_and_stored_encrypted(world: World) -> None:
    agreed = goals.agree_goals(
        world.ctx, actor=world.alice, client_id=world.sarah, goals=["  Sleep before midnight "]
    )
    assert [(g.position, g.text, g.active) for g in agreed] == [(1, "Sleep before midnight", True)]
    assert agreed[0].episode_id == world.sarah_episode
    with transaction(world.ctx.session_factory) as session:
        [row] = session.scalars(select(Goal)).all()
        assert "midnight" not in str(row.text_enc)


def test_agreeing_a_new_set_keeps_the_old_goals_inactive(world: World) -> None:
    goals.agree_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["a"])
    goals.agree_goals(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["b", "c"]
    )
    active = goals.list_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode)
    assert [g.text for g in active] == ["b", "c"]
    every = goals.list_goals(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, include_inactive=True
    )
    assert [(g.text, g.active) for g in every] == [("a", False), ("b", True), ("c", True)]


@pytest.mark.parametrize(
    ("texts", "field"),
    [
        ([], "goals"),
        (["  ", ""], "goals"),
        (["1", "2", "3", "4"], "goals"),
        (["x" * 501], "goal_1"),
    ],
)
def test_it_refuses_no_goals_too_many_or_too_long(
    world: World, texts: list[str], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        goals.agree_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=texts)
    assert raised.value.field == field


def test_goals_cannot_be_agreed_on_an_ended_episode(world: World) -> None:
    clients.end_episode(world.ctx, actor=world.alice, episode_id=world.sarah_episode, reason="fit")
    with pytest.raises(Conflict):
        goals.agree_goals(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["late"]
        )


def test_another_therapists_client_has_no_goals_to_see_or_set(world: World) -> None:
    with pytest.raises(NotFound):
        goals.agree_goals(world.ctx, actor=world.bob, episode_id=world.sarah_episode, goals=["x"])
    with pytest.raises(NotFound):
        goals.list_goals(world.ctx, actor=world.dave, episode_id=world.sarah_episode)
