"""Segment-level coding: a turn split into the units MISC/MITI coders code, and the rule that
folds the segments' codes back into one code for the turn.

MISC and MITI coders do not give a turn one code: they code each *utterance* in the MISC
sense — a complete thought, usually a sentence, sometimes a clause — so a turn that reflects
and then asks gets a reflection and a question. :func:`split_turn` makes those units from a
turn's text with fixed rules (no model, no download; the same text always gives the same
segments):

1. **Sentences.** A turn is cut after ``.``, ``!``, ``?`` or ``…`` (with any closing quotes
   or brackets) when whitespace follows. After ``.`` or ``…`` the next word must not start in
   lower case, and the word before ``.`` must not be a known abbreviation (``Dr.``, ``e.g.``)
   or a single letter (an initial); after ``?`` and ``!`` a lower-case word still starts a
   new unit (``okay? so what…`` in machine transcripts).
2. **Clauses a coder would split.** Inside a sentence, a question that follows a statement
   with no full stop between them — after a comma, a semicolon or nothing at all, as in
   unpunctuated speech-to-text output (``so it sounds like you want to go do you think that
   would help``) — starts a unit of its own. A question opener is an auxiliary followed by a
   pronoun (``do you``, ``is there``, ``would it``) or a wh-word followed by an auxiliary
   (``what do``, ``how is``, ``what's``). It is not a split when the word before it makes the
   question part of the statement (``I wonder what is…``, ``tell me how do…``: see
   ``_EMBEDDING_WORDS``), and a linking word just before it (``so``, ``and``, ``but``,
   ``okay``, ``well``) moves to the new unit. ``;`` also ends a unit.
3. **Short fragments stay attached.** A unit under :data:`MIN_SEGMENT_WORDS` words
   (``Okay.``, ``Mm-hmm.``, ``Right, yeah.``) joins the unit after it (a lead-in belongs to
   what it leads into), or the one before it when it is the last; both sides of a clause
   split need at least :data:`MIN_CLAUSE_WORDS` words.

Aggregation to the turn (:func:`therapist_turn_code`, :func:`client_turn_code`), chosen on
AnnoMI *dev* transcripts (``eval/evaluate.py --segment-rules``; never the test transcripts):

* **therapist** — the turn's codes are the set of its segments' codes. Its one (primary)
  code, the one the turn-level fields and the session summary use, goes by main behaviour
  in the order :data:`THERAPIST_PRIORITY` (reflection, then question, then input, then
  other): the first main behaviour any segment has wins, and among the segments with it the
  most confident one gives the fine label, confidence and probabilities;
* **client** — change or sustain talk in any segment makes the turn change or sustain talk
  when that segment's probability for it is at least :data:`CLIENT_MIN_CONFIDENCE`; when
  segments show both, the more probable one wins; otherwise the turn is neutral, coded by its
  most confident neutral segment.

A turn of one segment keeps the coder's own code for the turn unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from alliance.analysis.labels import fold_behaviour

#: A unit with fewer words joins its neighbour (rule 3).
MIN_SEGMENT_WORDS: Final = 3
#: Each side of a clause split (rule 2) needs at least this many words.
MIN_CLAUSE_WORDS: Final = 4
#: Main behaviours in the order the primary code of a therapist turn is chosen.
THERAPIST_PRIORITY: Final[tuple[str, ...]] = ("reflection", "question", "input", "other")
#: A client segment makes the turn change or sustain talk only this confidently.
CLIENT_MIN_CONFIDENCE: Final = 0.5

_ABBREVIATIONS: Final = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e eg ie approx no vol fig cf a.m p.m am pm".split()
)
# Words after which a question opener is part of the statement, not a new question.
_EMBEDDING_WORDS: Final = frozenset(
    """that that's thats know knew wonder wondering wondered ask asked asking tell told see
    if whether about to of on in for from with is was be been what how why when where which
    who whom sure idea mean remember understand decide decided figure out think thought say
    said like matter explain show learn find notice noticed realize realise care""".split()
)
# Linking words that belong to the question they come before.
_LEADERS: Final = frozenset("so and but okay ok well now then or alright right".split())
_AUX: Final = (
    r"do|does|did|are|is|was|were|have|has|had|can|could|would|will|should|shall|may|might"
)
_PRONOUNS: Final = r"you|we|i|it|that|there|this|they|he|she|anything|anyone|someone|something"
_WH: Final = r"what|how|why|when|where|which|who"
_OPENER_RE: Final = re.compile(
    rf"\b(?:(?:{_AUX})\s+(?:{_PRONOUNS})|(?:{_WH})\s+(?:{_AUX}|would|you'd)|"
    rf"(?:{_WH})['’]s)\b",
    re.IGNORECASE,
)
_SENTENCE_END_RE: Final = re.compile(r"([.!?…]+)[\"'”’)\]]*(?=\s)")
_WORD_RE: Final = re.compile(r"[\w'’-]+")


@dataclass(frozen=True)
class Segment:
    """One coding unit of a turn: its text and where it sits in the turn's text."""

    text: str
    start: int
    end: int


def _words(text: str) -> int:
    return len(_WORD_RE.findall(text))


def _sentence_cuts(text: str) -> list[int]:
    """Offsets where a new sentence starts (rule 1)."""
    cuts: list[int] = []
    for m in _SENTENCE_END_RE.finditer(text):
        after = m.end()
        rest = text[after:].lstrip()
        if not rest:
            continue
        nxt = len(text) - len(rest)
        marks = m.group(1)
        if marks[-1] in ".…":
            if rest[0].islower():
                continue
            if marks == ".":
                before = text[: m.start()].rsplit(None, 1)
                word = before[-1].lower().strip("(\"'") if before else ""
                if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                    continue
        cuts.append(nxt)
    return cuts


def _clause_cuts(text: str, start: int, end: int) -> list[int]:
    """Offsets inside ``text[start:end]`` where a question follows a statement (rule 2)."""
    cuts: list[int] = []
    last = start
    span = text[start:end]
    for m in _OPENER_RE.finditer(span):
        at = start + m.start()
        before = text[last:at]
        words = _WORD_RE.findall(before)
        if not words:
            continue
        previous = words[-1].lower().replace("’", "'")
        cut = at
        if previous in _LEADERS:
            # "..., so what do you" -> the new unit starts at "so".
            lead = before.rstrip()
            cut = last + len(lead) - len(words[-1])
            words = words[:-1]
            previous = words[-1].lower().replace("’", "'") if words else ""
        if not words or previous in _EMBEDDING_WORDS:
            continue
        if len(words) < MIN_CLAUSE_WORDS or _words(text[cut:end]) < MIN_CLAUSE_WORDS:
            continue
        cuts.append(cut)
        last = cut
    for m in re.finditer(r";\s+", span):
        cut = start + m.end()
        if _words(text[last:cut]) >= MIN_CLAUSE_WORDS and _words(text[cut:end]) > 0:
            cuts.append(cut)
    return sorted(set(cuts))


def split_turn(text: str) -> list[Segment]:
    """The coding units of one turn's text, in order (see the module docstring).

    Every character of the turn belongs to exactly one segment (apart from whitespace at the
    joins), so the segments' texts joined by spaces give back the turn's words. Text with no
    words is one segment.
    """
    if not text.strip():
        return [Segment(text=text.strip(), start=0, end=len(text))]
    bounds = [0, *_sentence_cuts(text), len(text)]
    cuts: list[int] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        cuts.append(a)
        cuts.extend(_clause_cuts(text, a, b))
    pieces = [(a, b) for a, b in zip(cuts, [*cuts[1:], len(text)], strict=True) if a < b]
    merged: list[list[int]] = []
    carry: int | None = None
    for a, b in pieces:
        if carry is not None:
            a, carry = carry, None
        if _words(text[a:b]) < MIN_SEGMENT_WORDS:
            carry = a  # a lead-in joins what follows
            continue
        merged.append([a, b])
    if carry is not None:
        if merged:
            merged[-1][1] = len(text)
        else:
            merged.append([carry, len(text)])
    segments = []
    for a, b in merged:
        chunk = text[a:b]
        lead = len(chunk) - len(chunk.lstrip())
        body = chunk.strip()
        segments.append(Segment(text=body, start=a + lead, end=a + lead + len(body)))
    return segments


# --------------------------------------------------------------------------- aggregation


class ScoredLike(Protocol):
    """A coder's prediction for one segment (``classifiers.Prediction`` fits)."""

    @property
    def label(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def probabilities(self) -> Mapping[str, float]: ...


def therapist_primary(codes: Sequence[ScoredLike]) -> int:
    """Index of the segment whose code is the turn's primary code (see the module docstring)."""
    if not codes:
        raise ValueError("a turn has at least one segment")
    rank = {name: i for i, name in enumerate(THERAPIST_PRIORITY)}
    return min(
        range(len(codes)),
        key=lambda i: (rank[fold_behaviour(codes[i].label)], -codes[i].confidence, i),
    )


def client_primary(codes: Sequence[ScoredLike]) -> int:
    """Index of the segment whose code is the client turn's code (see the module docstring)."""
    if not codes:
        raise ValueError("a turn has at least one segment")
    talk = [
        i
        for i, c in enumerate(codes)
        if c.label in ("change", "sustain") and c.confidence >= CLIENT_MIN_CONFIDENCE
    ]
    pool = talk or [i for i, c in enumerate(codes) if c.label == "neutral"] or list(range(len(codes)))
    return max(pool, key=lambda i: (codes[i].confidence, -i))


def therapist_turn_code(codes: Sequence[ScoredLike]) -> ScoredLike:
    """The primary code of a therapist turn from its segments' codes."""
    return codes[therapist_primary(codes)]


def client_turn_code(codes: Sequence[ScoredLike]) -> ScoredLike:
    """The code of a client turn from its segments' codes."""
    return codes[client_primary(codes)]
