"""The clinic's time zone: staff type and read local times, the database keeps UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from webworld import World, csrf_from

from alliance.services import admin as admin_service
from alliance.store.db import transaction
from alliance.store.models import TherapySession


def _in_new_york(world: World) -> None:
    ada = world.people["ada"].actor
    current = admin_service.get_clinic(world.ctx, actor=ada).settings
    admin_service.update_clinic_settings(
        world.ctx, actor=ada, settings=current.model_copy(update={"time_zone": "America/New_York"})
    )


def test_a_session_time_is_typed_and_shown_in_the_clinic_zone(world: World) -> None:
    _in_new_york(world)
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    assert "Date and time (America/New_York)" in page.text
    added = client.post(
        f"/clients/{case.client_id}/sessions",
        data={
            "scheduled_at": "2026-11-20T10:00",
            "status": "scheduled",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert added.status_code == 200
    with transaction(world.ctx.session_factory) as session:
        stored = session.scalars(
            select(TherapySession.scheduled_at).where(TherapySession.episode_id == case.episode_id)
        ).all()
    # 10:00 in New York in November (EST, UTC-5) is 15:00 UTC.
    assert datetime(2026, 11, 20, 15, 0, tzinfo=UTC) in stored
    assert "20 Nov 2026 10:00 EST" in added.text


def test_an_iso_time_with_an_offset_keeps_its_offset(world: World) -> None:
    _in_new_york(world)
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    client.post(
        f"/clients/{case.client_id}/sessions",
        data={
            "scheduled_at": "2026-07-01T09:30+02:00",
            "status": "scheduled",
            "csrf_token": csrf_from(page.text),
        },
    )
    with transaction(world.ctx.session_factory) as session:
        stored = session.scalars(
            select(TherapySession.scheduled_at).where(TherapySession.episode_id == case.episode_id)
        ).all()
    assert datetime(2026, 7, 1, 7, 30, tzinfo=UTC) in stored


def test_an_unknown_time_zone_is_refused_naming_the_field(world: World) -> None:
    client = world.login("ada")
    page = client.get("/admin/settings")
    assert 'name="time_zone" value="UTC"' in page.text
    response = client.post(
        "/admin/settings",
        data={
            "instruments.alliance": "wai_sr",
            "time_zone": "Mars/Olympus_Mons",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 422
    assert "time_zone" in response.text
    assert "Mars/Olympus_Mons" in response.text
