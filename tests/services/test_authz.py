"""Who may see what: own clients, the team, the clinic — never across clinics; denials
are audited and look like "not found"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from clinic_world import World
from sqlalchemy import select

from alliance.services import alerts, checkins, clients, exports, goals, sessions, timelines
from alliance.services.authz import Actor
from alliance.services.errors import Forbidden, NotFound
from alliance.store.db import transaction
from alliance.store.models import AuditEvent


def _denials(world: World) -> list[AuditEvent]:
    with transaction(world.ctx.session_factory) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "deny")))


def test_a_therapist_cannot_read_another_therapists_client_and_it_is_audited(
    world: World,
) -> None:
    with pytest.raises(NotFound) as denied:
        timelines.client_timeline(world.ctx, actor=world.alice, client_id=world.john)
    assert "not found" in denied.value.message
    [event] = _denials(world)
    assert (event.actor_id, event.entity_type, event.entity_id) == (
        world.alice.user_id,
        "client",
        str(world.john),
    )
    assert event.detail["why"] == "not on caseload"


def test_a_missing_client_and_a_forbidden_one_look_the_same(world: World) -> None:
    with pytest.raises(NotFound) as forbidden:
        clients.get_client(world.ctx, actor=world.alice, client_id=world.john)
    with pytest.raises(NotFound) as missing:
        clients.get_client(world.ctx, actor=world.alice, client_id=99999)
    assert type(forbidden.value) is type(missing.value)
    assert forbidden.value.status_code == missing.value.status_code == 404


def test_a_supervisor_sees_their_team_only(world: World) -> None:
    assert timelines.client_timeline(world.ctx, actor=world.sam, client_id=world.sarah)
    with pytest.raises(NotFound):
        timelines.client_timeline(world.ctx, actor=world.sam, client_id=world.john)
    assert [r.display_name for r in timelines.caseload(world.ctx, actor=world.sam)] == ["Sarah"]


def test_an_admin_sees_the_whole_clinic_and_nothing_else(world: World) -> None:
    names = {r.display_name for r in timelines.caseload(world.ctx, actor=world.ada)}
    assert names == {"Sarah", "John"}
    with pytest.raises(NotFound):
        timelines.client_timeline(world.ctx, actor=world.ada, client_id=world.eve)
    assert {r.display_name for r in timelines.caseload(world.ctx, actor=world.carol)} == {"Eve"}


OTHER_CLINIC_ACTIONS: dict[str, Callable[[World, Actor], Any]] = {
    "timeline": lambda w, a: timelines.client_timeline(w.ctx, actor=a, client_id=w.eve),
    "client": lambda w, a: clients.get_client(w.ctx, actor=a, client_id=w.eve),
    "end episode": lambda w, a: clients.end_episode(
        w.ctx, actor=a, episode_id=w.eve_episode, reason="completed"
    ),
    "link": lambda w, a: checkins.create_checkin_link(w.ctx, actor=a, episode_id=w.eve_episode),
    "goals": lambda w, a: goals.agree_goals(w.ctx, actor=a, episode_id=w.eve_episode, goals=["x"]),
    "sessions": lambda w, a: sessions.list_sessions(w.ctx, actor=a, episode_id=w.eve_episode),
    "alerts": lambda w, a: alerts.list_client_alerts(w.ctx, actor=a, client_id=w.eve),
    "export": lambda w, a: exports.export_client(w.ctx, actor=a, client_id=w.eve),
    "erase": lambda w, a: exports.erase_client(w.ctx, actor=a, client_id=w.eve),
}


@pytest.mark.parametrize("action", sorted(OTHER_CLINIC_ACTIONS))
@pytest.mark.parametrize("who", ["ada", "sam", "alice"])
def test_nothing_crosses_clinics(world: World, action: str, who: str) -> None:
    actor = getattr(world, who)
    with pytest.raises((NotFound, Forbidden)):
        OTHER_CLINIC_ACTIONS[action](world, actor)
    assert len(_denials(world)) == 1
    # Eve's record is untouched.
    assert (
        clients.get_client(world.ctx, actor=world.carol, client_id=world.eve)[1][0].ended_at is None
    )


def test_therapists_cannot_administer(world: World) -> None:
    from alliance.services import admin

    with pytest.raises(Forbidden):
        admin.list_audit_events(world.ctx, actor=world.alice)
    with pytest.raises(Forbidden):
        exports.export_clinic(world.ctx, actor=world.alice, format="csv", deidentified=True)
    with pytest.raises(Forbidden):
        timelines.team_overview(world.ctx, actor=world.alice)
    assert len(_denials(world)) == 3


def test_a_client_link_actor_cannot_use_staff_services(world: World) -> None:
    link = checkins.create_checkin_link(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode
    )
    as_link = Actor(kind="client_link", clinic_id=world.north, checkin_id=link.checkin.id)
    with pytest.raises(Forbidden):
        timelines.client_timeline(world.ctx, actor=as_link, client_id=world.sarah)
    with pytest.raises(Forbidden):
        timelines.caseload(world.ctx, actor=as_link)
    with pytest.raises(Forbidden):
        alerts.acknowledge_alert(world.ctx, actor=as_link, alert_id=1)
    assert {e.actor_type for e in _denials(world)} == {"client_link"}
