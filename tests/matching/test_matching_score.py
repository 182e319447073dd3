"""Fit scores: hard constraints, identity attributes, reasons and caveats, ranking."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matching_factories import history_rows, instances, intake, intakes, therapist, therapists

from alliance.matching import (
    Roster,
    Weights,
    estimate_strengths,
    evaluate,
    evaluate_queue,
    hard_constraint_violations,
    rank_matches,
)
from alliance.matching.profiles import IDENTITY_ATTRIBUTES, ClientIntake, SharedIdentity


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_vectorised_feasibility_agrees_with_the_plain_rules(case) -> None:  # type: ignore[no-untyped-def]
    ts, cs = case
    roster = Roster.build(ts)
    for c in cs:
        ev = evaluate(c, roster)
        for row, t in enumerate(ts):
            assert bool(ev.feasible[row]) == (hard_constraint_violations(c, t) == ()), (c, t)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_clients=3))
def test_ranked_matches_never_break_a_hard_constraint(case) -> None:  # type: ignore[no-untyped-def]
    ts, cs = case
    by_id = {t.id: t for t in ts}
    for c in cs:
        ranked = rank_matches(c, ts, limit=None)
        for m in ranked:
            assert hard_constraint_violations(c, by_id[m.therapist_id]) == ()
        scores = [m.score for m in ranked]
        assert scores == sorted(scores, reverse=True)


def _without_identity(c: ClientIntake) -> ClientIntake:
    kept = tuple(p for p in c.preferences if p.attribute not in IDENTITY_ATTRIBUTES)
    return c.model_copy(update={"preferences": kept})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(therapists(), min_size=2, max_size=5),
    intakes(identity=False),
    st.data(),
)
def test_identity_attributes_change_nothing_unless_the_client_asks(ts, c, data) -> None:  # type: ignore[no-untyped-def]
    ts = [t.model_copy(update={"id": f"t{i}"}) for i, t in enumerate(ts)]
    reshuffled = [
        t.model_copy(
            update={
                "identity": SharedIdentity(
                    gender=data.draw(st.sampled_from([None, "woman", "man"])),
                    ethnicity=data.draw(st.sampled_from([None, "black", "white"])),
                    faith=data.draw(st.sampled_from([None, "muslim"])),
                    lgbtq_affirming=data.draw(st.sampled_from([None, True, False])),
                )
            }
        )
        for t in ts
    ]
    before = rank_matches(c, ts, limit=None)
    after = rank_matches(c, reshuffled, limit=None)
    assert [(m.therapist_id, m.score, m.reasons) for m in before] == [
        (m.therapist_id, m.score, m.reasons) for m in after
    ]
    for m in after:
        assert not any("LGBTQ" in r or "shares their" in r for r in m.reasons)


def test_an_identity_preference_counts_when_the_client_asks() -> None:
    woman = therapist(1, identity={"gender": "Woman"})
    man = therapist(2, identity={"gender": "man"})
    silent = therapist(3)
    plain = intake()
    asked = intake(preferences=[{"attribute": "gender", "values": ["woman"]}])
    assert len({m.score for m in rank_matches(plain, [woman, man, silent])}) == 1
    ranked = rank_matches(asked, [woman, man, silent])
    assert ranked[0].therapist_id == "t1"
    assert "shares their gender as woman, as the client asked" in ranked[0].reasons
    must = intake(preferences=[{"attribute": "gender", "values": ["woman"], "importance": "must"}])
    assert [m.therapist_id for m in rank_matches(must, [woman, man, silent])] == ["t1"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_clients=3))
def test_reasons_mention_only_preferences_that_are_met(case) -> None:  # type: ignore[no-untyped-def]
    ts, cs = case
    by_id = {t.id: t for t in ts}
    for c in cs:
        for m in rank_matches(c, ts, limit=None):
            t = by_id[m.therapist_id]
            met = unmet = 0
            for p in c.preferences:
                if p.importance == "dont_mind":
                    continue
                as_must = c.model_copy(
                    update={"preferences": (p.model_copy(update={"importance": "must"}),)}
                )
                if any(v.startswith("must:") for v in hard_constraint_violations(as_must, t)):
                    unmet += 1
                else:
                    met += 1
            assert sum(r.endswith("as the client asked") for r in m.reasons) == met
            preference_caveats = [
                x
                for x in m.caveats
                if x.startswith(("works mostly", "does not ", "has not "))
                and "specialties" not in x
            ]
            assert len(preference_caveats) == unmet
            # Staff read these (the queue, the fit-and-change page): never addressed to "you".
            for text in (*m.reasons, *m.caveats):
                assert not re.search(r"\byou(r)?\b", text, re.IGNORECASE), text


def test_a_client_who_states_no_preference_gets_no_as_the_client_asked_reason() -> None:
    ts = [therapist(i, styles={"directive": i + 1, "supportive": 2}) for i in range(3)]
    for m in rank_matches(intake(), ts):
        assert not any("as the client asked" in r for r in m.reasons)


def test_style_in_plain_words_ranks_the_matching_style_first() -> None:
    directive = therapist(1, styles={"directive": 3, "collaborative": 1})
    listener = therapist(2, styles={"supportive": 3})
    teammate = therapist(3, styles={"collaborative": 3, "supportive": 1})
    c = intake(preferences=[{"attribute": "style", "values": "works it out with me"}])
    ranked = rank_matches(c, [directive, listener, teammate])
    assert ranked[0].therapist_id == "t3"
    assert "works collaboratively, as the client asked" in ranked[0].reasons
    assert any("not the collaborative style" in x for x in ranked[-1].caveats)


def test_a_rare_shared_language_is_given_as_a_reason() -> None:
    ts = [therapist(1, languages=["english", "spanish"])] + [therapist(i) for i in range(2, 6)]
    c = intake(languages=["spanish", "english"])
    ranked = {m.therapist_id: m for m in rank_matches(c, ts)}
    assert "speaks Spanish" in ranked["t1"].reasons
    assert not any("Spanish" in r for r in ranked["t2"].reasons)


def test_hard_constraints_exclude_therapists_and_each_is_checked() -> None:
    c = intake(
        languages=["polish"],
        modes=["video"],
        availability=["tue 18:00-20:00"],
        max_fee=70,
        age_group="adolescent",
    )
    good = therapist(
        1,
        languages=["polish"],
        modes=["video"],
        availability=["tue 17:00-19:00"],
        fee=60,
        age_groups=["adolescent"],
    )
    variants = {
        "language": {"languages": ["english"]},
        "mode": {"modes": ["in_person"]},
        "availability": {"availability": ["tue 18:30-19:00"]},
        "fees": {"fee": 90},
        "age_group": {"age_groups": ["adult"]},
        "capacity": {"capacity": {"new_per_week": 0, "caseload_limit": 5}},
    }
    assert hard_constraint_violations(c, good) == ()
    for name, change in variants.items():
        bad = good.model_copy(update={"id": f"bad-{name}"}).model_validate(
            {**good.model_dump(), **change, "id": f"bad-{name}"}
        )
        assert hard_constraint_violations(c, bad) == (name,)
        assert [m.therapist_id for m in rank_matches(c, [good, bad])] == ["t1"]


def test_an_insurer_the_therapist_accepts_makes_any_fee_affordable() -> None:
    c = intake(insurer="Bupa", max_fee=50)
    assert hard_constraint_violations(c, therapist(fee=120, insurers=["bupa"])) == ()
    assert hard_constraint_violations(c, therapist(fee=120)) == ("fees",)


def test_no_consent_means_no_matches() -> None:
    assert rank_matches(intake(consent=False), [therapist(1)]) == []


def test_exclude_leaves_a_therapist_out() -> None:
    ts = [therapist(i) for i in range(3)]
    assert "t1" not in [m.therapist_id for m in rank_matches(intake(), ts, exclude=["t1"])]


def _clinic_history() -> list:  # type: ignore[type-arg]
    # Ana does clearly better with anxiety over many cases; Bo has only 3 trauma cases.
    spec = {
        ("t1", "anxiety"): [(10 + k % 5, 9.0 + (k % 3)) for k in range(40)],
        ("t2", "anxiety"): [(10 + k % 5, 4.0 + (k % 3)) for k in range(40)],
        ("t3", "anxiety"): [(10 + k % 5, 5.0 + (k % 3)) for k in range(40)],
        ("t2", "trauma"): [(12, 5.0), (14, 6.0), (11, 4.0)],
        ("t3", "trauma"): [(12 + k % 3, 5.0 + (k % 2)) for k in range(30)],
    }
    return history_rows(spec)


def test_a_credible_strength_is_a_reason_quoting_n() -> None:
    ts = [therapist(1, name="Ana Ruiz"), therapist(2, name="Bo Lee"), therapist(3, name="Cy")]
    strengths = estimate_strengths(_clinic_history())
    ranked = rank_matches(intake(), ts, strengths)
    assert ranked[0].therapist_id == "t1"
    assert (
        "Ana's clients with anxiety improve more than the clinic average (n = 40)"
        in ranked[0].reasons
    )
    bo = next(m for m in ranked if m.therapist_id == "t2")
    assert any("improved less than the clinic average (n = 40)" in x for x in bo.caveats)


def test_few_past_cases_earn_a_caveat_not_a_claim() -> None:
    ts = [therapist(1), therapist(2, name="Bo Lee"), therapist(3)]
    strengths = estimate_strengths(_clinic_history())
    c = intake(concerns=["trauma"])
    bo = next(m for m in rank_matches(c, ts, strengths) if m.therapist_id == "t2")
    assert "only 3 past clients with trauma — little evidence either way" in bo.caveats
    assert not any("trauma improve" in r for r in bo.reasons)
    t1 = next(m for m in rank_matches(c, ts, strengths) if m.therapist_id == "t1")
    assert any("no past clients with trauma" in x for x in t1.caveats)


def test_weights_turn_components_off() -> None:
    ts = [therapist(1, name="Ana"), therapist(2), therapist(3)]
    strengths = estimate_strengths(_clinic_history())
    off = Weights(strengths=0.0)
    ranked = rank_matches(intake(), ts, strengths, off)
    assert {m.components["strengths"] for m in ranked} == {0.0}


def test_weights_refuse_an_unknown_attribute() -> None:
    with pytest.raises(ValueError, match="unknown attribute 'height'"):
        Weights(attributes={"height": 1.0})


def test_a_prebuilt_roster_refuses_other_strengths() -> None:
    roster = Roster.build([therapist(1)])
    with pytest.raises(ValueError, match=r"Roster\.build"):
        rank_matches(intake(), roster, estimate_strengths(_clinic_history()))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_therapists=5, max_clients=8))
def test_whole_queue_evaluation_equals_one_client_at_a_time(case) -> None:  # type: ignore[no-untyped-def]
    ts, cs = case
    roster = Roster.build(ts, estimate_strengths(_clinic_history()))
    feasible, score = evaluate_queue(cs, roster)
    for i, c in enumerate(cs):
        ev = evaluate(c, roster)
        assert feasible[i].tolist() == ev.feasible.tolist()
        assert score[i] == pytest.approx(ev.score, abs=1e-9)


def test_every_hard_constraint_has_plain_words_for_the_admin_screen() -> None:
    from alliance.matching import constraint_text
    from alliance.matching.profiles import ATTRIBUTES
    from alliance.matching.score import CONSTRAINTS

    codes = [*CONSTRAINTS, *(f"must:{a}" for a in ATTRIBUTES)]
    texts = [constraint_text(code) for code in codes]
    assert len(set(texts)) == len(codes)
    for code, text in zip(codes, texts, strict=True):
        assert "_" not in text, text
        assert "must:" not in text, text
        assert text != code, code
    assert (
        constraint_text("must:style") == "does not meet the client's must-have: relationship style"
    )
