"""Queue assignment: never breaks a rule or a capacity, optimal, explained; overrides."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from matching_factories import instances, intake, therapist

from alliance.matching import (
    OverrideError,
    Roster,
    apply_override,
    assign_queue,
    evaluate,
    hard_constraint_violations,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_therapists=5, max_clients=8))
def test_no_assignment_breaks_a_hard_constraint_or_a_capacity(case) -> None:  # type: ignore[no-untyped-def]
    ts, cs = case
    result = assign_queue(cs, ts)
    by_id = {t.id: t for t in ts}
    clients = {c.id: c for c in cs}
    for p in result.placements:
        assert hard_constraint_violations(clients[p.client_id], by_id[p.therapist_id]) == ()
    for tid, load in result.load().items():
        assert load <= by_id[tid].open_places
    placed = [p.client_id for p in result.placements]
    waiting = [u.client_id for u in result.unassigned]
    assert sorted(placed + waiting) == sorted(clients)
    assert len(set(placed)) == len(placed)


def _brute_force(ts, cs):  # type: ignore[no-untyped-def]
    """Best (number placed, total fit) over every capacity-respecting assignment."""
    roster = Roster.build(ts)
    evs = [evaluate(c, roster) for c in cs]
    options = [[None] + [j for j in range(len(ts)) if ev.feasible[j]] for ev in evs]
    best = (0, 0.0)
    for choice in itertools.product(*options):
        used = [j for j in choice if j is not None]
        if any(used.count(j) > ts[j].open_places for j in set(used)):
            continue
        total = sum(float(evs[i].score[j]) for i, j in enumerate(choice) if j is not None)
        key = (len(used), total)
        if key[0] > best[0] or (key[0] == best[0] and key[1] > best[1] + 1e-9):
            best = key
    return best


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_therapists=3, max_clients=5))
def test_the_assignment_is_optimal_against_brute_force(case) -> None:  # type: ignore[no-untyped-def]
    ts, cs = case
    result = assign_queue(cs, ts)
    count, total = _brute_force(ts, cs)
    assert len(result.placements) == count
    assert result.total_fit == pytest.approx(total, abs=1e-5)


def test_it_beats_greedy_when_the_first_client_would_take_the_only_place_another_needs() -> None:
    # Greedy in queue order gives c1 the specialist; the optimum keeps both clients placed.
    specialist = therapist(
        1,
        languages=["english", "spanish"],
        specialties=["trauma"],
        capacity={"new_per_week": 1, "caseload_limit": 9},
    )
    general = therapist(2, specialties=[], capacity={"new_per_week": 1, "caseload_limit": 9})
    c1 = intake(1, concerns=["trauma"])
    c2 = intake(2, languages=["spanish"])
    result = assign_queue([c1, c2], [specialist, general])
    assert result.therapist_of("c1") == "t2"
    assert result.therapist_of("c2") == "t1"
    assert result.unassigned == ()


def test_waiting_clients_are_told_why() -> None:
    ts = [therapist(1, capacity={"new_per_week": 1, "caseload_limit": 9})]
    cs = [intake(1), intake(2), intake(3, languages=["polish"]), intake(4, consent=False)]
    result = assign_queue(cs, ts)
    reasons = {u.client_id: u.reason for u in result.unassigned}
    assert len(result.placements) == 1
    full = "c2" if "c2" in reasons else "c1"
    assert "no open place" in reasons[full]
    assert reasons["c3"].startswith("no therapist meets every hard constraint: language (0 of 1")
    assert reasons["c4"] == "the client has not consented to matching"


def test_placements_carry_reasons() -> None:
    t = therapist(1, languages=["english", "spanish"])
    others = [therapist(i) for i in range(2, 5)]
    result = assign_queue([intake(languages=["spanish"])], [t, *others])
    assert result.placements[0].therapist_id == "t1"
    assert "speaks Spanish" in result.placements[0].reasons


def _setup():  # type: ignore[no-untyped-def]
    ts = [
        therapist(1, capacity={"new_per_week": 1, "caseload_limit": 9}),
        therapist(2, capacity={"new_per_week": 1, "caseload_limit": 9}),
        therapist(3, languages=["polish"]),
    ]
    cs = [intake(1), intake(2)]
    return ts, cs, assign_queue(cs, ts)


def test_an_override_moves_a_client_and_is_recorded() -> None:
    ts, cs, result = _setup()
    start = result.therapist_of("c1")
    other = "t2" if start == "t1" else "t1"
    # Swap c1 to the other therapist would overfill it; hold c2 back first.
    held = apply_override(
        result,
        client_id="c2",
        therapist_id=None,
        by="admin@clinic",
        reason="client asked to wait",
        intakes=cs,
        therapists=ts,
    )
    moved = apply_override(
        held,
        client_id="c1",
        therapist_id=other,
        by="admin@clinic",
        reason="continuity with sibling's therapist",
        intakes=cs,
        therapists=ts,
    )
    assert moved.therapist_of("c1") == other
    assert moved.therapist_of("c2") is None
    assert [o.client_id for o in moved.overrides] == ["c2", "c1"]
    last = moved.overrides[-1]
    assert (last.from_therapist_id, last.to_therapist_id, last.by) == (start, other, "admin@clinic")
    assert last.violations == ()
    assert next(p for p in moved.placements if p.client_id == "c1").source == "override"
    # The original is untouched: overrides are pure.
    assert result.overrides == ()
    assert result.therapist_of("c1") == start


def test_an_override_that_breaks_a_rule_needs_force_and_records_what_it_breaks() -> None:
    ts, cs, result = _setup()
    with pytest.raises(OverrideError, match="language"):
        apply_override(
            result,
            client_id="c1",
            therapist_id="t3",
            by="admin",
            reason="x",
            intakes=cs,
            therapists=ts,
        )
    forced = apply_override(
        result,
        client_id="c1",
        therapist_id="t3",
        by="admin",
        reason="interpreter booked",
        intakes=cs,
        therapists=ts,
        force=True,
    )
    assert forced.overrides[-1].violations == ("language",)
    placed = next(p for p in forced.placements if p.client_id == "c1")
    assert "override breaks language" in placed.caveats


def test_an_override_past_capacity_is_refused_without_force() -> None:
    ts, cs, result = _setup()
    taken = result.therapist_of("c2")
    with pytest.raises(OverrideError, match="capacity"):
        apply_override(
            result,
            client_id="c1",
            therapist_id=taken,
            by="admin",
            reason="x",
            intakes=cs,
            therapists=ts,
        )


def test_an_override_needs_who_and_why() -> None:
    ts, cs, result = _setup()
    with pytest.raises(ValueError, match="who made it and why"):
        apply_override(
            result, client_id="c1", therapist_id=None, by=" ", reason="", intakes=cs, therapists=ts
        )


def test_an_empty_roster_leaves_everyone_waiting_with_a_reason() -> None:
    cs = [intake(1, availability=["mon 10:00-12:00"]), intake(2)]
    result = assign_queue(cs, [])
    assert result.placements == ()
    assert [u.client_id for u in result.unassigned] == ["c1", "c2"]
    assert {u.reason for u in result.unassigned} == {"there are no therapists to match with"}
