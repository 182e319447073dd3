"""Text and HTML reports: evidence ids shown, HTML self-contained with inline SVG charts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from alliance.analysis.calibration import LOW_CONFIDENCE_THRESHOLD
from alliance.analysis.pipeline import analyze_transcript
from alliance.analysis.report import low_confidence, render_html, render_text
from alliance.analysis.schema import AnalysisResult
from alliance.transcripts import parse_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


@pytest.fixture
def result(coder, empathy) -> AnalysisResult:
    t = parse_transcript((DATA / "teams_session.vtt").read_bytes(), filename="teams_session.vtt")
    return analyze_transcript(t, coder=coder, empathy=empathy, backend="fast")


def test_text_report_lists_ruptures_with_their_utterance_ids(result: AnalysisResult) -> None:
    text = render_text(result)
    for rupture in result.summary.markers.ruptures:
        assert f"{rupture.utterance_id} {rupture.speaker} [{rupture.marker}" in text
    assert result.summary.relationship_style.rule in text


def test_html_report_is_self_contained(result: AnalysisResult) -> None:
    page = render_html(result)
    assert page.count("<svg") == 3  # talk share, behaviour mix, marker timeline
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "@import" not in page


def test_html_report_links_every_utterance_and_escapes_text(coder) -> None:
    text = 'Therapist: What does "safe" mean to you?\nAsh: Being left alone & quiet, <3 that.\n'
    res = analyze_transcript(parse_transcript(text), coder=coder)
    page = render_html(res, charts=False)
    assert "&quot;safe&quot;" in page
    assert "alone &amp; quiet, &lt;3 that" in page
    assert "<3" not in page
    assert 'id="u1"' in page
    assert 'id="u2"' in page


@dataclass(frozen=True)
class _Prediction:
    label: str
    confidence: float
    probabilities: Mapping[str, float]


class _UnsureCoder:
    """Codes every utterance, unsure (0.42) of those that mention "maybe"."""

    @staticmethod
    def _predict(texts: Sequence[str], label: str) -> list[_Prediction]:
        out = []
        for text in texts:
            p = 0.42 if "maybe" in text.lower() else 0.91
            out.append(_Prediction(label, p, {label: p}))
        return out

    def therapist_behaviour(
        self, texts: Sequence[str], contexts: Sequence[str]
    ) -> list[_Prediction]:
        return self._predict(texts, "question_open")

    def client_talk(self, texts: Sequence[str], contexts: Sequence[str]) -> list[_Prediction]:
        return self._predict(texts, "change")


UNSURE = (
    "Therapist: What brings you here?\n"
    "Ash: Maybe I should just quit.\n"
    "Therapist: Maybe you could say more?\n"
    "Ash: I want things to change.\n"
)


def test_the_reports_mark_low_confidence_codes_in_words_and_count_them() -> None:
    res = analyze_transcript(parse_transcript(UNSURE), coder=_UnsureCoder())
    low = low_confidence(res)
    assert (low.codes, low.ids, low.threshold) == (4, ("u2", "u3"), LOW_CONFIDENCE_THRESHOLD)

    page = render_html(res, charts=False)
    rows = {m[0]: m[1] for m in re.findall(r'<tr id="(u\d)"[^>]*>(.*?)</tr>', page, re.S)}
    assert "(0.42) <span" in rows["u2"]
    assert "low confidence" in rows["u2"]
    assert "low confidence" in rows["u3"]
    assert "low confidence" not in rows["u1"]
    assert "(0.91)" in rows["u1"]
    assert "low confidence" not in rows["u4"]
    assert (
        "2 of 4 behaviour and client-talk codes are low confidence (probability below 0.50)" in page
    )

    text = render_text(res)
    assert "2 of 4 behaviour and client-talk codes are low confidence" in text
    assert "u2, u3" in text


def test_a_session_without_model_codes_reports_no_low_confidence_line() -> None:
    res = analyze_transcript(parse_transcript(UNSURE), coder=None)
    assert low_confidence(res).codes == 0
    assert "low confidence (probability" not in render_html(res, charts=False)
    assert "low confidence" not in render_text(res)


def _segmented(coder) -> AnalysisResult:
    t = parse_transcript(
        b"Therapist: You want to cut down, and you are not sure how. What have you tried?\n"
        b"Client: Nothing yet.\n",
        filename="tiny.txt",
    )
    return analyze_transcript(t, coder=coder, backend="fast", units="segments")


def test_text_report_lists_each_split_turns_segments_with_their_codes(coder) -> None:
    text = render_text(_segmented(coder))
    assert "Segments: 1 of 2 turns coded in more than one segment" in text
    lines = text.splitlines()
    at = lines.index("  u1 Therapist (therapist): question_closed (0.40)")
    assert lines[at + 1] == (
        "    * [reflection_complex 0.80] You want to cut down, and you are not sure how."
    )
    assert lines[at + 2] == "      [question_open 0.80] What have you tried?"


def test_text_report_has_no_segment_section_for_whole_turns(result: AnalysisResult) -> None:
    assert "Segments:" not in render_text(result)


def test_html_report_shows_the_segments_and_marks_the_primary(coder) -> None:
    page = render_html(_segmented(coder), charts=False)
    assert '<ol class="segments">' in page
    assert (
        '<li class="primary" title="gives the turn its code"><b>reflection complex 0.80</b> '
        "You want to cut down, and you are not sure how.</li>"
    ) in page
    assert "<li><b>question open 0.80</b> What have you tried?</li>" in page
    assert "units segments" in page
