"""Opening care episodes (alliance.services.clients.open_episode), on SQLite and PostgreSQL:
the team rules hold on every way in — intake, a further episode, a matching placement and a
hand-over — and a refused hand-over leaves nothing behind; and ending an episode."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from clinic_world import World
from sqlalchemy import func, select

from alliance.services import admin, clients, matching, timelines
from alliance.services.errors import Conflict, InvalidInput
from alliance.services.unit import unit_of_work
from alliance.store.db import transaction
from alliance.store.matching_tables import HandoverNote
from alliance.store.models import AuditEvent, Client, Episode

SRC = Path(__file__).resolve().parents[2] / "src" / "alliance"


Stored = tuple[list[tuple[int, int, datetime | None, str | None]], int | None, int | None]


def _stored(world: World, client_id: int) -> Stored:
    """Everything a hand-over writes: the client's episodes, hand-over notes, audit events."""
    with transaction(world.ctx.session_factory) as session:
        episodes = sorted(
            (e.id, e.therapist_id, e.ended_at, e.end_reason)
            for e in session.scalars(select(Episode).where(Episode.client_id == client_id))
        )
        notes = session.scalar(select(func.count()).select_from(HandoverNote))
        events = session.scalar(select(func.count(AuditEvent.id)))
        return episodes, notes, events


def _hand_sarah_to(world: World, therapist_id: int) -> None:
    matching.hand_over(
        world.ctx,
        actor=world.alice,
        episode_id=world.sarah_episode,
        therapist_id=therapist_id,
        client_consented=True,
        note="agreed in session",
    )


def test_a_hand_over_to_another_clinics_therapist_is_refused_and_nothing_is_stored(
    world: World,
) -> None:
    before = _stored(world, world.sarah)
    assert world.dave.user_id is not None
    with pytest.raises(InvalidInput, match="no active therapist") as refused:
        _hand_sarah_to(world, world.dave.user_id)
    assert refused.value.field == "therapist_id"
    assert _stored(world, world.sarah) == before


def test_a_hand_over_to_a_deactivated_colleague_is_refused_and_nothing_is_stored(
    world: World,
) -> None:
    assert world.bob.user_id is not None
    admin.deactivate_user(world.ctx, actor=world.ada, user_id=world.bob.user_id)
    before = _stored(world, world.sarah)
    with pytest.raises(InvalidInput, match="deactivated") as refused:
        _hand_sarah_to(world, world.bob.user_id)
    assert refused.value.field == "therapist_id"
    assert _stored(world, world.sarah) == before
    # The old episode is still open and Alice's: the refusal rolled its ending back too.
    assert [e[1:] for e in before[0]] == [(world.alice.user_id, None, None)]


def test_an_episode_is_opened_only_for_someone_the_actor_may_assign(world: World) -> None:
    assert world.bob.user_id is not None
    assert world.alice.user_id is not None
    with pytest.raises(InvalidInput, match="only open episodes for themselves"):
        clients.create_client(
            world.ctx, actor=world.alice, display_name="Kim", therapist_id=world.bob.user_id
        )
    with pytest.raises(InvalidInput, match="their own team"):
        clients.create_client(
            world.ctx, actor=world.sam, display_name="Kim", therapist_id=world.bob.user_id
        )
    _, episode = clients.create_client(
        world.ctx, actor=world.sam, display_name="Kim", therapist_id=world.alice.user_id
    )
    assert episode.therapist_id == world.alice.user_id
    with pytest.raises(InvalidInput, match="no active therapist") as other_clinic:
        clients.create_client(
            world.ctx, actor=world.ada, display_name="Kim", therapist_id=world.dave.user_id or 0
        )
    assert other_clinic.value.field == "therapist"


def test_a_client_has_at_most_one_open_episode_on_every_path(world: World) -> None:
    assert world.bob.user_id is not None
    with pytest.raises(Conflict, match="still has open episode"):
        clients.start_episode(
            world.ctx, actor=world.ada, client_id=world.sarah, therapist_id=world.bob.user_id
        )
    # The shared function itself refuses, whichever use case calls it (here: matching's and
    # the hand-over's origins, which skip only the actor's assignment rule).
    origins: tuple[clients.EpisodeOrigin, ...] = ("matching", "handover")
    for origin in origins:
        with unit_of_work(world.ctx) as session:
            client = session.get(Client, world.sarah)
            assert client is not None
            with pytest.raises(Conflict, match="still has open episode"):
                clients.open_episode(
                    session,
                    world.ctx,
                    world.ada,
                    client=client,
                    therapist_id=world.bob.user_id,
                    started_at=world.ctx.now(),
                    instruments=["wai_sr"],
                    origin=origin,
                )
    _hand_sarah_to(world, world.bob.user_id)
    episodes, _, _ = _stored(world, world.sarah)
    assert [e[1] for e in episodes if e[2] is None] == [world.bob.user_id]


def test_episode_rows_are_built_only_by_open_episode() -> None:
    # A use case that builds its own Episode row skips the team rules (the hand-over once
    # did); every episode must come from clients.open_episode.
    pattern = re.compile(r"(?<![\w.])(?<!class )Episode\(")
    builders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if "migrations" not in path.parts and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert builders == ["services/clients.py"]
    source = (SRC / "services" / "clients.py").read_text(encoding="utf-8")
    body = source[source.index("def open_episode(") :]
    body = body[: body.index("\ndef ", 1)]
    assert len(pattern.findall(source)) == len(pattern.findall(body)) == 1


def test_an_episode_ends_once_with_a_known_reason(world: World) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        clients.end_episode(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode, reason="bored"
        )
    ended = clients.end_episode(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, reason="fit"
    )
    assert ended.end_reason == "fit"
    with pytest.raises(Conflict):
        clients.end_episode(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode, reason="completed"
        )
    assert timelines.caseload(world.ctx, actor=world.alice) == []
    episode = clients.start_episode(
        world.ctx, actor=world.ada, client_id=world.sarah, therapist_id=world.bob.user_id or 0
    )
    assert episode.therapist_id == world.bob.user_id
    assert [r.display_name for r in timelines.caseload(world.ctx, actor=world.bob)] == [
        "John",
        "Sarah",
    ]


def test_clients_named_finds_namesakes_only_among_the_clients_the_actor_sees(
    world: World,
) -> None:
    # Sarah is Alice's client; Bob (another therapist of the clinic) does not see her.
    other, _ = clients.create_client(world.ctx, actor=world.bob, display_name="sarah ")
    found = clients.clients_named(world.ctx, actor=world.alice, display_name="  SARAH")
    assert [(n.client_id, n.display_name) for n in found] == [(world.sarah, "Sarah")]
    assert found[0].therapist_name
    assert [
        n.client_id for n in clients.clients_named(world.ctx, actor=world.bob, display_name="Sarah")
    ] == [other.id]
    # The admin sees both, oldest first; a new name has none; another clinic sees none.
    both = clients.clients_named(world.ctx, actor=world.ada, display_name="Sarah")
    assert [n.client_id for n in both] == [world.sarah, other.id]
    assert clients.clients_named(world.ctx, actor=world.ada, display_name="Sara") == ()
    assert clients.clients_named(world.ctx, actor=world.carol, display_name="Sarah") == ()


def test_the_caseload_marks_rows_that_share_a_name(world: World) -> None:
    twin, _ = clients.create_client(
        world.ctx, actor=world.ada, display_name="SARAH", therapist_id=world.alice.user_id
    )
    rows = {r.client_id: r for r in timelines.caseload(world.ctx, actor=world.alice)}
    assert rows[world.sarah].shares_name
    assert rows[twin.id].shares_name
    assert rows[world.sarah].started_at is not None
    # Bob's caseload has only John: nothing to tell apart there.
    assert not any(r.shares_name for r in timelines.caseload(world.ctx, actor=world.bob))
