"""Alerts on the desk: acknowledge and resolve with encrypted notes, seen only by those who
may see the client. (``test_alerts_service``: tests/monitoring/test_alerts.py tests the rules.)"""

from __future__ import annotations

import pytest
from clinic_world import Clock, World, rupture
from sqlalchemy import select, text

from alliance.services import alerts, sessions
from alliance.services.errors import Conflict, NotFound
from alliance.store.db import transaction
from alliance.store.models import AuditEvent


def test_acknowledging_and_resolving_keep_who_when_and_an_encrypted_note(
    world: World, clock: Clock
) -> None:
    alert_id = rupture(world, clock)
    note = "Talked about feeling rushed; slowing down"
    acked = alerts.acknowledge_alert(world.ctx, actor=world.bob, alert_id=alert_id, note=note)
    assert (acked.status, acked.acknowledged_by, acked.acknowledge_note) == (
        "acknowledged",
        world.bob.user_id,
        note,
    )
    with transaction(world.ctx.session_factory) as session:
        raw = session.execute(text("SELECT acknowledge_note_enc FROM alerts")).scalars().all()
    assert note not in " ".join(str(v) for v in raw)
    resolved = alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=alert_id, note="Repaired")
    assert resolved.status == "resolved"
    assert resolved.resolve_note == "Repaired"
    with pytest.raises(Conflict):
        alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=alert_id)


def test_a_blank_note_is_stored_as_no_note_and_the_audit_says_none_came(
    world: World, clock: Clock
) -> None:
    alert_id = rupture(world, clock)
    acked = alerts.acknowledge_alert(world.ctx, actor=world.bob, alert_id=alert_id, note="  \n ")
    assert (acked.status, acked.acknowledge_note) == ("acknowledged", None)
    resolved = alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=alert_id, note="Repaired")
    assert resolved.resolve_note == "Repaired"
    with transaction(world.ctx.session_factory) as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_type == "alert",
                AuditEvent.entity_id == str(alert_id),
                AuditEvent.action == "write",
            )
        ).all()
    acted = [e.detail for e in events if e.detail["op"] in ("acknowledge", "resolve")]
    assert sorted((d["op"], d["with_note"]) for d in acted) == [
        ("acknowledge", False),
        ("resolve", True),
    ]


def test_another_therapist_cannot_see_or_touch_an_alert(world: World, clock: Clock) -> None:
    alert_id = rupture(world, clock)
    with pytest.raises(NotFound):
        alerts.acknowledge_alert(world.ctx, actor=world.alice, alert_id=alert_id, note="x")
    with pytest.raises(NotFound):
        alerts.get_alert(world.ctx, actor=world.carol, alert_id=alert_id)
    assert alerts.get_alert(world.ctx, actor=world.bob, alert_id=alert_id).status == "open"


def test_a_resolved_rupture_is_not_raised_again_for_the_same_session(
    world: World, clock: Clock
) -> None:
    alert_id = rupture(world, clock)
    alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=alert_id, note="talked")
    [last] = sessions.list_sessions(world.ctx, actor=world.bob, episode_id=world.john_episode)[-1:]
    sessions.record_session(world.ctx, actor=world.bob, session_id=last.id, status="attended")
    open_ruptures = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if a.kind == "rupture" and a.status != "resolved"
    ]
    assert open_ruptures == []
