"""Session summary: MITI indicators with thresholds and evidence, and the style rule."""

from __future__ import annotations

import pytest

from alliance.analysis.schema import Code, MarkerCode, UtteranceCodes, UtteranceOut
from alliance.analysis.summary import (
    client_talk_summary,
    marker_summary,
    miti_summary,
    rate,
    relationship_style,
)


def utterance(
    i: int,
    role: str,
    behaviour: str | None = None,
    talk: str | None = None,
    markers: tuple[str, ...] = (),
) -> UtteranceOut:
    codes = UtteranceCodes(
        therapist_behaviour=Code(label=behaviour, confidence=0.9, probabilities={})
        if behaviour
        else None,
        main_behaviour=behaviour.split("_")[0]
        if behaviour and behaviour != "other"
        else ("other" if behaviour else None),  # type: ignore[arg-type]
        client_talk=Code(label=talk, confidence=0.9, probabilities={}) if talk else None,
        markers=[
            MarkerCode(
                marker=m,
                category="withdrawal" if m.startswith("withdrawal") else "relationship",
                rule="r",
                confidence=0.8,
                evidence="x",
            )
            for m in markers
        ],
    )
    return UtteranceOut(
        id=f"u{i}",
        index=i - 1,
        speaker="T" if role == "therapist" else "C",
        role=role,
        text="text",
        start=None,
        end=None,
        words=1,
        codes=codes,
    )  # type: ignore[arg-type]


def therapist_session(labels: list[str]) -> list[UtteranceOut]:
    return [utterance(i, "therapist", label) for i, label in enumerate(labels, start=1)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "no data"), (0.5, "below fair"), (1.0, "fair"), (1.99, "fair"), (2.0, "good")],
)
def test_rate_uses_fair_and_good_thresholds(value: float | None, expected: str) -> None:
    assert rate(value, 1.0, 2.0) == expected


def test_reflection_to_question_ratio_is_rated_against_miti_4_2_1() -> None:
    labels = (
        ["reflection_simple"] * 3
        + ["reflection_complex"] * 3
        + ["question_open"] * 2
        + ["question_closed"]
    )
    miti = miti_summary(therapist_session(labels))
    rq = miti.reflection_to_question
    assert rq.value == pytest.approx(6 / 3)
    assert rq.rating == "good"
    assert (rq.fair, rq.good) == (1.0, 2.0)
    assert "4.2.1" in rq.source
    assert sorted(rq.evidence) == sorted(f"u{i}" for i in range(1, 10))


def test_percent_complex_reflections_and_open_questions() -> None:
    labels = (
        ["reflection_simple"] * 3
        + ["reflection_complex"] * 2
        + ["question_open"] * 3
        + ["question_closed"] * 2
    )
    miti = miti_summary(therapist_session(labels))
    assert miti.percent_complex_reflections.value == pytest.approx(40.0)
    assert miti.percent_complex_reflections.rating == "fair"
    assert miti.percent_complex_reflections.evidence == ["u4", "u5"]
    assert miti.percent_open_questions.value == pytest.approx(60.0)
    assert miti.percent_open_questions.rating == "fair"
    assert "3.1.1" in miti.percent_open_questions.source


def test_no_questions_means_no_ratio_rather_than_infinity() -> None:
    miti = miti_summary(therapist_session(["reflection_simple", "other"]))
    assert miti.reflection_to_question.value is None
    assert miti.reflection_to_question.rating == "no data"


def test_change_talk_ratio_ignores_neutral_talk() -> None:
    talk = ["change", "change", "sustain", "neutral", "neutral", "change"]
    summary = client_talk_summary([utterance(i, "client", talk=t) for i, t in enumerate(talk, 1)])
    ratio = summary.change_talk_ratio
    assert ratio.value == pytest.approx(3 / 4)
    assert ratio.evidence == ["u1", "u2", "u6", "u3"]


def test_ruptures_are_listed_with_their_utterances() -> None:
    rows = [
        utterance(1, "therapist", "question_open"),
        utterance(2, "client", markers=("withdrawal_minimal",)),
    ]
    summary = marker_summary(rows)
    assert summary.withdrawal == 1
    assert [(r.utterance_id, r.marker) for r in summary.ruptures] == [("u2", "withdrawal_minimal")]


def test_style_is_the_share_furthest_above_its_threshold_and_says_why() -> None:
    directive = therapist_session(["input_advice"] * 6 + ["reflection_simple"] * 4)
    style = relationship_style(directive)
    assert style.style == "directive"
    assert "60%" in style.rule
    assert style.evidence["directive"] == [f"u{i}" for i in range(1, 7)]

    collaborative = therapist_session(["question_open"] * 8 + ["input_options"] * 2)
    assert relationship_style(collaborative).style == "collaborative"

    supportive = therapist_session(["reflection_complex"] * 5 + ["question_open"] * 5)
    assert relationship_style(supportive).style == "supportive"

    mixed = therapist_session(["question_open"] * 9 + ["reflection_simple"])
    assert relationship_style(mixed).style == "mixed"


def test_style_is_undetermined_without_coded_therapist_turns() -> None:
    assert relationship_style([utterance(1, "therapist")]).style == "undetermined"
