"""The pipeline end to end with test doubles for the trained models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alliance.analysis.pipeline import Analyzer, analyze_transcript, seekers_for
from alliance.analysis.schema import SCHEMA_VERSION, AnalysisResult
from alliance.transcripts import parse_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


def load(name: str):
    return parse_transcript((DATA / name).read_bytes(), filename=name)


def test_every_utterance_is_coded_by_the_coder_for_its_role(coder) -> None:
    t = load("session.srt")
    result = analyze_transcript(t, coder=coder, backend="fast")
    for u in result.utterances:
        if u.role == "therapist":
            assert u.codes.therapist_behaviour is not None
            assert u.codes.client_talk is None
            assert u.codes.main_behaviour == u.codes.therapist_behaviour.label.split("_")[0] or (
                u.codes.main_behaviour == "other"
            )
        else:
            assert u.codes.client_talk is not None
            assert u.codes.therapist_behaviour is None
    roles = [c[0] for c in coder.calls]
    assert sorted(roles) == ["client", "therapist"]


def test_contexts_are_the_preceding_turns(coder) -> None:
    t = load("session.srt")
    analyze_transcript(t, coder=coder)
    _, texts, contexts = next(c for c in coder.calls if c[0] == "client")
    assert texts[0].startswith("The drinking")
    assert "welcome back, lena" in contexts[0].lower()
    assert contexts[0].startswith("therapist:")


def test_empathy_pairs_each_response_with_the_client_turns_before_it(coder, empathy) -> None:
    t = load("couple_session.txt")
    result = analyze_transcript(t, coder=coder, empathy=empathy)
    fourth = result.utterances[3]
    assert fourth.role == "therapist"
    assert fourth.codes.empathy is not None
    assert fourth.codes.empathy.seeker_ids == ["u2", "u3"]
    assert empathy.pairs[0][0].startswith("I will. We've been arguing")
    # the opening turn answers nobody, so it has no empathy score
    assert result.utterances[0].codes.empathy is None
    assert result.summary.empathy is not None
    assert result.summary.empathy.responses == len(seekers_for(t))


def test_without_the_empathy_model_the_rest_still_works(coder) -> None:
    result = analyze_transcript(load("zoom_session.vtt"), coder=coder)
    assert result.summary.empathy is None
    assert result.models.empathy is False
    assert result.summary.miti.reflection_to_question.value is not None


def test_without_a_coder_the_transparent_parts_remain() -> None:
    result = Analyzer(coder=None).analyze(load("teams_session.vtt"))
    assert result.models.backend is None
    assert result.summary.miti.reflection_to_question.rating == "no data"
    assert result.summary.relationship_style.style == "undetermined"
    assert result.summary.markers.ruptures
    assert result.summary.talk.therapist_word_share.value is not None


def test_every_evidence_id_points_at_a_real_utterance(coder, empathy) -> None:
    result = analyze_transcript(load("teams_session.vtt"), coder=coder, empathy=empathy)
    ids = {u.id for u in result.utterances}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("evidence", "seeker_ids") and isinstance(value, list):
                    assert set(value) <= ids, key
                elif key == "evidence" and isinstance(value, dict):
                    for v in value.values():
                        assert set(v) <= ids
                elif key in ("utterance_id", "previous_id", "longest_id"):
                    assert value in ids
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(result.model_dump())


def test_the_json_round_trips_through_the_schema(coder) -> None:
    result = analyze_transcript(load("session.json"), coder=coder)
    text = result.model_dump_json()
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION
    assert AnalysisResult.model_validate_json(text) == result


TINY = (
    b"Therapist: Thanks for coming in. What brings you here today?\n"
    b"Client: I want to drink less. But I can't see how.\n"
    b"Therapist: You want to cut down, and you are not sure how. What have you tried?\n"
    b"Client: Nothing yet.\n"
)


def test_with_segments_each_turn_keeps_its_units_and_their_codes(coder) -> None:
    t = parse_transcript(TINY, filename="tiny.txt")
    result = analyze_transcript(t, coder=coder, units="segments")
    assert result.models.units == "segments"
    reflect = result.utterances[2]
    assert reflect.codes.segments is not None
    assert [s.text for s in reflect.codes.segments] == [
        "You want to cut down, and you are not sure how.",
        "What have you tried?",
    ]
    assert [s.main_behaviour for s in reflect.codes.segments] == ["reflection", "question"]
    assert [s.text for s in reflect.codes.segments] == [
        reflect.text[s.start : s.end] for s in reflect.codes.segments
    ]
    # One segment per turn is the primary one: the most probable for the turn's label.
    for u in result.utterances:
        assert u.codes.segments is not None
        assert [s.primary for s in u.codes.segments].count(True) == 1
        turn_code = u.codes.therapist_behaviour or u.codes.client_talk
        assert turn_code is not None
        seg_codes = [s.therapist_behaviour or s.client_talk for s in u.codes.segments]
        chance = [c.probabilities.get(turn_code.label, 0.0) for c in seg_codes if c is not None]
        assert chance.index(max(chance)) == [s.primary for s in u.codes.segments].index(True)
    # The keyword coder reads the whole turn as a closed question, and the blend keeps it
    # although no segment alone is one; the reflection is primary (the first of the tie).
    assert reflect.codes.therapist_behaviour is not None
    assert reflect.codes.therapist_behaviour.label == "question_closed"
    assert reflect.codes.segments[0].primary
    # The client turn's two sentences: change talk, then sustain talk.
    client = result.utterances[1]
    assert [s.client_talk.label for s in client.codes.segments or [] if s.client_talk] == [
        "change",
        "sustain",
    ]
    # A turn of one segment ("Nothing yet.") is coded once, as a whole.
    assert [s.text for s in result.utterances[3].codes.segments or []] == ["Nothing yet."]


def test_segments_are_coded_with_their_turns_context_and_whole_turns_once_more(coder) -> None:
    t = parse_transcript(TINY, filename="tiny.txt")
    analyze_transcript(t, coder=coder, units="segments")
    _, texts, contexts = next(c for c in coder.calls if c[0] == "therapist")
    turn = "You want to cut down, and you are not sure how. What have you tried?"
    # The whole turn first (all turns), then the segments of the turns that split.
    assert texts.count(turn) == 1
    assert texts[-2:] == ["You want to cut down, and you are not sure how.", "What have you tried?"]
    assert contexts[-1] == contexts[-2] == contexts[texts.index(turn)]
    assert contexts[-1].startswith("therapist: Thanks for coming in.")


def test_whole_turns_are_the_default_and_carry_no_segments(coder) -> None:
    t = parse_transcript(TINY, filename="tiny.txt")
    result = Analyzer(coder=coder).analyze(t)
    assert result.models.units == "turns"
    assert all(u.codes.segments is None for u in result.utterances)
    with pytest.raises(ValueError, match="unknown units"):
        analyze_transcript(t, coder=coder, units="sentences")  # type: ignore[arg-type]


def test_a_stored_1_0_result_still_reads(coder) -> None:
    data = analyze_transcript(load("session.json"), coder=coder).model_dump(mode="json")
    data["schema_version"] = "1.0"
    del data["models"]["units"]
    for u in data["utterances"]:
        del u["codes"]["segments"]
    old = AnalysisResult.model_validate(data)
    assert old.models.units == "turns"
    assert old.utterances[0].codes.segments is None
