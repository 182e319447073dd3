"""The clinic outcome report's service: its figures are the Jacobson–Truax classification of each
episode's first and last score, the monitoring rules' ruptures and the stored check-ins; an
admin sees the clinic, a supervisor only their team, a therapist nothing; each report is one
aggregate read in the audit trail."""

from __future__ import annotations

from datetime import date

import pytest
from clinic_world import World
from sqlalchemy import select

from alliance.measures.change import classify_instrument_change
from alliance.measures.registry import load_instrument
from alliance.monitoring.alerts import rupture_episodes
from alliance.monitoring.outcomes import wilson_interval
from alliance.monitoring.timeline import ScorePoint, Timeline
from alliance.services import outcomes
from alliance.services.errors import Forbidden, InvalidInput
from alliance.store.db import transaction
from alliance.store.models import AuditEvent
from outcomes_seed import Course, seed

START = date(2025, 12, 1)
END = date(2026, 2, 28)


ALICE = [
    *[Course((20, 12, 6), end_reason="completed") for _ in range(6)],  # recovered
    *[Course((20, 19), wai=(5, 2, 5)) for _ in range(3)],  # unchanged; a repaired rupture
    Course((12,), unanswered=2, end_reason="dropout"),  # one score only
]
BOB = [
    *[Course((8, 18), wai=(4, 2)) for _ in range(4)],  # deteriorated; an unrepaired rupture
    *[Course((16, 8)) for _ in range(2)],  # improved (below the cut-off at the end: recovered)
]


@pytest.fixture
def seeded(world: World) -> World:
    seed(world.ctx, world.north, world.alice.user_id or 0, ALICE)
    seed(world.ctx, world.north, world.bob.user_id or 0, BOB)
    return world


def _expected(courses: list[Course]) -> dict[str, int]:
    phq, wai = load_instrument("phq9"), load_instrument("wai_sr")
    counts = {"two": 0, "improved": 0, "recovered": 0, "caseness": 0, "deteriorated": 0}
    counts.update({"ruptures": 0, "repaired": 0, "created": 0, "completed": 0})
    for c in courses:
        counts["created"] += max(len(c.phq), len(c.wai)) + c.unanswered
        counts["completed"] += max(len(c.phq), len(c.wai))
        points = [
            ScorePoint(session_number=i, date=START, instrument_id="wai_sr", total=v)
            for i, v in enumerate(c.wai, 1)
        ]
        found = rupture_episodes(Timeline("x", points), {"wai_sr": wai})
        counts["ruptures"] += len(found)
        counts["repaired"] += sum(1 for r in found if r.repaired_session)
        if len(c.phq) < 2:
            continue
        result = classify_instrument_change(phq, c.phq[0], c.phq[-1])
        counts["two"] += 1
        counts["improved"] += result.status in ("improved", "recovered")
        counts["recovered"] += result.status == "recovered"
        counts["deteriorated"] += result.status == "deteriorated"
        counts["caseness"] += c.phq[0] >= 10
    return counts


def test_the_clinic_figures_are_each_episodes_jacobson_truax_change(seeded: World) -> None:
    world = seeded
    view = outcomes.clinic_outcomes(world.ctx, actor=world.ada, start=START, end=END)
    want = _expected(ALICE + BOB)
    row = view.clinic
    # Sarah's and John's episodes (the world's own, opened "today", after the period) are not
    # in care in the period (it ends on 28 February); the sixteen seeded ones are.
    assert row.episodes.value == 16
    assert row.started.value == 16
    assert row.ended.value == 7
    assert row.with_two_scores.value == want["two"] == 15
    assert row.reliable_improvement.numerator == want["improved"]
    assert row.reliable_improvement.denominator == want["two"]
    assert row.recovery.numerator == want["recovered"]
    assert row.recovery.denominator == want["caseness"]
    assert row.reliable_deterioration.numerator == want["deteriorated"] == 4
    low, high = wilson_interval(want["improved"], want["two"])
    assert row.reliable_improvement.low == pytest.approx(low)
    assert row.reliable_improvement.high == pytest.approx(high)
    assert row.dropout.numerator == 1
    assert row.dropout.denominator == 7
    assert row.rupture_repair.denominator == want["ruptures"] == 7
    assert row.rupture_repair.numerator == want["repaired"] == 3
    assert row.checkin_completion.denominator == want["created"]
    assert row.checkin_completion.numerator == want["completed"]
    assert view.outcome_instruments == ("phq9",)
    assert view.alliance_instruments == ("wai_sr",)
    assert view.scope == "the whole clinic"


def test_breakdowns_suppress_small_cells_and_say_what_has_no_data(seeded: World) -> None:
    view = outcomes.clinic_outcomes(seeded.ctx, actor=seeded.ada, start=START, end=END)
    therapists = {r.label: r for r in view.breakdown("therapist").rows}
    assert set(therapists) == {"Alice", "Bob"}
    alice, bob = therapists["Alice"], therapists["Bob"]
    assert alice.with_two_scores.value == 9
    assert alice.reliable_improvement.numerator == 6
    # Bob: 6 episodes, 2 ended in... none ended: dropout has no denominator, not a rate of 0.
    assert bob.dropout.denominator == 0
    # Bob's four ruptures and Alice's three: Alice's cell is below five, so suppressed.
    assert alice.rupture_repair.suppressed
    assert alice.rupture_repair.value is None
    assert bob.rupture_repair.denominator is None
    # Alice is in Sam's team, Bob in none; nobody has a matching profile or an intake.
    teams = view.breakdown("team")
    assert [r.label for r in teams.rows] == ["Sam's team"]
    assert teams.no_data == (
        "6 episode(s) are not in this breakdown: their therapist is in no supervisor's team.",
    )
    assert view.breakdown("modality").rows == ()
    assert view.breakdown("concern").no_data


def test_a_supervisor_sees_only_their_team_and_a_therapist_is_refused(seeded: World) -> None:
    world = seeded
    view = outcomes.clinic_outcomes(world.ctx, actor=world.sam, start=START, end=END)
    assert view.clinic.episodes.value == len(ALICE)
    assert [r.label for r in view.breakdown("therapist").rows] == ["Alice"]
    assert view.scope == "the team of Sam"
    with pytest.raises(Forbidden):
        outcomes.clinic_outcomes(world.ctx, actor=world.alice, start=START, end=END)
    # Another clinic's admin sees none of Northside's episodes.
    other = outcomes.clinic_outcomes(world.ctx, actor=world.carol, start=START, end=END)
    assert other.clinic.episodes.value == 0


def test_each_report_is_one_aggregate_read_and_a_refusal_is_audited(seeded: World) -> None:
    world = seeded
    outcomes.clinic_outcomes(world.ctx, actor=world.sam, start=START, end=END)
    with pytest.raises(Forbidden):
        outcomes.clinic_outcomes(world.ctx, actor=world.bob, start=START, end=END)
    with transaction(world.ctx.session_factory) as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "clinic_outcomes")
                .order_by(AuditEvent.id)
            )
        )
        denials = list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "deny", AuditEvent.actor_id == world.bob.user_id
                )
            )
        )
    assert [(e.action, e.actor_id) for e in events] == [("read", world.sam.user_id)]
    assert events[0].detail["scope"] == "team"
    assert events[0].detail["from"] == "2025-12-01"
    assert denials


def test_a_period_that_ends_before_it_starts_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput, match="ends"):
        outcomes.clinic_outcomes(world.ctx, actor=world.ada, start=END, end=START)


def test_scores_after_the_period_do_not_count(seeded: World) -> None:
    # Up to 7 February only the first score of each course is in: nobody has two scores.
    view = outcomes.clinic_outcomes(seeded.ctx, actor=seeded.ada, start=START, end=date(2026, 2, 7))
    assert view.clinic.with_two_scores.value == 0
    assert view.clinic.reliable_improvement.denominator == 0
