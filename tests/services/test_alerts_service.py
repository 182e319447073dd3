"""Alerts on the desk: acknowledge and resolve with encrypted notes, seen only by those who
may see the client. (``test_alerts_service``: tests/monitoring/test_alerts.py tests the rules.)"""

from __future__ import annotations

import pytest
from clinic_world import Clock, World, full_answers, rupture
from sqlalchemy import select, text

from alliance.services import alerts, checkins, sessions
from alliance.services.errors import Conflict, Forbidden, InvalidInput, NotFound
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


def _bad_check_in(world: World, clock: Clock, levels: list[tuple[int, int, str]]) -> None:
    """Weekly attended sessions for John, each with a check-in (alliance, rating, fit)."""
    for alliance, rating, fit in levels:
        clock.advance(days=7)
        sessions.schedule_session(
            world.ctx,
            actor=world.bob,
            episode_id=world.john_episode,
            scheduled_at=clock.now,
            status="attended",
        )
        link = checkins.create_checkin_link(
            world.ctx, actor=world.bob, episode_id=world.john_episode
        )
        answers = full_answers(alliance=alliance, symptoms=2, rating=rating, fit=fit)
        checkins.record_check_in(world.ctx, link.token, answers)


def test_one_bad_check_in_raises_one_alliance_alert_with_all_its_reasons(
    world: World, clock: Clock
) -> None:
    _bad_check_in(world, clock, [(4, 9, "yes"), (4, 9, "yes"), (4, 9, "yes"), (1, 2, "no")])
    found = alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
    alliance = [a for a in found if a.evidence.get("concern") == "alliance"]
    assert len(alliance) == 1
    [alert] = alliance
    kinds = [s["kind"] for s in alert.evidence["signals"]]
    assert kinds[0] == alert.kind == "rupture"
    assert "poor_fit_reported" in kinds
    assert len(kinds) >= 3
    assert all(s["reason"] in alert.reason for s in alert.evidence["signals"])
    assert all(s["items"] for s in alert.evidence["signals"])
    # The next check-in is still low: the same alert takes the evidence, no second one.
    _bad_check_in(world, clock, [(1, 2, "no")])
    again = alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
    alliance = [a for a in again if a.evidence.get("concern") == "alliance"]
    assert [a.id for a in alliance] == [alert.id]
    assert alliance[0].session_number == 5
    assert "rupture" in [s["kind"] for s in alliance[0].evidence["signals"]]


def test_a_resolved_concern_reopens_on_a_later_session_and_not_before(
    world: World, clock: Clock
) -> None:
    _bad_check_in(world, clock, [(4, 9, "yes"), (4, 9, "yes"), (2, 5, "yes"), (2, 5, "yes")])
    [alert] = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if a.evidence.get("concern") == "alliance"
    ]
    alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=alert.id, note="Talked it through")
    from alliance.services.monitor import refresh_open_episodes

    assert refresh_open_episodes(world.ctx) == 0  # the same evidence: it stays resolved
    assert alerts.get_alert(world.ctx, actor=world.bob, alert_id=alert.id).status == "resolved"
    _bad_check_in(world, clock, [(2, 5, "yes")])
    found = alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
    alliance = [a for a in found if a.evidence.get("concern") == "alliance"]
    assert [(a.id, a.status, a.session_number) for a in alliance] == [(alert.id, "open", 5)]
    assert alliance[0].resolve_note == "Talked it through"  # the last resolution is kept


def _two_concerns(world: World, clock: Clock) -> list[int]:
    """John: a rupture and an outcome off track (two open alerts, neither a risk)."""
    _bad_check_in(world, clock, [(4, 9, "yes"), (4, 9, "yes"), (4, 9, "yes"), (1, 2, "no")])
    found = alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
    return [a.id for a in found if a.status == "open"]


def test_several_alerts_are_acknowledged_at_once_each_audited(world: World, clock: Clock) -> None:
    from alliance.services import admin

    ids = _two_concerns(world, clock)
    assert ids
    done = alerts.acknowledge_alerts(world.ctx, actor=world.bob, alert_ids=ids, note="Seen")
    assert sorted(a.id for a in done) == sorted(ids)
    assert all((a.status, a.acknowledge_note) == ("acknowledged", "Seen") for a in done)
    events = [
        e
        for e in admin.list_audit_events(world.ctx, actor=world.ada, entity_type="alert")
        if e.entity_type == "alert" and e.detail.get("bulk")
    ]
    assert sorted(int(e.entity_id or 0) for e in events) == sorted(ids)
    # As for one alert, the log says a note came with it (the note itself is not in the log).
    assert all(e.detail["with_note"] is True for e in events)
    assert all("Seen" not in str(e.detail) for e in events)
    # Again: nothing is open any more, nothing changes.
    assert alerts.acknowledge_alerts(world.ctx, actor=world.bob, alert_ids=ids) == []


def test_bulk_acknowledge_changes_nothing_when_one_alert_is_not_the_actors(
    world: World, clock: Clock
) -> None:
    ids = _two_concerns(world, clock)
    with pytest.raises(NotFound):
        alerts.acknowledge_alerts(world.ctx, actor=world.alice, alert_ids=ids)
    assert all(
        alerts.get_alert(world.ctx, actor=world.bob, alert_id=i).status == "open" for i in ids
    )
    with pytest.raises(InvalidInput, match="alert_ids"):
        alerts.acknowledge_alerts(world.ctx, actor=world.bob, alert_ids=[])


def test_a_supervisor_marks_an_alert_discussed_in_supervision_with_a_note(
    world: World, clock: Clock
) -> None:
    # Sarah is Alice's client; Alice's supervisor is Sam.
    _bad_sarah = [(4, 2), (4, 2), (5, 2), (1, 2)]
    from clinic_world import weekly_check_ins

    weekly_check_ins(world, clock, world.sarah_episode, world.alice, _bad_sarah)
    [alert] = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.sam, client_id=world.sarah)
        if a.concern == "alliance"
    ]
    with pytest.raises(Forbidden):
        alerts.mark_discussed_in_supervision(
            world.ctx, actor=world.alice, alert_id=alert.id, note="x"
        )
    with pytest.raises(InvalidInput, match="note"):
        alerts.mark_discussed_in_supervision(
            world.ctx, actor=world.sam, alert_id=alert.id, note=" "
        )
    marked = alerts.mark_discussed_in_supervision(
        world.ctx, actor=world.sam, alert_id=alert.id, note="Agreed to slow the pace"
    )
    assert (marked.supervised_by, marked.supervision_note) == (
        world.sam.user_id,
        "Agreed to slow the pace",
    )
    assert marked.status == "open"  # a mark, not a status: the therapist still acts on it
    with transaction(world.ctx.session_factory) as session:
        raw = session.execute(text("SELECT supervision_note_enc FROM alerts")).scalars().all()
    assert "slow the pace" not in " ".join(str(v) for v in raw)


def test_a_risk_alert_closes_only_with_a_follow_up_note_and_keeps_its_checklist(
    world: World, clock: Clock
) -> None:
    from clinic_world import phq9

    clock.advance(days=7)
    sessions.schedule_session(
        world.ctx,
        actor=world.bob,
        episode_id=world.john_episode,
        scheduled_at=clock.now,
        status="attended",
    )
    link = checkins.create_checkin_link(world.ctx, actor=world.bob, episode_id=world.john_episode)
    answers = full_answers()
    answers["phq9"] = phq9(1, item9=1)
    checkins.record_check_in(world.ctx, link.token, answers)
    [risk] = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if a.is_risk
    ]
    protocol = alerts.risk_protocol(world.ctx, actor=world.bob, alert_id=risk.id)
    assert [c for c, _ in protocol.checklist][:2] == ["contacted", "asked"]
    assert protocol.overdue is False
    with pytest.raises(InvalidInput, match="follow-up note"):
        alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=risk.id, note="  ")
    with pytest.raises(InvalidInput, match="checks"):
        alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=risk.id, note="x", checks=["?"])
    with pytest.raises(InvalidInput, match="risk alert"):
        alerts.acknowledge_alerts(world.ctx, actor=world.bob, alert_ids=[risk.id])
    closed = alerts.resolve_alert(
        world.ctx,
        actor=world.bob,
        alert_id=risk.id,
        note="Phoned him: passive thoughts, no plan; safety plan agreed",
        checks=["recorded", "contacted", "asked"],
    )
    assert closed.status == "resolved"
    assert closed.protocol_checks == ("contacted", "asked", "recorded")
    other = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if not a.is_risk
    ]
    for a in other:
        with pytest.raises(InvalidInput, match="not a risk alert"):
            alerts.risk_protocol(world.ctx, actor=world.bob, alert_id=a.id)
