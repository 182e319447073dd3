"""Model-based rupture markers: the shipped classifier, beside (never instead of) the rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from alliance.analysis.markers import MarkerInput, detect
from alliance.analysis.pipeline import analyze_transcript
from alliance.analysis.report import render_html, render_text
from alliance.analysis.ruptures import MODEL_RULE, SUBTYPES, load_rupture_model
from alliance.analysis.schema import AnalysisResult
from alliance.transcripts import parse_transcript

EVAL_SET = Path(__file__).resolve().parents[1] / "data" / "ruptures" / "eval.jsonl"
TWO_TURNS = (
    "WEBVTT\n\n00:00.000 --> 00:03.000\n<v Therapist>How has it been?\n\n"
    "00:03.500 --> 00:06.000\n<v Client>{}\n"
)
EVAL_SHA256 = "420282f13dbe23f182ae61e9b8e71fde810f592eb5d617ba7681527453af252b"


@pytest.fixture(scope="module")
def model():
    loaded = load_rupture_model()
    assert loaded is not None, "models/rupture-lr.npz is missing"
    return loaded


def client(text: str, previous: str = "How have things been since last time?") -> MarkerInput:
    return MarkerInput(text=text, role="client", previous_text=previous, previous_role="therapist")


def test_the_frozen_evaluation_set_is_unchanged() -> None:
    assert hashlib.sha256(EVAL_SET.read_bytes()).hexdigest() == EVAL_SHA256


def test_the_weights_load_with_numpy_and_cover_every_3rs_subtype(model) -> None:
    assert model.classes == ("none", *SUBTYPES)
    assert len(SUBTYPES) == 14
    assert model.coef.shape == (384, 15)
    assert 0.5 <= model.threshold < 1


@pytest.mark.parametrize(
    "text",
    [
        # The two confrontation turns of the held-out session that every rule missed.
        "You're not hearing me. I'm paying for this every week and I keep saying the same thing.",
        "I don't see how this is helping. I come here, we talk, and nothing changes.",
    ],
)
def test_the_classifier_flags_the_confrontations_the_rules_missed(model, text: str) -> None:
    hits = model.detect([client(text)])[0]
    assert [h.marker.split("_")[0] for h in hits] == ["confrontation"]
    assert hits[0].source == "model"
    assert hits[0].rule == MODEL_RULE
    assert hits[0].confidence >= model.threshold


@pytest.mark.parametrize(
    "text",
    [
        "We went to the coast on Saturday and the kids loved it.",
        "I think I could cut down to two drinks on weeknights.",
        "My brother never listens to me, it's so frustrating.",
    ],
)
def test_ordinary_client_talk_gets_no_model_hit(model, text: str) -> None:
    assert model.detect([client(text)]) == [[]]


def test_therapist_turns_are_not_scored(model) -> None:
    item = MarkerInput(text="You're not listening to me.", role="therapist")
    assert model.detect([item, client("")]) == [[], []]


def test_the_rules_still_fire_and_say_they_are_rules() -> None:
    hits = detect(client("This isn't working, we're going round in circles."))
    assert [(h.marker, h.source) for h in hits] == [("confrontation_progress", "rule")]


def test_the_pipeline_adds_model_hits_beside_rule_hits_and_reports_them(model) -> None:
    vtt = (
        "WEBVTT\n\n00:00.000 --> 00:03.000\n<v Therapist>How has the week been?\n\n"
        "00:03.500 --> 00:09.000\n<v Client>You're not hearing me. I'm paying for this every "
        "week and I keep saying the same thing.\n\n"
        "00:09.500 --> 00:12.000\n<v Therapist>Tell me more.\n\n"
        "00:12.500 --> 00:15.000\n<v Client>This isn't working.\n"
    )
    transcript = parse_transcript(vtt.encode(), filename="s.vtt")
    result = analyze_transcript(transcript, coder=None, ruptures=model)
    assert result.models.rupture_model is True
    first, second = result.utterances[1], result.utterances[3]
    assert {m.source for m in first.codes.markers} == {"model"}
    assert "rule" in {m.source for m in second.codes.markers}
    sources = {(r.utterance_id, r.source) for r in result.summary.markers.ruptures}
    assert (first.id, "model") in sources
    # Two hits on one turn (rule and model) still count as one confrontation turn.
    assert result.summary.markers.confrontation == 2
    assert "model-based classifier, p=" in render_text(result)
    assert "model-based classifier, p=" in render_html(result)
    again = AnalysisResult.model_validate_json(result.model_dump_json())
    assert again == result


def test_without_the_model_only_rules_run() -> None:
    vtt = TWO_TURNS.format("This isn't working.")
    result = analyze_transcript(parse_transcript(vtt.encode(), filename="s.vtt"), coder=None)
    assert result.models.rupture_model is False
    assert [m.source for u in result.utterances for m in u.codes.markers] == ["rule"]


def test_a_result_stored_under_schema_1_0_still_validates(model) -> None:
    vtt = TWO_TURNS.format("This isn't working.")
    data = json.loads(
        analyze_transcript(
            parse_transcript(vtt.encode(), filename="s.vtt"), coder=None
        ).model_dump_json()
    )
    data["schema_version"] = "1.0"
    del data["models"]["rupture_model"]
    for u in data["utterances"]:
        for m in u["codes"]["markers"]:
            del m["source"]
    for r in data["summary"]["markers"]["ruptures"]:
        del r["source"]
    old = AnalysisResult.model_validate(data)
    assert old.utterances[1].codes.markers[0].source == "rule"
