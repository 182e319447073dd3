"""Talk and timing: who talks how much, long therapist monologues, overlaps, latencies.

Word counts work on any transcript. Time-based figures need times: talk share by time uses
each turn's duration (for plain text with start times only, a turn lasts until the next one
starts, so the last turn has no duration); overlaps, interruptions and response latencies
need real start *and* end times (``Transcript.timing == "cues"``) and are ``None`` without.

Definitions (ours, stated so each number can be checked):
- *monologue*: a therapist turn of more than ``MONOLOGUE_WORDS`` words or longer than
  ``MONOLOGUE_SECONDS`` seconds;
- *overlap*: a turn that starts more than ``OVERLAP_TOLERANCE`` s before the previous
  speaker's turn ends; it is an *interruption* when the earlier speaker goes on for at least
  ``INTERRUPTION_SECONDS`` after the overlap begins and the overlapping turn is more than a
  backchannel (at least ``INTERRUPTION_WORDS`` words: "mm-hm" is listening, not
  interrupting; a short overlap at the end of a turn is ordinary turn-taking);
- *response latency*: the silence between one speaker's end and another speaker's start;
  a *long pause* is one of ``LONG_PAUSE_SECONDS`` or more.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from alliance.transcripts.model import ROLES, Role, Timing, Transcript, Utterance

MONOLOGUE_WORDS = 120
MONOLOGUE_SECONDS = 60.0
OVERLAP_TOLERANCE = 0.2
INTERRUPTION_SECONDS = 1.0
INTERRUPTION_WORDS = 3
LONG_PAUSE_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Share:
    """Talk of one speaker or role: turns, words, seconds and shares of the session."""

    name: str
    role: Role
    turns: int
    words: int
    word_share: float
    seconds: float | None
    time_share: float | None
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Overlap:
    """``utterance_id`` starts ``seconds`` before ``previous_id`` ends."""

    utterance_id: str
    previous_id: str
    seconds: float
    interruption: bool


@dataclass(frozen=True, slots=True)
class Latency:
    """Silence of ``seconds`` before ``utterance_id`` answers ``previous_id``."""

    utterance_id: str
    previous_id: str
    role: Role
    seconds: float


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Response latencies of one role: median, mean and the longest, with evidence."""

    role: Role
    count: int
    median: float
    mean: float
    longest: float
    longest_id: str


@dataclass(frozen=True, slots=True)
class TalkStats:
    """Everything about talk and timing in one session."""

    timing: Timing
    total_words: int
    total_seconds: float | None
    speakers: tuple[Share, ...]
    roles: tuple[Share, ...]
    monologues: tuple[str, ...]
    overlaps: tuple[Overlap, ...] | None
    latencies: tuple[Latency, ...] | None
    latency_by_role: tuple[LatencySummary, ...] | None
    long_pauses: tuple[str, ...] | None

    def role(self, role: Role) -> Share | None:
        return next((s for s in self.roles if s.role == role), None)

    @property
    def interruptions(self) -> tuple[Overlap, ...]:
        return tuple(o for o in self.overlaps or () if o.interruption)


def _share(
    name: str, role: Role, group: Sequence[Utterance], total_words: int, total_seconds: float | None
) -> Share:
    words = sum(u.words for u in group)
    durations = [u.duration for u in group if u.duration is not None]
    seconds = sum(durations) if total_seconds is not None else None
    return Share(
        name=name,
        role=role,
        turns=len(group),
        words=words,
        word_share=words / total_words if total_words else 0.0,
        seconds=round(seconds, 3) if seconds is not None else None,
        time_share=(seconds / total_seconds if seconds is not None and total_seconds else None),
        evidence=tuple(u.id for u in group),
    )


def _overlaps(utterances: Sequence[Utterance]) -> tuple[Overlap, ...]:
    found: list[Overlap] = []
    for prev, cur in itertools.pairwise(utterances):
        if prev.speaker == cur.speaker or prev.end is None or cur.start is None:
            continue
        overlap = prev.end - cur.start
        if overlap > OVERLAP_TOLERANCE:
            found.append(
                Overlap(
                    utterance_id=cur.id,
                    previous_id=prev.id,
                    seconds=round(overlap, 3),
                    interruption=overlap >= INTERRUPTION_SECONDS
                    and cur.words >= INTERRUPTION_WORDS,
                )
            )
    return tuple(found)


def _latencies(utterances: Sequence[Utterance]) -> tuple[Latency, ...]:
    found: list[Latency] = []
    for prev, cur in itertools.pairwise(utterances):
        if prev.speaker == cur.speaker or prev.end is None or cur.start is None:
            continue
        gap = cur.start - prev.end
        if gap >= -OVERLAP_TOLERANCE:
            found.append(Latency(cur.id, prev.id, cur.role, round(max(0.0, gap), 3)))
    return tuple(found)


def _latency_summary(latencies: Sequence[Latency]) -> tuple[LatencySummary, ...]:
    out: list[LatencySummary] = []
    for role in ROLES:
        mine = [lat for lat in latencies if lat.role == role]
        if not mine:
            continue
        longest = max(mine, key=lambda lat: lat.seconds)
        values = [lat.seconds for lat in mine]
        out.append(
            LatencySummary(
                role=role,
                count=len(mine),
                median=round(statistics.median(values), 3),
                mean=round(statistics.fmean(values), 3),
                longest=longest.seconds,
                longest_id=longest.utterance_id,
            )
        )
    return tuple(out)


def talk_stats(transcript: Transcript) -> TalkStats:
    """Talk and timing figures for a transcript (see the module docstring for definitions)."""
    utterances = transcript.utterances
    total_words = sum(u.words for u in utterances)
    durations = [u.duration for u in utterances if u.duration is not None]
    total_seconds = sum(durations) if transcript.timing != "none" and durations else None
    speakers = tuple(
        _share(
            s.name,
            s.role,
            [u for u in utterances if u.speaker == s.name],
            total_words,
            total_seconds,
        )
        for s in transcript.speakers
    )
    roles = tuple(
        _share(role, role, group, total_words, total_seconds)
        for role in ROLES
        if (group := [u for u in utterances if u.role == role])
    )
    monologues = tuple(
        u.id
        for u in utterances
        if u.role == "therapist"
        and (
            u.words > MONOLOGUE_WORDS or (u.duration is not None and u.duration > MONOLOGUE_SECONDS)
        )
    )
    exact = transcript.timing == "cues"
    latencies = _latencies(utterances) if exact else None
    return TalkStats(
        timing=transcript.timing,
        total_words=total_words,
        total_seconds=round(total_seconds, 3) if total_seconds is not None else None,
        speakers=speakers,
        roles=roles,
        monologues=monologues,
        overlaps=_overlaps(utterances) if exact else None,
        latencies=latencies,
        latency_by_role=_latency_summary(latencies) if latencies is not None else None,
        long_pauses=(
            tuple(lat.utterance_id for lat in latencies if lat.seconds >= LONG_PAUSE_SECONDS)
            if latencies is not None
            else None
        ),
    )
