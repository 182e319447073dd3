"""What staff read: the client timeline, the caseload ordered by urgency and the team
overview."""

from __future__ import annotations

from clinic_world import Clock, World, rupture, weekly_check_ins

from alliance.services import clients, matching, timelines
from alliance.store.db import transaction
from alliance.store.matching_tables import MatchingProfile


def test_the_caseload_puts_the_client_with_a_rupture_first_with_its_reason(
    world: World, clock: Clock
) -> None:
    second, _ = clients.create_client(world.ctx, actor=world.bob, display_name="Quiet Quinn")
    rupture(world, clock)
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
    weekly_check_ins(
        world, clock, world.sarah_episode, world.alice, [(3, 2), (4, 2), (4, 1), (5, 1)]
    )
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
    weekly_check_ins(world, clock, world.sarah_episode, world.alice, [(3, 3), (5, 1)])
    weekly_check_ins(world, clock, world.john_episode, world.bob, [(4, 2)])
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


def _matching_profile(modalities: list[str], styles: dict[str, int]) -> dict[str, object]:
    return {
        "modalities": modalities,
        "styles": styles,
        "languages": ["english"],
        "age_groups": ["adult"],
        "modes": ["video"],
        "availability": ["mon 09:00-17:00"],
        "capacity": {"new_per_week": 1, "caseload_limit": 10},
        "fee": 70,
    }


def test_the_team_overview_shows_approaches_from_the_clinics_own_matching_profiles(
    world: World, clock: Clock
) -> None:
    matching.save_profile(
        world.ctx,
        actor=world.alice,
        profile=_matching_profile(["cbt", "act"], {"collaborative": 1, "directive": 3}),
    )
    matching.save_profile(
        world.ctx, actor=world.dave, profile=_matching_profile(["emdr"], {"supportive": 2})
    )
    # Bob's profile came over incomplete from the older store (migration 0006): still shown.
    with transaction(world.ctx.session_factory) as session:
        session.add(
            MatchingProfile(
                user_id=world.bob.user_id,
                clinic_id=world.north,
                profile={"modalities": ["person_centred"], "styles": {"supportive": 1.0}},
                updated_at=clock.now,
            )
        )
    north = {
        t.display_name: (t.modalities, t.styles)
        for t in timelines.team_overview(world.ctx, actor=world.ada).therapists
    }
    assert north == {
        "Alice": (("CBT", "ACT"), ("directive", "collaborative")),
        "Bob": (("person-centred / humanistic",), ("supportive",)),
        "Sam": ((), ()),
    }
    south = timelines.team_overview(world.ctx, actor=world.carol).therapists
    assert [(t.display_name, t.modalities, t.styles) for t in south] == [
        ("Dave", ("EMDR",), ("supportive",))
    ]
