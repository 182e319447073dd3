"""Clinic administration: settings, users, teams and therapist profiles."""

from __future__ import annotations

import pytest
from clinic_world import World

from alliance.services import admin, clients, timelines
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.errors import Forbidden, InvalidInput


def test_clinic_settings_are_validated_against_the_instrument_registry(world: World) -> None:
    with pytest.raises(InvalidInput, match="instruments"):
        admin.update_clinic_settings(
            world.ctx, actor=world.ada, settings={"instruments": {"outcome": ["no_such_scale"]}}
        )
    with pytest.raises(InvalidInput, match="mfa_enforced"):
        admin.update_clinic_settings(
            world.ctx, actor=world.ada, settings={"mfa_enforced": "perhaps"}
        )
    updated = admin.update_clinic_settings(
        world.ctx,
        actor=world.ada,
        settings={
            "show_client_progress": True,
            "instruments": {"outcome": ["who5"]},
            "alert_settings": {"low_alliance_consecutive": 3},
        },
    )
    assert updated.settings.show_client_progress
    assert updated.settings.alert_settings.low_alliance_consecutive == 3
    _, episode = clients.create_client(world.ctx, actor=world.alice, display_name="New")
    assert episode.instruments == ("wai_sr", "who5", "session_feedback")
    with pytest.raises(Forbidden):
        admin.update_clinic_settings(world.ctx, actor=world.alice, settings=ClinicSettings())


def test_moving_a_therapist_into_a_team_changes_what_the_supervisor_sees(world: World) -> None:
    assert [r.display_name for r in timelines.caseload(world.ctx, actor=world.sam)] == ["Sarah"]
    admin.assign_team(
        world.ctx,
        actor=world.ada,
        therapist_id=world.bob.user_id or 0,
        supervisor_id=world.sam.user_id,
    )
    names = {r.display_name for r in timelines.caseload(world.ctx, actor=world.sam)}
    assert names == {"Sarah", "John"}
    with pytest.raises(InvalidInput, match="supervisor"):
        admin.assign_team(
            world.ctx,
            actor=world.ada,
            therapist_id=world.bob.user_id or 0,
            supervisor_id=world.alice.user_id,
        )


def test_users_and_the_clinic_are_listed_within_the_clinic_only(world: World) -> None:
    emails = {u.email for u in admin.list_users(world.ctx, actor=world.ada)}
    assert emails == {
        "ada@north.example",
        "sam@north.example",
        "alice@north.example",
        "bob@north.example",
    }
    assert admin.get_clinic(world.ctx, actor=world.alice).name == "Northside"
    assert admin.get_clinic(world.ctx, actor=world.dave).name == "Southside"
    with pytest.raises(Forbidden):
        admin.list_users(world.ctx, actor=world.alice)
