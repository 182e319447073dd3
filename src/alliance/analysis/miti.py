"""MITI 4.2.1 therapist codes that AnnoMI does not have: small heads over sentence embeddings.

AnnoMI codes questions, reflections and input, but MITI 4.2.1's behaviour counts also need
*affirm*, *seek collaboration*, *emphasise autonomy*, *persuade*, *persuade with permission*
and *confront* (Moyers, Manuel & Ernst 2014). Each is a one-vs-rest logistic-regression head
over the sentence embeddings of :mod:`alliance.analysis.embeddings` joined with hashed word
uni- and bigrams of the sentence (the embeddings come from an encoder fine-tuned for
AnnoMI's behaviours, which blurs an affirmation into a reflection; words such as "proud" or
"up to you" carry these codes), trained by
``training/train_miti_heads.py`` on sentences we wrote from the manual's definitions plus
hard negatives from AnnoMI (see docs/model-card.md). The heads ship as one numpy ``.npz``
(weights, bias, feature standardisation, per-head threshold); run time needs numpy only.

A therapist turn is split into sentences (:func:`split_sentences`); each sentence is scored
and the turn gets a code when any sentence passes that code's threshold, with the sentence
that scored highest as its evidence. Codes are independent: a turn may have several or none.

The embedding function is passed in, so this module stays pure and testable without the
encoder: :func:`load_miti_coder` is the one place that wires in the bundled one.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from alliance.analysis.labels import MI_ADHERENT, MI_NON_ADHERENT, MITI_CODES

HEADS_FILE: Final = "miti-heads.npz"

Embedder = Callable[[Sequence[str]], npt.NDArray[np.floating[Any]]]

# Sentence ends: . ! ? (and runs of them) followed by space, unless the dot closes a common
# abbreviation; a turn without punctuation (speech-to-text) stays one sentence.
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "e.g.", "i.e.", "etc.", "vs.")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_MIN_SENTENCE_CHARS = 2
_WORD = re.compile(r"[a-z0-9']+")


def hashed_ngrams(texts: Sequence[str], buckets: int) -> npt.NDArray[np.float64]:
    """Binary word uni- and bigrams hashed (CRC-32, stable across runs and platforms) into
    ``buckets`` columns; no columns when ``buckets`` is 0. Left unnormalised so that one
    word weighs about as much as one standardised embedding dimension."""
    out = np.zeros((len(texts), buckets))
    if buckets <= 0:
        return out
    for i, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        grams = words + [f"{a} {b}" for a, b in pairwise(words)]
        for g in grams:
            out[i, zlib.crc32(g.encode("utf-8")) % buckets] = 1.0
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of one turn, in order (the whole text when it has no boundary)."""
    clean = " ".join(text.split())
    if not clean:
        return []
    parts: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(clean):
        piece = clean[start : m.start()].strip()
        if piece.lower().endswith(_ABBREVIATIONS):
            continue
        if len(piece) >= _MIN_SENTENCE_CHARS:
            parts.append(piece)
            start = m.end()
    tail = clean[start:].strip()
    if tail:
        if parts and len(tail) < _MIN_SENTENCE_CHARS:
            parts[-1] = f"{parts[-1]} {tail}"
        else:
            parts.append(tail)
    return parts


@dataclass(frozen=True)
class MitiHit:
    """One code given to a turn: its probability and the sentence behind it."""

    code: str
    probability: float
    sentence: str


@dataclass(frozen=True)
class MitiTurn:
    """The MITI codes of one turn: the codes given and every code's best probability."""

    hits: tuple[MitiHit, ...]
    probabilities: dict[str, float]


@dataclass(frozen=True)
class MitiHeads:
    """The trained heads: sigmoid of a linear function of [standardised embedding, hashed
    n-grams]; ``buckets`` is the width of the n-gram part (0: embeddings only)."""

    codes: tuple[str, ...]
    weights: npt.NDArray[np.float64]  # (codes, dim + buckets)
    bias: npt.NDArray[np.float64]  # (codes,)
    mean: npt.NDArray[np.float64]  # (dim,)
    scale: npt.NDArray[np.float64]  # (dim,)
    thresholds: npt.NDArray[np.float64]  # (codes,)
    buckets: int = 0

    @classmethod
    def load(cls, path: Path) -> MitiHeads:
        with np.load(path, allow_pickle=False) as data:
            heads = cls(
                codes=tuple(str(c) for c in data["codes"]),
                weights=np.asarray(data["weights"], dtype=np.float64),
                bias=np.asarray(data["bias"], dtype=np.float64),
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                thresholds=np.asarray(data["thresholds"], dtype=np.float64),
                buckets=int(data["buckets"]) if "buckets" in data else 0,
            )
        heads.check()
        return heads

    def check(self) -> None:
        k, width = self.weights.shape
        dim = width - self.buckets
        if len(self.codes) != k or self.bias.shape != (k,) or self.thresholds.shape != (k,):
            raise ValueError("MITI heads: codes, weights, bias and thresholds disagree in size")
        if dim <= 0 or self.mean.shape != (dim,) or self.scale.shape != (dim,):
            raise ValueError("MITI heads: the standardisation does not match the weights")
        unknown = set(self.codes) - set(MITI_CODES)
        if unknown:
            raise ValueError(f"MITI heads: unknown codes {sorted(unknown)}")

    def save(self, path: Path) -> None:
        np.savez(
            path,
            codes=np.array(self.codes, dtype=np.str_),
            weights=self.weights,
            bias=self.bias,
            mean=self.mean,
            scale=self.scale,
            thresholds=self.thresholds,
            buckets=np.array(self.buckets),
        )

    def features(
        self, x: npt.NDArray[np.floating[Any]], texts: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        """The heads' input: standardised embeddings ``x`` (rows, dim) and the texts' n-grams."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        return np.hstack([z, hashed_ngrams(texts, self.buckets)])

    def probabilities(
        self, x: npt.NDArray[np.floating[Any]], texts: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        """Per-row, per-code probability for embeddings ``x`` of ``texts``."""
        logits = self.features(x, texts) @ self.weights.T + self.bias
        result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))
        return result


@dataclass(frozen=True)
class MitiCoder:
    """Heads plus the embedding function: codes whole turns via their sentences."""

    heads: MitiHeads
    embed: Embedder

    def sentence_probabilities(self, sentences: Sequence[str]) -> npt.NDArray[np.float64]:
        if not sentences:
            return np.zeros((0, len(self.heads.codes)))
        return self.heads.probabilities(self.embed(list(sentences)), sentences)

    def code_turns(self, texts: Sequence[str]) -> list[MitiTurn]:
        """MITI codes of each turn (one batch of sentences for all turns)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a string")
        split = [split_sentences(t) for t in texts]
        flat = [s for sentences in split for s in sentences]
        probs = self.sentence_probabilities(flat)
        out: list[MitiTurn] = []
        row = 0
        for sentences in split:
            block = probs[row : row + len(sentences)]
            row += len(sentences)
            best: dict[str, float] = {}
            hits: list[MitiHit] = []
            for k, code in enumerate(self.heads.codes):
                if not len(block):
                    best[code] = 0.0
                    continue
                i = int(block[:, k].argmax())
                p = float(block[i, k])
                best[code] = p
                if p >= self.heads.thresholds[k]:
                    hits.append(MitiHit(code=code, probability=p, sentence=sentences[i]))
            out.append(MitiTurn(hits=tuple(hits), probabilities=best))
        return out


__all__ = [
    "HEADS_FILE",
    "MITI_CODES",
    "MI_ADHERENT",
    "MI_NON_ADHERENT",
    "MitiCoder",
    "MitiHeads",
    "MitiHit",
    "MitiTurn",
    "hashed_ngrams",
    "load_miti_coder",
    "miti_heads_installed",
    "split_sentences",
]


def miti_heads_installed(models_dir: Path | None = None) -> bool:
    from alliance.analysis.classifiers import default_models_dir

    return ((models_dir or default_models_dir()) / HEADS_FILE).is_file()


def load_miti_coder(models_dir: Path | None = None) -> MitiCoder | None:
    """The bundled heads with the bundled sentence encoder; None when the heads are absent."""
    from alliance.analysis.classifiers import default_models_dir
    from alliance.analysis.embeddings import sentence_embeddings

    path = (models_dir or default_models_dir()) / HEADS_FILE
    if not path.is_file():
        return None
    return MitiCoder(heads=MitiHeads.load(path), embed=sentence_embeddings)
