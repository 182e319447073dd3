"""Segment-level coding: how a turn is cut into coding units, and how their codes fold back."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from alliance.analysis.segments import (
    aggregate,
    segment_weights,
    split_turn,
    therapist_priority_primary,
)


def texts(turn: str) -> list[str]:
    return [s.text for s in split_turn(turn)]


# ----------------------------------------------------------------------------- splitting


def test_a_reflection_then_two_questions_gives_three_units() -> None:
    assert texts(
        "It sounds like smoking is part of your routine. How do you feel about that? "
        "Are there moments when you feel differently?"
    ) == [
        "It sounds like smoking is part of your routine.",
        "How do you feel about that?",
        "Are there moments when you feel differently?",
    ]


def test_an_unpunctuated_statement_then_question_is_cut_before_the_question() -> None:
    assert texts("so it sounds like nature is calming for you do you think this will help") == [
        "so it sounds like nature is calming for you",
        "do you think this will help",
    ]


def test_a_linking_word_goes_with_the_question_it_leads_into() -> None:
    assert texts("You have been drinking more lately, and what do you make of that?") == [
        "You have been drinking more lately,",
        "and what do you make of that?",
    ]


def test_an_embedded_question_is_not_cut() -> None:
    assert texts("I wonder what is making this so hard for you right now.") == [
        "I wonder what is making this so hard for you right now."
    ]
    assert texts("I really don't know how do you even start with something like this") == [
        "I really don't know how do you even start with something like this"
    ]


def test_a_short_question_clause_stays_with_its_statement() -> None:
    # "is it" would leave fewer than MIN_CLAUSE_WORDS words on the right.
    assert texts("That was a hard week for you is it") == ["That was a hard week for you is it"]


def test_short_fragments_join_the_unit_after_them_or_the_one_before_when_last() -> None:
    assert texts("Okay. So what brings you here today?") == ["Okay. So what brings you here today?"]
    assert texts("I think I would like to cut down. Yeah.") == [
        "I think I would like to cut down. Yeah."
    ]
    assert texts("Mm-hmm. Yeah.") == ["Mm-hmm. Yeah."]


def test_abbreviations_initials_and_lower_case_continuations_do_not_end_a_sentence() -> None:
    assert texts("I saw Dr. Patel about it and J. Smith too. It was fine by me.") == [
        "I saw Dr. Patel about it and J. Smith too.",
        "It was fine by me.",
    ]
    assert texts("We tried e.g. walking every day. and then it stopped working") == [
        "We tried e.g. walking every day. and then it stopped working"
    ]


def test_a_question_mark_ends_a_unit_even_before_a_lower_case_word() -> None:
    assert texts("is that something you want? so let us talk about it more") == [
        "is that something you want?",
        "so let us talk about it more",
    ]


def test_a_semicolon_ends_a_unit() -> None:
    assert texts("That is a lot to carry; you have done well to get this far.") == [
        "That is a lot to carry;",
        "you have done well to get this far.",
    ]


def test_offsets_point_into_the_turn_and_cover_all_its_words() -> None:
    turn = "  Right.  You want to stop drinking.   What would help you most?  "
    segments = split_turn(turn)
    assert [turn[s.start : s.end] for s in segments] == [s.text for s in segments]
    assert " ".join(s.text for s in segments).split() == turn.split()


def test_splitting_is_deterministic_and_handles_empty_text() -> None:
    turn = "You said work is stressful. What helps when it gets like that?"
    assert split_turn(turn) == split_turn(turn)
    assert texts("") == [""]
    assert len(split_turn("Hm")) == 1


# ----------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class P:
    label: str
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)


def dist(**probs: float) -> P:
    label = max(probs, key=lambda k: probs[k])
    return P(label, probs[label], probs)


def test_one_segment_keeps_the_turns_own_code() -> None:
    turn = dist(reflection_simple=0.6, question_open=0.4)
    code = aggregate(turn, [turn], [1.0])
    assert (code.label, code.confidence, code.primary) == ("reflection_simple", 0.6, 0)


def test_the_turn_code_is_the_mean_of_the_turn_and_its_word_weighted_segments() -> None:
    turn = dist(reflection_complex=0.5, question_open=0.5)
    segs = [
        dist(reflection_complex=0.9, question_open=0.1),
        dist(reflection_complex=0.2, question_open=0.8),
    ]
    # Three quarters of the words are in the reflection: it wins the blend.
    code = aggregate(turn, segs, [0.75, 0.25])
    assert code.label == "reflection_complex"
    assert code.probabilities["reflection_complex"] == pytest.approx(
        0.5 * 0.5 + 0.5 * (0.675 + 0.05)
    )
    assert code.primary == 0
    # With the words the other way round the question wins and its segment is primary.
    code = aggregate(turn, segs, [0.25, 0.75])
    assert (code.label, code.primary) == ("question_open", 1)


def test_a_confident_whole_turn_decides_between_its_segments_codes() -> None:
    turn = dist(change=0.9, neutral=0.05, sustain=0.05)
    segs = [
        dist(change=0.55, neutral=0.45, sustain=0.0),
        dist(change=0.4, neutral=0.6, sustain=0.0),
    ]
    code = aggregate(turn, segs, [0.5, 0.5])
    assert code.label == "change"
    assert code.primary == 0  # the segment coded change talk


def test_a_confident_whole_turn_outweighs_segments_that_disagree() -> None:
    turn = dist(change=0.9, neutral=0.05, sustain=0.05)
    segs = [
        dist(change=0.3, neutral=0.6, sustain=0.1),
        dist(change=0.4, neutral=0.5, sustain=0.1),
    ]
    code = aggregate(turn, segs, [0.5, 0.5])
    assert code.label == "change"
    assert code.confidence == pytest.approx(0.45 + 0.5 * 0.35)
    assert code.primary == 1  # the segment most probable for change talk


def test_segment_weights_are_word_shares() -> None:
    weights = segment_weights(
        split_turn("You feel stuck at work. What would you change first, honestly?")
    )
    assert weights == pytest.approx([5 / 11, 6 / 11])


def test_aggregate_refuses_mismatched_weights() -> None:
    with pytest.raises(ValueError, match="one weight per segment"):
        aggregate(dist(other=1.0), [dist(other=1.0)], [])


def test_the_priority_rule_kept_for_comparison_prefers_questions() -> None:
    codes = [dist(reflection_simple=0.9, question_open=0.1), dist(question_closed=0.6, other=0.4)]
    assert therapist_priority_primary(codes) == 1
