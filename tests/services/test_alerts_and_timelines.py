"""Alerts on the desk (acknowledge / resolve with encrypted notes), the client timeline, the
caseload ordered by urgency and the team overview."""

from __future__ import annotations

import pytest
from clinic_world import Clock, World, full_answers
from sqlalchemy import text

from alliance.services import alerts, checkins, clients, sessions, timelines
from alliance.services.authz import Actor
from alliance.services.errors import Conflict, NotFound
from alliance.store.db import transaction


def _course(
    world: World, clock: Clock, episode: int, actor: Actor, levels: list[tuple[int, int]]
) -> None:
    """Weekly attended sessions, each followed by a check-in (alliance, symptom level)."""
    for alliance, symptoms in levels:
        clock.advance(days=7)
        sessions.schedule_session(
            world.ctx, actor=actor, episode_id=episode, scheduled_at=clock.now, status="attended"
        )
        link = checkins.create_checkin_link(world.ctx, actor=actor, episode_id=episode)
        checkins.record_check_in(
            world.ctx, link.token, full_answers(alliance=alliance, symptoms=symptoms)
        )


def _rupture(world: World, clock: Clock) -> int:
    _course(world, clock, world.john_episode, world.bob, [(4, 2), (4, 2), (5, 2), (1, 2)])
    [alert] = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if a.kind == "rupture"
    ]
    return alert.id


def test_acknowledging_and_resolving_keep_who_when_and_an_encrypted_note(
    world: World, clock: Clock
) -> None:
    alert_id = _rupture(world, clock)
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


def test_another_therapist_cannot_see_or_touch_an_alert(world: World, clock: Clock) -> None:
    alert_id = _rupture(world, clock)
    with pytest.raises(NotFound):
        alerts.acknowledge_alert(world.ctx, actor=world.alice, alert_id=alert_id, note="x")
    with pytest.raises(NotFound):
        alerts.get_alert(world.ctx, actor=world.carol, alert_id=alert_id)
    assert alerts.get_alert(world.ctx, actor=world.bob, alert_id=alert_id).status == "open"


def test_a_resolved_rupture_is_not_raised_again_for_the_same_session(
    world: World, clock: Clock
) -> None:
    alert_id = _rupture(world, clock)
    alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=alert_id, note="talked")
    [last] = sessions.list_sessions(world.ctx, actor=world.bob, episode_id=world.john_episode)[-1:]
    sessions.record_session(world.ctx, actor=world.bob, session_id=last.id, status="attended")
    open_ruptures = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if a.kind == "rupture" and a.status != "resolved"
    ]
    assert open_ruptures == []


def test_the_caseload_puts_the_client_with_a_rupture_first_with_its_reason(
    world: World, clock: Clock
) -> None:
    second, _ = clients.create_client(world.ctx, actor=world.bob, display_name="Quiet Quinn")
    _rupture(world, clock)
    rows = timelines.caseload(world.ctx, actor=world.bob)
    assert [r.display_name for r in rows] == ["John", "Quiet Quinn"]
    top = rows[0].top_alert
    assert top is not None
    assert top.kind == "rupture"
    assert "session 4" in top.reason
    assert rows[0].latest_alliance == 1
    assert rows[1].top_alert is None
    assert second.id == rows[1].client_id


def test_the_timeline_has_scores_thresholds_trajectory_and_attendance(
    world: World, clock: Clock
) -> None:
    _course(world, clock, world.sarah_episode, world.alice, [(3, 2), (4, 2), (4, 1), (5, 1)])
    view = timelines.client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)
    by_id = {s.instrument_id: s for s in view.series}
    assert [p.value for p in by_id["wai_sr"].points] == [3, 4, 4, 5]
    assert [p.session_number for p in by_id["wai_sr"].points] == [1, 2, 3, 4]
    assert set(by_id["wai_sr"].subscales) == {"goal", "task", "bond"}
    assert by_id["wai_sr"].thresholds["low"] == 3.0
    gad = by_id["gad7"]
    assert [p.value for p in gad.points] == [14, 14, 7, 7]
    assert gad.trajectory is not None
    assert gad.trajectory.session_numbers[0] == 1
    assert gad.trajectory.lower[0] <= gad.trajectory.expected[0] <= gad.trajectory.upper[0]
    assert [s.status for s in view.sessions] == ["attended"] * 4
    assert len(view.checkins) == 4


def test_the_team_overview_summarises_each_therapist(world: World, clock: Clock) -> None:
    _course(world, clock, world.sarah_episode, world.alice, [(3, 3), (5, 1)])
    _course(world, clock, world.john_episode, world.bob, [(4, 2)])
    clock.advance(days=20)
    team = {
        t.display_name: t for t in timelines.team_overview(world.ctx, actor=world.ada).therapists
    }
    assert set(team) == {"Alice", "Bob", "Sam"}
    alice = team["Alice"]
    assert alice.clients == 1
    assert alice.mean_latest_alliance == 5
    assert alice.mean_outcome_change["phq9"] == -15  # 24 -> 9: item 9 stays at 0
    assert team["Bob"].overdue_checkins == 1
    sam_view = timelines.team_overview(world.ctx, actor=world.sam)
    assert {t.display_name for t in sam_view.therapists} == {"Alice", "Sam"}


def test_the_daily_sweep_notices_a_client_who_stopped_coming(world: World, clock: Clock) -> None:
    from alliance.services.monitor import refresh_open_episodes

    _course(world, clock, world.sarah_episode, world.alice, [(4, 1)] * 5)
    assert refresh_open_episodes(world.ctx) == 0
    clock.advance(weeks=6)
    assert refresh_open_episodes(world.ctx) >= 1
    kinds = {
        a.kind
        for a in alerts.list_client_alerts(world.ctx, actor=world.alice, client_id=world.sarah)
    }
    assert "irregular_sessions" in kinds
    assert refresh_open_episodes(world.ctx) == 0  # nothing new the next day
