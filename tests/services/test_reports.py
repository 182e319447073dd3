"""The client progress report: its numbers are the timeline's, its change is Jacobson–Truax
with the instrument's own parameters, it is refused to whoever may not see the client, and
each report is an audited read."""

from __future__ import annotations

import math

import pytest
from clinic_world import Clock, World, rupture, weekly_check_ins
from sqlalchemy import select

from alliance.services import alerts, reports, timelines
from alliance.services.errors import NotFound
from alliance.store.db import transaction
from alliance.store.models import AuditEvent


def _reads(world: World, client_id: int) -> list[AuditEvent]:
    with transaction(world.ctx.session_factory) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.action == "read",
                    AuditEvent.entity_type == "client",
                    AuditEvent.entity_id == str(client_id),
                )
                .order_by(AuditEvent.id)
            )
        )


def test_the_reports_baseline_and_latest_are_the_timelines_first_and_last_scores(
    world: World, clock: Clock
) -> None:
    # Sarah: PHQ-9 27 → 9 (item 9 stays 0, so 24 → 9), GAD-7 14 → 7, WAI-SR 3 → 5.
    weekly_check_ins(
        world, clock, world.sarah_episode, world.alice, [(3, 3), (4, 2), (4, 1), (5, 1)]
    )
    report = reports.client_report(world.ctx, actor=world.alice, client_id=world.sarah)
    timeline = timelines.client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)
    assert report.timeline.series == timeline.series
    assert report.timeline.sessions == timeline.sessions
    by_id = {m.instrument_id: m for m in report.measures}
    assert set(by_id) == {s.instrument_id for s in timeline.series}
    for series in timeline.series:
        valid = [p for p in series.points if p.valid and p.value is not None]
        measure = by_id[series.instrument_id]
        assert measure.scores == len(valid)
        if not valid:
            assert measure.baseline is None
            continue
        assert measure.baseline is not None
        assert measure.latest is not None
        assert (measure.baseline.value, measure.baseline.session_number, measure.baseline.at) == (
            valid[0].value,
            valid[0].session_number,
            valid[0].at,
        )
        assert (measure.latest.value, measure.latest.session_number) == (
            valid[-1].value,
            valid[-1].session_number,
        )
    phq = by_id["phq9"]
    assert (phq.baseline and phq.baseline.value, phq.latest and phq.latest.value) == (24, 9)
    assert phq.change == -15
    # RCI = (x2 − x1) / S_diff with S_diff = √2 · SD · √(1 − r), PHQ-9's SD 6.52 and r .89.
    s_diff = math.sqrt(2) * 6.52 * math.sqrt(1 - 0.89)
    assert phq.rci == pytest.approx(-15 / s_diff)
    assert phq.criterion == pytest.approx(1.96 * s_diff)
    assert phq.reliable_change == "improved"
    assert phq.cutoff == 10
    assert phq.clinically_significant is True
    assert phq.status == "recovered"
    assert "Talking Therapies" in (phq.sd_source or "")
    assert phq.reliability_source
    assert phq.cutoff_source
    phq_band = next(s for s in timeline.series if s.instrument_id == "phq9").trajectory
    assert phq_band is not None
    assert phq.on_track == phq_band.on_track
    wai = by_id["wai_sr"]
    assert (wai.baseline and wai.baseline.value, wai.latest and wai.latest.value) == (3, 5)
    assert wai.rci == pytest.approx(2 / (math.sqrt(2) * 0.7 * math.sqrt(1 - 0.9)))
    assert report.attendance.attended == 4
    assert report.attendance.missed == 0
    assert report.generated_by == "Alice"
    assert report.clinic_name == "Northside"


def test_a_measure_with_one_score_has_a_baseline_and_no_change(world: World, clock: Clock) -> None:
    weekly_check_ins(world, clock, world.sarah_episode, world.alice, [(4, 2)])
    report = reports.client_report(world.ctx, actor=world.alice, client_id=world.sarah)
    phq = next(m for m in report.measures if m.instrument_id == "phq9")
    assert phq.baseline is not None
    assert phq.baseline == phq.latest
    assert phq.rci is None
    assert phq.status is None
    assert phq.note is not None
    assert "two" in phq.note


def test_a_rupture_is_listed_with_how_it_was_handled(world: World, clock: Clock) -> None:
    alert_id = rupture(world, clock)
    alerts.acknowledge_alert(
        world.ctx, actor=world.bob, alert_id=alert_id, note="Named the strain together."
    )
    alerts.resolve_alert(world.ctx, actor=world.bob, alert_id=alert_id, note="Repaired.")
    report = reports.client_report(world.ctx, actor=world.bob, client_id=world.john)
    [handled] = [h for h in report.alerts if h.alert.id == alert_id]
    assert handled.relationship is True
    assert handled.alert.acknowledge_note == "Named the strain together."
    assert handled.alert.resolve_note == "Repaired."
    assert handled.acknowledged_by_name == "Bob"
    assert handled.resolved_by_name == "Bob"
    # WAI-SR 5 at session 3 → 1 at session 4, not back yet.
    [drop] = [x for x in report.ruptures if x.instrument_id == "wai_sr"]
    assert (drop.before_session, drop.before, drop.rupture_session, drop.low) == (3, 5, 4, 1)
    assert drop.repaired_session is None


def test_a_repair_is_the_first_later_score_back_near_the_score_before_the_drop(
    world: World, clock: Clock
) -> None:
    rupture(world, clock)
    weekly_check_ins(world, clock, world.john_episode, world.bob, [(3, 2), (5, 2)])
    report = reports.client_report(world.ctx, actor=world.bob, client_id=world.john)
    [drop] = [x for x in report.ruptures if x.instrument_id == "wai_sr"]
    # 3 is still more than S_diff (0.31) below 5; 5 at session 6 is the repair.
    assert (drop.repaired_session, drop.repaired) == (6, 5)


def test_another_therapist_cannot_read_the_report_and_the_refusal_is_audited(
    world: World,
) -> None:
    with pytest.raises(NotFound):
        reports.client_report(world.ctx, actor=world.bob, client_id=world.sarah)
    with transaction(world.ctx.session_factory) as session:
        denials = list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "deny", AuditEvent.actor_id == world.bob.user_id
                )
            )
        )
    assert len(denials) == 1
    assert denials[0].entity_id == str(world.sarah)
    assert [e for e in _reads(world, world.sarah) if e.actor_id == world.bob.user_id] == []


def test_each_report_is_audited_as_a_read_of_the_clients_record(world: World) -> None:
    before = len(_reads(world, world.sarah))
    reports.client_report(world.ctx, actor=world.sam, client_id=world.sarah)
    events = _reads(world, world.sarah)
    assert len(events) == before + 1
    event = events[-1]
    assert event.actor_id == world.sam.user_id
    assert event.detail == {"what": "progress_report", "episode_id": world.sarah_episode}
