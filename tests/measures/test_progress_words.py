"""A client's progress in plain words."""

from __future__ import annotations

from alliance.measures.change import classify_instrument_change
from alliance.measures.progress_words import goal_words, outcome_words
from alliance.measures.registry import InstrumentRegistry

PHQ9 = InstrumentRegistry().get("phq9")


def test_one_score_says_the_chart_will_grow() -> None:
    assert "first answer" in outcome_words(None, scores=1)


def test_words_follow_the_jacobson_truax_status() -> None:
    recovered = classify_instrument_change(PHQ9, 19, 4)
    improved = classify_instrument_change(PHQ9, 24, 14)
    unchanged = classify_instrument_change(PHQ9, 12, 11)
    worse = classify_instrument_change(PHQ9, 8, 20)
    assert (recovered.status, improved.status, unchanged.status, worse.status) == (
        "recovered",
        "improved",
        "unchanged",
        "deteriorated",
    )
    assert "range most people" in outcome_words(recovered, scores=5)
    assert (
        outcome_words(improved, scores=5)
        == "Your answers show a real improvement since you started."
    )
    assert "about where they were" in outcome_words(unchanged, scores=5)
    text = outcome_words(worse, scores=5)
    assert "harder" in text
    assert "next session" in text
    # Words for the client: none of the staff's terms.
    for status in (recovered, improved, unchanged, worse):
        words = outcome_words(status, scores=3).lower()
        assert "rci" not in words
        assert "reliable" not in words
        assert "cut-off" not in words


def test_goal_words() -> None:
    assert goal_words(6, 6, 1) == "You rated this 6 out of 10."
    assert goal_words(3, 7, 4) == "Up from 3 to 7 out of 10 since your first rating."
    assert goal_words(7, 5, 2) == "Down from 7 to 5 out of 10 since your first rating."
    assert goal_words(5, 5, 3) == "Steady at 5 out of 10 since your first rating."
