"""The transcript data model: speakers, utterances (turns), role assignment and the one error.

A :class:`Transcript` is what every parser produces and what the analysis consumes. An
:class:`Utterance` is one *turn*: consecutive cue fragments of one speaker are already merged.
Times are seconds from the start of the recording, or ``None`` when the source had none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["therapist", "client", "other"]
ROLES: tuple[Role, ...] = ("therapist", "client", "other")
Format = Literal["vtt", "srt", "text", "json", "csv"]
FORMATS: tuple[Format, ...] = ("vtt", "srt", "text", "json", "csv")
RoleMethod = Literal["given", "name_map", "inferred", "mixed"]
# "cues": every turn has a real start and end; "starts": start times only (plain text, ends
# are the next turn's start); "none": no times at all.
Timing = Literal["cues", "starts", "none"]
# How speakers are found: "labels" (default) needs speaker labels in the file; "alternate"
# reads a file with no labels at all (Whisper output, plain subtitles) as two speakers
# taking turns, one turn per cue, dialogue-dash line, JSON item or line/paragraph of text.
SpeakerMode = Literal["labels", "alternate"]
SPEAKER_MODES: tuple[SpeakerMode, ...] = ("labels", "alternate")


class TranscriptError(ValueError):
    """A transcript that cannot be read. ``str()`` is one line naming the source and line."""

    def __init__(self, message: str, *, line: int | None = None, source: str | None = None):
        self.message = " ".join(message.split())  # always one line, whatever the input was
        self.line = line
        self.source = source
        super().__init__(self.message)

    def with_source(self, source: str | None) -> TranscriptError:
        """The same error naming ``source`` (parsers raise without knowing the file name)."""
        return TranscriptError(self.message, line=self.line, source=source)

    def __str__(self) -> str:
        where = self.source or "transcript"
        if self.line is not None:
            where = f"{where}: line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Segment:
    """One raw fragment as a parser found it, before turns are merged and roles assigned.

    ``speaker`` is ``""`` when the source gave no label for it (a subtitle cue with no name):
    the parse step then refuses the file or, with ``speakers="alternate"``, names the turns.
    """

    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    line: int = 1


@dataclass(frozen=True, slots=True)
class Utterance:
    """One turn: a speaker's consecutive fragments merged. ``id`` is ``u1``, ``u2``, …"""

    id: str
    index: int
    speaker: str
    role: Role
    text: str
    start: float | None = None
    end: float | None = None
    line: int = 1
    fragments: int = 1

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)


@dataclass(frozen=True, slots=True)
class Speaker:
    """A person in the transcript with the role assigned to them."""

    name: str
    role: Role
    turns: int
    words: int


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """Which role each speaker has, how that was decided and how sure it is (0–1).

    ``confidence`` is 1.0 when roles were given; for inference it reflects how clearly the
    evidence separated the therapist from the others, and ``reasons`` says what it was.
    """

    roles: Mapping[str, Role]
    method: RoleMethod
    confidence: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    """A parsed session: turns in order, speakers with roles, and where it came from."""

    utterances: tuple[Utterance, ...]
    speakers: tuple[Speaker, ...]
    roles: RoleAssignment
    format: Format
    source: str | None = None
    warnings: tuple[str, ...] = field(default=())
    timing: Timing = "none"

    @property
    def has_timestamps(self) -> bool:
        """Real start and end times on every turn (overlaps and latencies can be measured)."""
        return self.timing == "cues"

    def by_id(self, utterance_id: str) -> Utterance:
        index = int(utterance_id.removeprefix("u")) - 1
        return self.utterances[index]

    def speakers_with_role(self, role: Role) -> tuple[str, ...]:
        return tuple(s.name for s in self.speakers if s.role == role)
