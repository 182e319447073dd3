"""A check-in that endorses PHQ-9 item 9 (thoughts of death or self-harm) raises an open,
urgent ``risk_reported`` alert in the same transaction, and that client tops the caseload."""

from __future__ import annotations

from clinic_world import Clock, World, full_answers, phq9
from sqlalchemy import select

from alliance.monitoring.alerts import ALERT_KINDS
from alliance.services import alerts, checkins, clients, sessions, timelines
from alliance.services.authz import Actor
from alliance.services.views import CheckInResult
from alliance.store.db import transaction
from alliance.store.models import Clinic, Response


def _check_in(
    world: World, clock: Clock, episode: int, actor: Actor, answers: dict[str, dict[str, object]]
) -> CheckInResult:
    clock.advance(days=7)
    sessions.schedule_session(
        world.ctx, actor=actor, episode_id=episode, scheduled_at=clock.now, status="attended"
    )
    link = checkins.create_checkin_link(world.ctx, actor=actor, episode_id=episode)
    return checkins.record_check_in(world.ctx, link.token, answers)


def _with_item_9(answer: int, alliance: int = 4) -> dict[str, dict[str, object]]:
    answers = full_answers(alliance=alliance, symptoms=1)
    answers["phq9"] = phq9(1, item9=answer)
    return answers


def test_item_9_answered_several_days_raises_an_open_urgent_risk_alert_at_once(
    world: World, clock: Clock
) -> None:
    result = _check_in(world, clock, world.john_episode, world.bob, _with_item_9(1))
    raised = [a for a in result.alerts if a.kind == "risk_reported"]
    assert len(raised) == 1
    [stored] = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if a.kind == "risk_reported"
    ]
    assert stored.id == raised[0].id
    assert (stored.status, stored.severity, stored.session_number) == ("open", "urgent", 1)
    assert "answered 1 = 'Several days' to PHQ-9 item 9" in stored.reason
    assert "protocol" in stored.next_step
    assert stored.evidence["instrument_id"] == "phq9"


def test_item_9_at_zero_raises_no_risk_alert(world: World, clock: Clock) -> None:
    result = _check_in(world, clock, world.john_episode, world.bob, _with_item_9(0))
    assert "risk_reported" not in {a.kind for a in result.alerts}
    listed = alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
    assert "risk_reported" not in {a.kind for a in listed}


def test_the_client_who_reported_risk_tops_the_caseload_above_a_rupture(
    world: World, clock: Clock
) -> None:
    # John: a rupture (WAI-SR 5 -> 1), urgent too.
    for alliance in (4, 4, 5, 1):
        _check_in(world, clock, world.john_episode, world.bob, _with_item_9(0, alliance))
    # Quinn, Bob's other client: a calm course until item 9 is endorsed.
    quinn, episode = clients.create_client(world.ctx, actor=world.bob, display_name="Quinn")
    quinn_episode = episode.id
    _check_in(world, clock, quinn_episode, world.bob, _with_item_9(0))
    before = timelines.caseload(world.ctx, actor=world.bob)
    assert before[0].display_name == "John"
    _check_in(world, clock, quinn_episode, world.bob, _with_item_9(2))

    rows = timelines.caseload(world.ctx, actor=world.bob)
    assert [r.display_name for r in rows] == ["Quinn", "John"]
    top = rows[0].top_alert
    assert top is not None
    assert (top.kind, top.severity, top.status) == ("risk_reported", "urgent", "open")
    assert rows[0].client_id == quinn.id
    assert rows[0].urgency < rows[1].urgency
    assert rows[1].top_alert is not None
    assert rows[1].top_alert.kind == "rupture"
    view = timelines.client_timeline(world.ctx, actor=world.bob, client_id=quinn.id)
    assert view.alerts[0].kind == "risk_reported"


def test_a_clinic_whose_saved_settings_leave_the_rule_out_still_gets_the_alert(
    world: World, clock: Clock
) -> None:
    # Settings JSON as stored before risk_reported existed (every other kind switched on).
    old_kinds = [k for k in ALERT_KINDS if k != "risk_reported"]
    with transaction(world.ctx.session_factory) as session:
        clinic = session.get(Clinic, world.north)
        assert clinic is not None
        clinic.settings = {**(clinic.settings or {}), "alert_settings": {"enabled": old_kinds}}
    result = _check_in(world, clock, world.john_episode, world.bob, _with_item_9(2))
    assert "risk_reported" in {a.kind for a in result.alerts}
    listed = alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
    assert [a.severity for a in listed if a.kind == "risk_reported"] == ["urgent"]


def test_a_stored_risk_answer_that_no_longer_reads_does_not_block_the_next_check_in(
    world: World, clock: Clock
) -> None:
    _check_in(world, clock, world.john_episode, world.bob, _with_item_9(0))
    # As if PHQ-9's definition changed after this answer was stored.
    with transaction(world.ctx.session_factory) as session:
        response = session.scalars(select(Response).where(Response.instrument_id == "phq9")).one()
        response.answers = {**response.answers, "phq9_9": 7}
    answers = _with_item_9(0)
    del answers["phq9"]  # the next check-in has no PHQ-9: the stored one stays the latest
    result = _check_in(world, clock, world.john_episode, world.bob, answers)
    assert result.checkin_id  # the check-in went through
    listed = alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
    (risk,) = [a for a in listed if a.kind == "risk_reported"]
    assert risk.status == "open"
    assert "could not be read under the current definition" in risk.reason


def test_the_result_says_whether_these_answers_raised_a_risk_flag(
    world: World, clock: Clock
) -> None:
    flagged = _check_in(world, clock, world.john_episode, world.bob, _with_item_9(1))
    assert flagged.risk_flagged
    assert flagged.crisis_message
    assert "local emergency number" in flagged.crisis_message
    assert flagged.notify_email == "bob@north.example"
    # The next check-in does not endorse it: nothing flagged now, though the alert stays open.
    calm = _check_in(world, clock, world.john_episode, world.bob, _with_item_9(0))
    assert (calm.risk_flagged, calm.crisis_message, calm.notify_email) == (False, None, None)
