"""MITI 4.2.1 code heads: sentence splitting, the heads file, turn coding, the bundled heads
on sentences of our own, and their place in the pipeline and the summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from alliance.analysis.labels import MITI_CODES
from alliance.analysis.miti import (
    HEADS_FILE,
    MitiCoder,
    MitiHeads,
    load_miti_coder,
    split_sentences,
)
from alliance.analysis.pipeline import analyze_transcript
from alliance.analysis.schema import MitiCodes, MitiHitOut, UtteranceCodes, UtteranceOut
from alliance.analysis.summary import miti_code_summary
from alliance.transcripts import parse_transcript

MODELS = Path(__file__).resolve().parents[2] / "src" / "alliance" / "analysis" / "models"


def test_a_turn_splits_into_its_sentences() -> None:
    assert split_sentences("Well done! Can I ask you something? Dr. Lee said so.") == [
        "Well done!",
        "Can I ask you something?",
        "Dr. Lee said so.",
    ]
    assert split_sentences("no punctuation at all from speech to text") == [
        "no punctuation at all from speech to text"
    ]
    assert split_sentences("   ") == []


def _toy_heads(threshold: float = 0.5) -> MitiHeads:
    """Two-dimensional toy heads: affirm reads feature 0, confront feature 1."""
    k = len(MITI_CODES)
    weights = np.zeros((k, 2))
    weights[MITI_CODES.index("affirm"), 0] = 10.0
    weights[MITI_CODES.index("confront"), 1] = 10.0
    return MitiHeads(
        codes=MITI_CODES,
        weights=weights,
        bias=np.full(k, -5.0),
        mean=np.zeros(2),
        scale=np.ones(2),
        thresholds=np.full(k, threshold),
    )


def _toy_embed(texts: Sequence[str]) -> np.ndarray:
    return np.array([[float("great" in t), float("wrong" in t)] for t in texts])


def test_a_turn_gets_a_code_from_its_best_sentence_with_that_sentence_as_evidence() -> None:
    coder = MitiCoder(heads=_toy_heads(), embed=_toy_embed)
    turns = coder.code_turns(["You went for a walk. That was great work.", "Okay.", ""])
    assert [h.code for h in turns[0].hits] == ["affirm"]
    assert turns[0].hits[0].sentence == "That was great work."
    assert turns[0].probabilities["affirm"] > 0.99
    assert turns[1].hits == ()
    assert turns[1].probabilities["affirm"] < 0.01
    assert turns[2].hits == ()
    assert set(turns[2].probabilities) == set(MITI_CODES)


def test_the_threshold_of_each_head_decides() -> None:
    strict = MitiCoder(heads=_toy_heads(threshold=0.999999), embed=_toy_embed)
    assert strict.code_turns(["That was great."])[0].hits == ()


def test_heads_survive_a_save_and_load_and_refuse_mismatched_shapes(tmp_path: Path) -> None:
    heads = _toy_heads()
    heads.save(tmp_path / "h.npz")
    again = MitiHeads.load(tmp_path / "h.npz")
    assert again.codes == MITI_CODES
    np.testing.assert_array_equal(again.weights, heads.weights)
    broken = MitiHeads(
        codes=heads.codes,
        weights=heads.weights,
        bias=heads.bias[:2],
        mean=heads.mean,
        scale=heads.scale,
        thresholds=heads.thresholds,
    )
    with pytest.raises(ValueError, match="disagree"):
        broken.check()


def test_without_the_heads_file_no_miti_coder_is_loaded(tmp_path: Path) -> None:
    assert load_miti_coder(tmp_path) is None


def test_the_bundled_heads_load_with_numpy_only() -> None:
    heads = MitiHeads.load(MODELS / HEADS_FILE)
    assert heads.codes == MITI_CODES
    assert heads.mean.shape == (384,)  # the sentence embedding
    assert heads.weights.shape == (len(MITI_CODES), 384 + heads.buckets)
    assert np.all((heads.thresholds > 0) & (heads.thresholds < 1))


# Our own sentences, written for this test; in neither the training nor the evaluation set.
BEHAVIOUR = [
    ("It took a lot of guts to walk in here today, and I respect that.", "affirm"),
    ("Would it be alright if we looked at your drinking diary together?", "seek_collaboration"),
    ("Whether you go back to the meetings is entirely your decision.", "emphasise_autonomy"),
    ("You need to stop drinking completely, starting tonight.", "persuade"),
    ("Stop lying to me, you were clearly drunk again.", "confront"),
]
NEUTRAL = ["So the cravings are worst in the evening.", "How many days did you drink last week?"]


@pytest.fixture(scope="module")
def bundled() -> MitiCoder:
    coder = load_miti_coder()
    assert coder is not None
    return coder


@pytest.mark.parametrize(("text", "code"), BEHAVIOUR)
def test_the_bundled_heads_code_clear_examples(bundled: MitiCoder, text: str, code: str) -> None:
    (turn,) = bundled.code_turns([text])
    assert code in {h.code for h in turn.hits}, turn.probabilities


def test_plain_reflections_and_questions_get_no_miti_code(bundled: MitiCoder) -> None:
    for turn in bundled.code_turns(NEUTRAL):
        assert turn.hits == (), turn.probabilities


def test_the_pipeline_puts_miti_codes_on_therapist_turns_only() -> None:
    transcript = parse_transcript(
        b"Therapist: Hello. That was great of you to come.\n"
        b"Client: You are wrong about me.\n"
        b"Therapist: I was wrong there, sorry.\n",
        filename="t.txt",
    )
    coder = MitiCoder(heads=_toy_heads(), embed=_toy_embed)
    result = analyze_transcript(transcript, coder=None, miti=coder)
    first, client, second = result.utterances
    assert client.role == "client"
    assert client.codes.miti is None
    assert [h.code for h in first.codes.miti.codes] == ["affirm"]  # type: ignore[union-attr]
    assert [h.code for h in second.codes.miti.codes] == ["confront"]  # type: ignore[union-attr]
    assert result.models.miti is True
    codes = result.summary.miti.codes
    assert codes is not None
    assert codes.mi_adherent.value == 1
    assert codes.mi_adherent.evidence == [first.id]
    assert codes.mi_non_adherent.value == 1
    assert codes.mi_non_adherent.evidence == [second.id]


def _turn(i: int, codes: Sequence[str] | None, role: str = "therapist") -> UtteranceOut:
    miti = (
        MitiCodes(
            codes=[MitiHitOut(code=c, probability=0.9, sentence="s") for c in codes],
            probabilities=dict.fromkeys(codes, 0.9),
        )
        if codes is not None
        else None
    )
    return UtteranceOut(
        id=f"u{i}",
        index=i - 1,
        speaker="T",
        role=role,  # type: ignore[arg-type]
        text="t",
        start=None,
        end=None,
        words=1,
        codes=UtteranceCodes(miti=miti),
    )


def test_the_summary_counts_mi_adherent_and_non_adherent_turns_as_miti_defines_them() -> None:
    turns = [
        _turn(1, ["affirm", "seek_collaboration"]),
        _turn(2, ["emphasise_autonomy"]),
        _turn(3, ["persuade"]),
        _turn(4, ["persuade_with_permission"]),
        _turn(5, ["confront"]),
        _turn(6, []),
    ]
    summary = miti_code_summary(turns)
    assert summary is not None
    counts = {c.label: c.count for c in summary.counts}
    assert counts == {
        "affirm": 1,
        "seek_collaboration": 1,
        "emphasise_autonomy": 1,
        "persuade": 1,
        "persuade_with_permission": 1,
        "confront": 1,
    }
    # affirm + seek collaboration + emphasise autonomy; persuade with permission is in neither
    assert summary.mi_adherent.value == 3
    assert summary.mi_adherent.evidence == ["u1", "u2"]
    assert summary.mi_non_adherent.value == 2
    assert summary.mi_non_adherent.evidence == ["u3", "u5"]
    assert summary.percent_mi_adherent.value == 60.0
    assert summary.mi_adherent.denominator == 6


def test_without_miti_codes_there_is_no_miti_code_summary() -> None:
    assert miti_code_summary([_turn(1, None), _turn(2, None)]) is None
    empty = miti_code_summary([_turn(1, [])])
    assert empty is not None
    assert empty.percent_mi_adherent.rating == "no data"


def test_the_reports_show_the_miti_codes_and_totals() -> None:
    from alliance.analysis.report import render_html, render_text

    transcript = parse_transcript(
        b"Therapist: That was great of you.\nClient: Thanks.\nTherapist: That is wrong.\n",
        filename="t.txt",
    )
    result = analyze_transcript(
        transcript, coder=None, miti=MitiCoder(heads=_toy_heads(), embed=_toy_embed)
    )
    text = render_text(result)
    assert "MITI 4.2.1 codes: affirm 1, confront 1" in text
    assert "MI-adherent behaviours: 1" in text
    html = render_html(result, charts=False)
    assert "MI-non-adherent behaviours" in html
    assert 'title="That was great of you."' in html
