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

Aggregation to the turn (:func:`aggregate`, the same rule for therapist behaviour and
client talk), chosen on AnnoMI *dev* transcripts (``eval/evaluate.py --segment-rules``; never
the test transcripts): every segment keeps its own code — the set of codes the report shows
for the turn — and the turn's one code, which the turn-level fields, the session summary and
its indicators use, is the most probable class of the mean of two distributions: the whole
turn coded as one unit (what ``units="turns"`` gives), and its segments' probabilities
weighted by their share of the turn's words. The *primary* segment is the one most probable
for that class; its own code may differ (a turn that reads as a closed question as a whole
may split into a statement and an open question), and the report shows both. A turn of one
segment keeps the coder's code for the turn.

Why a blend and not a priority order: coding the segments alone and picking by a priority of
main behaviours (the best order on dev was question, input, reflection, other:
:func:`therapist_priority_primary`) lost 0.05 therapist macro-F1 against AnnoMI's turn labels,
and "change or sustain talk in any segment" over-called client talk; the blend kept the
turn-level figures and adds the segments (docs/analysis.md has the table).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from alliance.analysis.labels import fold_behaviour

#: A unit with fewer words joins its neighbour (rule 3).
MIN_SEGMENT_WORDS: Final = 3
#: Each side of a clause split (rule 2) needs at least this many words.
MIN_CLAUSE_WORDS: Final = 4
#: The best priority order of main behaviours on AnnoMI dev (still below the blend; see
#: :func:`therapist_priority_primary`).
PRIORITY_TRIED: Final[tuple[str, ...]] = ("question", "input", "reflection", "other")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_ABBREVIATIONS: Final = _wordset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e eg ie approx no vol fig cf a.m p.m am pm"
)
# Words after which a question opener is part of the statement, not a new question.
_EMBEDDING_WORDS: Final = _wordset(
    """that that's thats know knew wonder wondering wondered ask asked asking tell told see
    if whether about to of on in for from with is was be been what how why when where which
    who whom sure idea mean remember understand decide decided figure out think thought say
    said like matter explain show learn find notice noticed realize realise care"""
)
# Linking words that belong to the question they come before.
_LEADERS: Final = _wordset("so and but okay ok well now then or alright right")
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
    for a, b in itertools.pairwise(bounds):
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
    """A coder's prediction for a turn or a segment (``classifiers.Prediction`` fits)."""

    @property
    def label(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def probabilities(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class TurnCode:
    """A turn's code aggregated from its segments: the blended label and which segment leads."""

    label: str
    confidence: float
    probabilities: Mapping[str, float]
    primary: int


def segment_weights(segments: Sequence[Segment]) -> list[float]:
    """Each segment's weight in the blend: its share of the turn's words."""
    counts = [max(1, _words(s.text)) for s in segments]
    total = float(sum(counts))
    return [c / total for c in counts]


def aggregate(
    turn: ScoredLike, segments: Sequence[ScoredLike], weights: Sequence[float]
) -> TurnCode:
    """Fold a turn's own code and its segments' codes into the turn's code.

    The turn's probabilities are the mean of the whole turn's probabilities and the
    segments' probabilities averaged by ``weights`` (:func:`segment_weights`); its label is
    the most probable class (ties: the coder's label order). The primary segment is the one
    most probable for that class (ties: the earlier). One segment: the turn's own code.
    """
    if not segments or len(segments) != len(weights):
        raise ValueError("give one weight per segment, and at least one segment")
    # Every class any of the codes names (a real coder names all of them, in its order).
    labels = list(
        dict.fromkeys([*turn.probabilities, *(k for s in segments for k in s.probabilities)])
    )
    if len(segments) == 1:
        return TurnCode(turn.label, float(turn.confidence), dict(turn.probabilities), 0)
    blended = {
        lab: 0.5 * float(turn.probabilities.get(lab, 0.0))
        + 0.5
        * sum(
            w * float(s.probabilities.get(lab, 0.0)) for s, w in zip(segments, weights, strict=True)
        )
        for lab in labels
    }
    # Any class may win, also one that no segment has on its own (the whole turn may read as
    # a closed question while its parts read as a statement and an open one): limiting the
    # choice to the segments' own labels lost 0.03 main and 0.14 fine macro-F1 on AnnoMI dev.
    label = max(labels, key=lambda lab: (blended[lab], -labels.index(lab)))
    primary = max(
        range(len(segments)), key=lambda i: (float(segments[i].probabilities.get(label, 0.0)), -i)
    )
    return TurnCode(label, blended[label], blended, primary)


def therapist_priority_primary(codes: Sequence[ScoredLike]) -> int:
    """The rejected priority rule, kept for ``eval/evaluate.py --segment-rules``: the first main
    behaviour in :data:`PRIORITY_TRIED` that any segment has, its most confident segment."""
    if not codes:
        raise ValueError("a turn has at least one segment")
    rank = {name: i for i, name in enumerate(PRIORITY_TRIED)}
    return min(
        range(len(codes)),
        key=lambda i: (rank[fold_behaviour(codes[i].label)], -codes[i].confidence, i),
    )
