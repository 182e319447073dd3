"""Measurement plans in use: what a clinic's default plan asks at each session, an episode's
own cadences, discharge check-ins, goal ratings on their cadence, and e-mailed links that
follow the plan."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from clinic_world import GOAL, Clock, World, feedback, gad7, phq9, wai
from sqlalchemy import select

from alliance.adapters.mail import SmtpNotifier
from alliance.measures.plan import GOALS, Cadence, MeasurementPlan
from alliance.services import admin, alerts, checkins, delivery, goals, plans, sessions
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.errors import InvalidInput, NotFound
from alliance.store.models import AuditEvent, CheckIn
from smtp_sink import SmtpSink, smtp_settings

ROUTINE = ("phq9", "session_feedback")
ANSWERS = {
    "wai_sr": wai(4),
    "phq9": phq9(1),
    "gad7": gad7(1),
    "session_feedback": feedback(8),
}


@pytest.fixture
def planned(world: World) -> World:
    """Northside on the default measurement plan; Sarah has an agreed goal."""
    admin.update_clinic_settings(world.ctx, actor=world.ada, settings=ClinicSettings())
    goals.agree_goals(world.ctx, actor=world.alice, client_id=world.sarah, goals=[GOAL])
    return world


def _session(world: World, clock: Clock) -> int:
    clock.advance(days=7)
    return sessions.schedule_session(
        world.ctx,
        actor=world.alice,
        client_id=world.sarah,
        scheduled_at=clock.now,
        status="attended",
    ).id


def _check_in(
    world: World, clock: Clock, *, final: bool = False, alliance: int = 4
) -> checkins.CheckInLink:
    _session(world, clock)
    link = checkins.create_checkin_link(
        world.ctx, actor=world.alice, client_id=world.sarah, final=final
    )
    answers = {**ANSWERS, "wai_sr": wai(alliance)}
    checkins.record_check_in(
        world.ctx, link.token, {i: answers[i] for i in link.checkin.instruments}
    )
    return link


def test_the_default_plan_asks_the_long_measures_on_their_cadence(
    planned: World, clock: Clock
) -> None:
    asked = [_check_in(planned, clock).checkin for _ in range(8)]
    assert asked[0].instruments == ("phq9", "gad7", "session_feedback")  # intake
    assert asked[0].rate_goals
    assert asked[1].instruments == ROUTINE
    assert not asked[1].rate_goals
    assert asked[2].instruments == ("wai_sr", "phq9", "session_feedback")  # session 3
    assert asked[3].instruments == ROUTINE
    assert asked[3].rate_goals
    assert asked[4].instruments == ("phq9", "gad7", "session_feedback")  # session 5
    assert asked[6].instruments == ("wai_sr", "phq9", "session_feedback")  # session 7


def test_a_routine_form_shows_no_goals_and_refuses_their_ratings(
    planned: World, clock: Clock
) -> None:
    _check_in(planned, clock)
    _session(planned, clock)
    link = checkins.create_checkin_link(planned.ctx, actor=planned.alice, client_id=planned.sarah)
    form = checkins.open_checkin(planned.ctx, link.token)
    assert [s.instrument_id for s in form.sections] == list(ROUTINE)
    assert form.goals == ()
    [goal] = goals.list_goals(planned.ctx, actor=planned.alice, episode_id=planned.sarah_episode)
    with pytest.raises(InvalidInput, match="not a goal of this check-in"):
        checkins.record_check_in(
            planned.ctx, link.token, {i: ANSWERS[i] for i in ROUTINE}, {goal.id: 7}
        )


def test_a_final_check_in_asks_the_discharge_measures(planned: World, clock: Clock) -> None:
    _check_in(planned, clock)
    _check_in(planned, clock)
    final = _check_in(planned, clock, final=True).checkin
    assert set(final.instruments) == {"wai_sr", "phq9", "gad7", "session_feedback"}
    assert final.rate_goals


def test_chosen_questionnaires_still_override_the_plan(planned: World, clock: Clock) -> None:
    _check_in(planned, clock)
    _session(planned, clock)
    link = checkins.create_checkin_link(
        planned.ctx, actor=planned.alice, client_id=planned.sarah, instruments=("gad7",)
    )
    assert link.checkin.instruments == ("gad7",)


def test_an_episode_can_have_its_own_cadences(planned: World, clock: Clock) -> None:
    view = plans.set_episode_plan(
        planned.ctx,
        actor=planned.alice,
        client_id=planned.sarah,
        plan={"cadences": {"gad7": {"every": 1}}},
    )
    assert view.own == MeasurementPlan(cadences={"gad7": Cadence()})
    assert view.plan.cadence("wai_sr") == ClinicSettings().plan().cadence("wai_sr")
    _check_in(planned, clock)
    assert _check_in(planned, clock).checkin.instruments == ("phq9", "gad7", "session_feedback")
    # Back to the clinic's plan.
    back = plans.set_episode_plan(
        planned.ctx, actor=planned.alice, client_id=planned.sarah, plan=None
    )
    assert back.own is None
    assert _check_in(planned, clock).checkin.instruments == ("wai_sr", *ROUTINE)
    with planned.ctx.session_factory() as session:
        details = [
            e.detail
            for e in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.entity_type == "episode",
                    AuditEvent.entity_id == str(planned.sarah_episode),
                )
            )
        ]
    assert {"op": "plan", "own": ["gad7"]} in details
    assert {"op": "plan", "own": []} in details


def test_an_episode_plan_names_only_its_own_measures(planned: World) -> None:
    with pytest.raises(InvalidInput, match="not used in this episode: who5"):
        plans.set_episode_plan(
            planned.ctx,
            actor=planned.alice,
            client_id=planned.sarah,
            plan={"cadences": {"who5": {"every": 1}}},
        )
    with pytest.raises(InvalidInput, match=r"plan\.cadences\.gad7\.every"):
        plans.set_episode_plan(
            planned.ctx,
            actor=planned.alice,
            client_id=planned.sarah,
            plan={"cadences": {"gad7": {"every": -2}}},
        )


def test_another_therapist_cannot_read_or_change_the_plan(planned: World) -> None:
    with pytest.raises(NotFound):
        plans.get_episode_plan(planned.ctx, actor=planned.bob, client_id=planned.sarah)
    with pytest.raises(NotFound):
        plans.set_episode_plan(planned.ctx, actor=planned.dave, client_id=planned.sarah, plan=None)
    view = plans.get_episode_plan(planned.ctx, actor=planned.alice, client_id=planned.sarah)
    assert view.episode_id == planned.sarah_episode
    assert view.own is None


def test_a_session_the_plan_leaves_empty_needs_a_choice(planned: World, clock: Clock) -> None:
    never = {"intake": False, "every": 0, "discharge": False}
    plans.set_episode_plan(
        planned.ctx,
        actor=planned.alice,
        client_id=planned.sarah,
        plan={
            "cadences": {
                "phq9": {"every": 2, "start": 1},
                "session_feedback": never,
                "gad7": never,
                "wai_sr": never,
                GOALS: never,
            }
        },
    )
    _check_in(planned, clock)
    _session(planned, clock)
    with pytest.raises(InvalidInput, match="asks nothing at this session"):
        checkins.create_checkin_link(planned.ctx, actor=planned.alice, client_id=planned.sarah)


def test_clinic_plan_must_name_known_instruments(planned: World) -> None:
    settings = ClinicSettings(measurement_plan=MeasurementPlan(cadences={"nope": Cadence(every=2)}))
    with pytest.raises(InvalidInput) as caught:
        admin.update_clinic_settings(planned.ctx, actor=planned.ada, settings=settings)
    assert caught.value.field == "measurement_plan"


def test_e_mailed_links_follow_the_plan(planned: World, clock: Clock, sink: SmtpSink) -> None:
    notifier = SmtpNotifier(
        planned.ctx.settings.model_copy(update=smtp_settings(sink.port)), timeout=5
    )
    asked = []
    for _ in range(3):
        clock.advance(days=7)
        sessions.schedule_session(
            planned.ctx,
            actor=planned.alice,
            client_id=planned.sarah,
            scheduled_at=clock.now - timedelta(hours=1),
            status="attended",
        )
        delivery.send_due(planned.ctx, notifier=notifier)
        (url,) = re.findall(r"https://\S+/c/[A-Za-z0-9_-]+", sink.bodies()[-1])
        form = checkins.open_checkin(planned.ctx, url.rsplit("/", 1)[1])
        asked.append(tuple(s.instrument_id for s in form.sections))
        checkins.record_check_in(
            planned.ctx, url.rsplit("/", 1)[1], {i: ANSWERS[i] for i in asked[-1]}
        )
    assert asked == [
        ("phq9", "gad7", "session_feedback"),
        ROUTINE,
        ("wai_sr", *ROUTINE),
    ]
    with planned.ctx.session_factory() as session:
        rate = list(session.scalars(select(CheckIn.rate_goals).order_by(CheckIn.id)))
    assert rate == [True, False, False]


def test_a_rupture_is_seen_between_two_wai_sr_sessions_four_apart(
    planned: World, clock: Clock
) -> None:
    for session_number in range(1, 8):
        _check_in(planned, clock, alliance=1 if session_number == 7 else 5)
    ruptures = [
        a
        for a in alerts.list_client_alerts(
            planned.ctx, actor=planned.alice, client_id=planned.sarah
        )
        if a.kind == "rupture"
    ]
    assert [a.session_number for a in ruptures] == [7]
    assert "at session 3 to" in ruptures[0].reason
    assert "at session 7" in ruptures[0].reason
