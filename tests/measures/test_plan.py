"""The measurement plan's cadences: what a check-in asks at each session."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alliance.measures.plan import (
    BUNDLED_CADENCES,
    GOALS,
    ROUTINE_BUDGET,
    Cadence,
    MeasurementPlan,
    answers_asked,
    course,
    default_plan,
    every_session_plan,
)
from alliance.measures.registry import InstrumentRegistry

CHOSEN = ("wai_sr", "phq9", "gad7", "session_feedback")


@pytest.fixture(scope="module")
def item_counts() -> dict[str, int]:
    registry = InstrumentRegistry()
    return {i: len(registry.get(i).items) for i in (*CHOSEN, "who5")}


def test_every_fourth_from_three() -> None:
    cadence = Cadence(intake=False, every=4, start=3, discharge=False)
    due = [n for n in range(1, 20) if cadence.due(n, first=False, final=False)]
    assert due == [3, 7, 11, 15, 19]


def test_intake_and_discharge_override_the_rhythm() -> None:
    cadence = Cadence(intake=True, every=0, discharge=True)
    assert cadence.due(6, first=True, final=False)
    assert cadence.due(6, first=False, final=True)
    assert not cadence.due(6, first=False, final=False)
    assert not Cadence(intake=False, every=0, discharge=False).due(1, first=True, final=True)


def test_a_check_in_without_a_session_asks_only_every_session_measures() -> None:
    assert Cadence().due(None, first=False, final=False)
    assert not Cadence(every=4, start=1).due(None, first=False, final=False)


def test_cadence_bounds_are_refused() -> None:
    with pytest.raises(ValidationError):
        Cadence(every=-1)
    with pytest.raises(ValidationError):
        Cadence(start=0)
    with pytest.raises(ValidationError):
        Cadence.model_validate({"every": 2, "when": "monday"})


def test_a_plan_that_never_asks_anything_is_refused() -> None:
    never = Cadence(intake=False, every=0, discharge=False)
    with pytest.raises(ValidationError, match="ask something"):
        MeasurementPlan(cadences={"phq9": never, GOALS: never})


def test_describe_in_plain_words() -> None:
    assert Cadence().describe() == "at intake, every session, at discharge"
    assert BUNDLED_CADENCES["wai_sr"].describe() == "at session 3 and every 4th after, at discharge"
    assert Cadence(intake=False, every=2, start=2, discharge=False).describe() == (
        "at session 2 and every 2nd after"
    )
    assert Cadence(intake=False, every=0, discharge=False).describe() == "never"


def test_an_instrument_the_plan_does_not_name_comes_every_session() -> None:
    plan = default_plan(["phq9"])
    assert plan.due(["phq9", "clinic_own"], 6, first=False, final=False) == (
        "phq9",
        "clinic_own",
    )


def test_overlay_lets_an_episode_change_one_cadence() -> None:
    clinic = default_plan(CHOSEN)
    episode = MeasurementPlan(cadences={"gad7": Cadence()})
    both = clinic.overlay(episode)
    assert both.cadence("gad7") == Cadence()
    assert both.cadence("wai_sr") == clinic.cadence("wai_sr")
    assert clinic.overlay(None) is clinic


def test_default_plan_routine_check_in_fits_the_budget(item_counts: dict[str, int]) -> None:
    plan = default_plan(CHOSEN)
    routine = plan.due(CHOSEN, 2, first=False, final=False)
    assert routine == ("phq9", "session_feedback")
    assert answers_asked(routine, item_counts) <= ROUTINE_BUDGET
    # The long alliance measure comes on its cadence, the short feedback in between.
    wai_sessions = [c.session_number for c in course(plan, CHOSEN, 12) if "wai_sr" in c.instruments]
    assert wai_sessions == [3, 7, 11, 12]


def test_course_marks_intake_and_discharge() -> None:
    plan = default_plan(CHOSEN)
    checkins = course(plan, CHOSEN, 10)
    assert checkins[0].instruments == ("phq9", "gad7", "session_feedback")
    assert checkins[0].goals
    assert set(checkins[-1].instruments) == set(CHOSEN)
    assert [c.session_number for c in checkins if c.goals] == [1, 4, 8, 10]


def test_every_session_plan_asks_everything(item_counts: dict[str, int]) -> None:
    plan = every_session_plan(CHOSEN)
    for n in (1, 2, 5):
        assert plan.due(CHOSEN, n, first=False, final=False) == CHOSEN
        assert plan.goals_due(n, first=False, final=False)
    assert answers_asked(CHOSEN, item_counts, goals=1) == sum(item_counts[i] for i in CHOSEN) + 1


def test_plan_round_trips_through_json() -> None:
    plan = default_plan(CHOSEN)
    assert MeasurementPlan.model_validate(plan.model_dump(mode="json")) == plan
