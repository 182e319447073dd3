"""Test doubles for the trained models: deterministic keyword coders (tests only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


@dataclass(frozen=True)
class FakePrediction:
    label: str
    confidence: float
    probabilities: Mapping[str, float]


@dataclass(frozen=True)
class FakeEmpathy:
    emotional_reactions: int
    interpretations: int
    explorations: int
    confidences: Mapping[str, float]


def _therapist_label(text: str) -> str:
    lowered = text.lower()
    if lowered.rstrip().endswith("?"):
        return (
            "question_open" if lowered.startswith(("what", "how", "where")) else "question_closed"
        )
    if lowered.startswith(("so ", "it sounds", "you ")):
        return "reflection_complex" if len(text.split()) > 10 else "reflection_simple"
    if "should" in lowered or "try" in lowered:
        return "input_advice"
    return "other"


def _client_label(text: str) -> str:
    lowered = text.lower()
    if "want" in lowered or "could" in lowered:
        return "change"
    if "can't" in lowered or "won't" in lowered or "not" in lowered:
        return "sustain"
    return "neutral"


@dataclass
class KeywordCoder:
    """Labels by surface cues; records what it was asked so tests can check the contexts."""

    calls: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    def therapist_behaviour(
        self, texts: Sequence[str], contexts: Sequence[str]
    ) -> list[FakePrediction]:
        self.calls.append(("therapist", list(texts), list(contexts)))
        return [FakePrediction(_therapist_label(t), 0.8, {_therapist_label(t): 0.8}) for t in texts]

    def client_talk(self, texts: Sequence[str], contexts: Sequence[str]) -> list[FakePrediction]:
        self.calls.append(("client", list(texts), list(contexts)))
        return [FakePrediction(_client_label(t), 0.7, {_client_label(t): 0.7}) for t in texts]


@dataclass
class KeywordEmpathy:
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def score(
        self, seeker_texts: Sequence[str], response_texts: Sequence[str]
    ) -> list[FakeEmpathy]:
        self.pairs.extend(zip(seeker_texts, response_texts, strict=True))
        return [
            FakeEmpathy(
                emotional_reactions=2 if "sorry" in r.lower() else 0,
                interpretations=1 if r.lower().startswith(("so", "it sounds")) else 0,
                explorations=1 if r.endswith("?") else 0,
                confidences={
                    "emotional_reactions": 0.9,
                    "interpretations": 0.9,
                    "explorations": 0.9,
                },
            )
            for r in response_texts
        ]


@pytest.fixture
def coder() -> KeywordCoder:
    return KeywordCoder()


@pytest.fixture
def empathy() -> KeywordEmpathy:
    return KeywordEmpathy()
