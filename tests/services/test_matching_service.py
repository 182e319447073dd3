"""Matching services on SQLite and PostgreSQL: intake, queue, decisions, profiles, re-matching."""

from __future__ import annotations

from typing import Any

import pytest
from clinic_world import World
from sqlalchemy import select

from alliance.services import matching
from alliance.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.store import audit
from alliance.store.db import transaction
from alliance.store.matching_tables import IntakeRequest, MatchDecision, MatchingProfile
from alliance.store.models import Clinic, Episode

SPANISH = {"languages": ["spanish"], "concerns": ["grief"], "consent": True}
ENGLISH = {"languages": ["english"], "concerns": ["anxiety"], "consent": True}


def _profile(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "modalities": ["cbt"],
        "styles": {"collaborative": 3},
        "specialties": ["anxiety"],
        "languages": ["english"],
        "age_groups": ["adult"],
        "modes": ["video", "in_person"],
        "availability": ["mon 09:00-17:00"],
        "capacity": {"new_per_week": 2, "caseload_limit": 20},
        "fee": 80,
    }
    data.update(over)
    return data


def _roster(world: World) -> None:
    matching.save_profile(
        world.ctx,
        actor=world.alice,
        profile=_profile(languages=["english", "spanish"], specialties=["grief"]),
    )
    matching.save_profile(world.ctx, actor=world.bob, profile=_profile())


def _submit(world: World, intake: dict[str, Any], name: str = "Robin") -> int:
    return matching.submit_intake(
        world.ctx, clinic_id=world.north, intake=intake, contact_name=name
    )


def test_a_public_intake_is_stored_encrypted_and_audited(world: World) -> None:
    intake_id = _submit(world, {**ENGLISH, "concerns": ["trauma"]}, name="Robin Hood")
    with transaction(world.ctx.session_factory) as session:
        row = session.get(IntakeRequest, intake_id)
        assert row is not None
        assert row.status == "waiting"
        assert "trauma" not in row.intake_enc
        assert "Robin" not in row.contact_name_enc
        events = audit.events(session, entity_type="intake_request", entity_id=intake_id)
    assert [(e.actor_type, e.action) for e in events] == [("anonymous", "write")]


def test_an_intake_names_its_bad_field_and_needs_consent(world: World) -> None:
    with pytest.raises(InvalidInput) as bad:
        _submit(world, {**ENGLISH, "concerns": ["worry"]})
    assert bad.value.field == "concerns[0]"
    with pytest.raises(InvalidInput) as no_consent:
        _submit(world, {**ENGLISH, "consent": False})
    assert no_consent.value.field == "consent"
    with pytest.raises(NotFound):
        matching.submit_intake(world.ctx, clinic_id=9999, intake=ENGLISH, contact_name="R")


def test_the_queue_proposes_within_hard_constraints_with_reasons(world: World) -> None:
    _roster(world)
    spanish = _submit(world, SPANISH, "Lola")
    english = _submit(world, ENGLISH, "Ed")
    queue = matching.matching_queue(world.ctx, actor=world.ada)
    by_id = {p.intake_id: p for p in queue.proposals}
    assert by_id[spanish].proposed is not None
    assert by_id[spanish].proposed.therapist_id == world.alice.user_id
    assert "specialises in grief" in by_id[spanish].proposed.reasons
    assert by_id[english].proposed is not None
    assert by_id[english].proposed.therapist_id == world.bob.user_id
    assert by_id[english].contact_name == "Ed"
    assert {t.therapist_id for t in queue.therapists} == {world.alice.user_id, world.bob.user_id}


def test_only_admins_see_the_queue(world: World) -> None:
    with pytest.raises(Forbidden):
        matching.matching_queue(world.ctx, actor=world.alice)


def test_accepting_places_the_client_and_records_the_decision(world: World) -> None:
    _roster(world)
    intake_id = _submit(world, SPANISH, "Lola")
    decision = matching.decide(
        world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=world.alice.user_id
    )
    assert decision.decision == "accepted"
    assert decision.client_id is not None
    with transaction(world.ctx.session_factory) as session:
        episode = session.get(Episode, decision.episode_id)
        assert episode is not None
        assert episode.therapist_id == world.alice.user_id
        row = session.scalar(select(MatchDecision).where(MatchDecision.intake_id == intake_id))
        assert row is not None
        assert (row.decision, row.decided_by) == ("accepted", world.ada.user_id)
        assert row.reasons_enc is not None
        assert "grief" not in row.reasons_enc
    with pytest.raises(Conflict):
        matching.decide(
            world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=world.alice.user_id
        )
    # Placed clients leave the queue.
    queue = matching.matching_queue(world.ctx, actor=world.ada)
    assert intake_id not in [p.intake_id for p in queue.proposals]


def test_an_override_needs_a_note_and_force_when_it_breaks_a_rule(world: World) -> None:
    _roster(world)
    intake_id = _submit(world, SPANISH, "Lola")
    bob = world.bob.user_id
    with pytest.raises(InvalidInput) as no_note:
        matching.decide(world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=bob)
    assert no_note.value.field == "note"
    with pytest.raises(InvalidInput, match="speaks none of the client's languages"):
        matching.decide(
            world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=bob, note="interpreter"
        )
    forced = matching.decide(
        world.ctx,
        actor=world.ada,
        intake_id=intake_id,
        therapist_id=bob,
        note="interpreter booked",
        force=True,
    )
    assert forced.decision == "override"
    assert forced.violations == ("language",)
    assert forced.therapist_id == bob


def test_holding_keeps_the_client_waiting(world: World) -> None:
    _roster(world)
    intake_id = _submit(world, ENGLISH)
    held = matching.decide(
        world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=None, note="asked to wait"
    )
    assert held.decision == "held"
    assert held.client_id is None
    queue = matching.matching_queue(world.ctx, actor=world.ada)
    assert intake_id in [p.intake_id for p in queue.proposals]


def test_nothing_crosses_clinics(world: World) -> None:
    intake_id = _submit(world, ENGLISH)
    with pytest.raises(NotFound):
        matching.decide(world.ctx, actor=world.carol, intake_id=intake_id, therapist_id=None)
    assert matching.matching_queue(world.ctx, actor=world.carol).proposals == ()


def test_a_therapist_edits_only_their_own_profile(world: World) -> None:
    saved = matching.save_profile(
        world.ctx, actor=world.alice, profile=_profile(identity={"gender": "woman"})
    )
    assert saved.profile["identity"] == {"gender": "woman"}
    assert "current_caseload" not in saved.profile["capacity"]
    assert saved.current_caseload == 1  # Sarah's open episode
    with pytest.raises(Forbidden):
        matching.save_profile(
            world.ctx, actor=world.alice, profile=_profile(), user_id=world.bob.user_id
        )
    by_admin = matching.save_profile(
        world.ctx, actor=world.ada, profile=_profile(fee=95), user_id=world.bob.user_id
    )
    assert by_admin.profile["fee"] == 95
    with pytest.raises(InvalidInput) as bad:
        matching.save_profile(world.ctx, actor=world.bob, profile=_profile(languages=[]))
    assert bad.value.field == "languages"
    with transaction(world.ctx.session_factory) as session:
        row = session.get(MatchingProfile, world.bob.user_id)
        assert row is not None
        assert row.profile["fee"] == 95  # the bad save changed nothing


def test_an_incomplete_carried_over_profile_is_shown_but_not_matched_until_saved(
    world: World,
) -> None:
    # What migration 0005 leaves for a therapist who had only the older, free-string profile.
    with transaction(world.ctx.session_factory) as session:
        session.add(
            MatchingProfile(
                user_id=world.bob.user_id,
                clinic_id=world.north,
                profile={"modalities": ["cbt"], "styles": {"directive": 1.0}},
                updated_at=world.ctx.now(),
            )
        )
    view = matching.get_profile(world.ctx, actor=world.bob)
    assert (view.has_profile, view.matchable) == (True, False)
    assert view.profile["modalities"] == ["cbt"]
    assert "Bob" in matching.matching_queue(world.ctx, actor=world.ada).without_profile
    saved = matching.save_profile(world.ctx, actor=world.bob, profile=_profile())
    assert saved.matchable
    assert matching.get_profile(world.ctx, actor=world.bob).matchable
    assert "Bob" not in matching.matching_queue(world.ctx, actor=world.ada).without_profile


def test_alternatives_when_a_fit_ends_exclude_the_current_therapist(world: World) -> None:
    _roster(world)
    intake_id = _submit(world, ENGLISH)
    decision = matching.decide(
        world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=world.bob.user_id
    )
    assert decision.episode_id is not None
    found = matching.rematch_alternatives(
        world.ctx, actor=world.ada, episode_id=decision.episode_id, detail="low_alliance_not_rising"
    )
    assert [m.therapist_id for m in found] == [world.alice.user_id]
    # Sarah (Alice's client) never filled in the intake form: Bob is still proposed, flagged.
    without = matching.rematch_alternatives(
        world.ctx, actor=world.ada, episode_id=world.sarah_episode
    )
    assert [m.therapist_id for m in without] == [world.bob.user_id]
    assert without[0].caveats[0] == matching.NO_INTAKE_CAVEAT
    with pytest.raises(NotFound):
        matching.rematch_alternatives(world.ctx, actor=world.carol, episode_id=decision.episode_id)


def test_a_handover_ends_for_fit_and_continues_with_a_colleague(world: World) -> None:
    with pytest.raises(InvalidInput) as no_consent:
        matching.hand_over(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            therapist_id=world.bob.user_id,
            client_consented=False,
        )
    assert no_consent.value.field == "client_consented"
    moved = matching.hand_over(
        world.ctx,
        actor=world.alice,
        episode_id=world.sarah_episode,
        therapist_id=world.bob.user_id,
        client_consented=True,
        detail="client_reported_poor_fit",
    )
    with transaction(world.ctx.session_factory) as session:
        old = session.get(Episode, world.sarah_episode)
        new = session.get(Episode, moved.new_episode_id)
        assert old is not None
        assert new is not None
        assert (old.end_reason, old.ended_at is not None) == ("fit", True)
        assert (new.client_id, new.therapist_id, new.ended_at) == (
            world.sarah,
            world.bob.user_id,
            None,
        )
        assert new.instruments == old.instruments
    with pytest.raises(Conflict):
        matching.hand_over(
            world.ctx,
            actor=world.ada,
            episode_id=world.sarah_episode,
            therapist_id=world.bob.user_id,
            client_consented=True,
        )
    with pytest.raises(NotFound):  # Bob may not see Eve (other clinic)
        matching.hand_over(
            world.ctx,
            actor=world.bob,
            episode_id=world.eve_episode,
            therapist_id=world.alice.user_id,
            client_consented=True,
        )
    with pytest.raises(InvalidInput, match="no active therapist"):
        matching.hand_over(
            world.ctx,
            actor=world.ada,
            episode_id=world.john_episode,
            therapist_id=world.dave.user_id,  # a therapist of the other clinic
            client_consented=True,
        )


def test_a_client_without_an_intake_can_be_handed_over_with_consent(world: World) -> None:
    matching.save_profile(world.ctx, actor=world.bob, profile=_profile())
    found = matching.rematch_alternatives(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, detail="client_request"
    )
    assert [m.therapist_id for m in found] == [world.bob.user_id]
    assert all(m.caveats[0] == matching.NO_INTAKE_CAVEAT for m in found)
    moved = matching.hand_over(
        world.ctx,
        actor=world.alice,
        episode_id=world.sarah_episode,
        therapist_id=found[0].therapist_id,
        client_consented=True,
        note="agreed in session",
    )
    with transaction(world.ctx.session_factory) as session:
        old = session.get(Episode, world.sarah_episode)
        new = session.get(Episode, moved.new_episode_id)
        assert old is not None
        assert new is not None
        assert old.end_reason == "fit"
        old_id = old.id
        assert (new.client_id, new.therapist_id, new.ended_at) == (
            world.sarah,
            world.bob.user_id,
            None,
        )
        ended = audit.events(session, entity_type="episode", entity_id=old.id)
        started = audit.events(session, entity_type="episode", entity_id=new.id)
    assert any(
        e.action == "write" and e.detail.get("handed_to") == world.bob.user_id for e in ended
    )
    assert any(e.action == "write" and e.detail.get("after") == old_id for e in started)


def test_alternatives_are_refused_only_when_no_colleague_exists(world: World) -> None:
    # Eve's clinic has Dave only: nobody to hand over to.
    with pytest.raises(Conflict, match="no other active therapist"):
        matching.rematch_alternatives(world.ctx, actor=world.dave, episode_id=world.eve_episode)


def test_outcomes_of_clients_placed_through_matching_become_history(
    world: World, clock: Any
) -> None:
    from clinic_world import full_answers

    from alliance.services import checkins

    _roster(world)
    intake_id = _submit(world, ENGLISH)
    placed = matching.decide(
        world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=world.bob.user_id
    )
    assert placed.episode_id is not None
    assert matching.matching_queue(world.ctx, actor=world.ada).history_cases == 0
    for symptoms in (2, 0):  # PHQ-9 18 at intake, 0 at the end: 18 points better
        link = checkins.create_checkin_link(
            world.ctx, actor=world.bob, episode_id=placed.episode_id
        )
        checkins.record_check_in(world.ctx, link.token, full_answers(symptoms=symptoms))
        clock.advance(days=7)
    assert matching.matching_queue(world.ctx, actor=world.ada).history_cases == 1
    with transaction(world.ctx.session_factory) as session:
        clinic = session.get(Clinic, world.north)
        assert clinic is not None
        [row] = matching._history(world.ctx, session, clinic)
    assert (row.therapist_id, row.concern) == (str(world.bob.user_id), "anxiety")
    assert (row.intake_severity, row.improvement) == (18.0, 18.0)
    assert row.alliance is not None


def test_a_bad_intake_names_every_problem_at_once_and_stores_nothing(world: World) -> None:
    bad = {"languages": ["spanish"], "concerns": [], "consent": False}
    with pytest.raises(InvalidInput) as raised:
        matching.submit_intake(
            world.ctx, clinic_id=world.north, intake=bad, contact_name=" ", contact_email="x@"
        )
    fields = [field for field, _ in raised.value.problems]
    assert fields == ["contact_name", "contact_email", "concerns", "consent"]
    assert raised.value.field == "contact_name"
    assert all("Value error" not in message for _, message in raised.value.problems)
    assert matching.matching_queue(world.ctx, actor=world.ada).proposals == ()
