"""The rule-based markers: each hit names its rule; roles and context matter."""

from __future__ import annotations

from pathlib import Path

from alliance.analysis.markers import MARKERS, RULES, MarkerInput, detect, detect_session
from alliance.transcripts import parse_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


def markers(text: str, role: str = "client", previous: str = "", prev_role: str = "therapist"):
    item = MarkerInput(text=text, role=role, previous_text=previous, previous_role=prev_role)  # type: ignore[arg-type]
    return {h.marker: h for h in detect(item)}


def test_every_rule_has_a_unique_name_and_a_known_marker() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert {r.marker for r in RULES} == set(MARKERS)


def test_a_hit_reports_its_rule_and_the_words_that_fired() -> None:
    hits = markers("Honestly this homework is pointless.", previous="How did the homework go?")
    hit = hits["confrontation_task"]
    assert hit.rule == "complains_about_task"
    assert "homework" in hit.evidence
    assert "pointless" in hit.evidence
    assert hit.category == "confrontation"
    assert 0 < hit.confidence <= 1


def test_a_short_answer_to_an_open_question_is_minimal_but_not_to_a_yes_no_question() -> None:
    assert "withdrawal_minimal" in markers("Fine.", previous="How was the visit to your dad?")
    assert "withdrawal_minimal" not in markers("Yes.", previous="Did you go to the visit?")


def test_i_dont_know_opening_a_clause_is_not_withdrawal() -> None:
    assert "withdrawal_dont_know" in markers("I don't know.", previous="Why do you think so?")
    assert "withdrawal_dont_know" not in markers(
        "I don't know if I said, but my mum is coming to stay.", previous="How's home?"
    )


def test_client_rules_do_not_fire_on_the_therapist_and_vice_versa() -> None:
    assert "withdrawal_deferring" not in markers(
        "It's up to you.", role="therapist", previous="What now?", prev_role="client"
    )
    assert "collaboration" not in markers("Would it be okay if we paused?", role="client")
    assert "collaboration" in markers(
        "Would it be okay if we paused?", role="therapist", prev_role="client"
    )


def test_deferring_is_not_taken_for_agreement() -> None:
    found = markers("If you think it's best, I'll do it.", previous="How does the plan sound?")
    assert "withdrawal_deferring" in found
    assert "collaboration" not in found


def test_the_lexical_topic_shift_needs_no_shared_words_and_no_personal_pronoun() -> None:
    statement = "Let's think about what makes Sunday evenings so hard."
    assert "withdrawal_topic_shift" in markers(
        "The traffic on the ring road was terrible this morning.", previous=statement
    )
    assert "withdrawal_topic_shift" not in markers(
        "Sunday evenings are lonely since the divorce.", previous=statement
    )
    assert "withdrawal_topic_shift" not in markers(
        "My sister rang and I ended up crying.", previous=statement
    )


def test_an_answer_to_a_question_in_new_words_is_not_a_topic_shift() -> None:
    assert "withdrawal_topic_shift" not in markers(
        "Maybe one or two weekends a month at the most.", previous="How often do you drink?"
    )


def test_a_yeah_after_a_reflection_is_agreement_not_withdrawal() -> None:
    assert not markers("Yeah.", previous="So the shifts are wearing you down.")
    assert "withdrawal_minimal" in markers("Yeah.", previous="How has the week been?")


def test_a_session_pairs_each_turn_with_the_other_sides_previous_turn() -> None:
    t = parse_transcript((DATA / "teams_session.vtt").read_bytes(), filename="teams.vtt")
    found = detect_session(t)
    assert len(found) == len(t.utterances)
    by_id = {u.id: {h.marker for h in hits} for u, hits in zip(t.utterances, found, strict=True)}
    assert "withdrawal_dont_know" in by_id["u2"]
    assert "confrontation_progress" in by_id["u8"]
    assert "validation" in by_id["u9"]
