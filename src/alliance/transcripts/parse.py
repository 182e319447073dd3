"""Read a transcript: decode, detect the format, parse, name speakers, merge turns, assign roles.

One parser per format, each returning raw :class:`Segment` fragments with the source line
they came from:

- WebVTT (Zoom, Teams, Whisper, YouTube): parsed with webvtt-py, which decides what is a
  cue (Teams' ``0:0:0.0 --> 0:0:3.570`` included); ``<v Name>`` voice tags — several per cue
  allowed — and "Name: text" cues. Our own scan cuts the file into blocks by webvtt-py's
  block rules, to know each block's line, and hands each block to webvtt-py's block reader:
  a cue block webvtt-py skips is skipped here too, never silently — a warning names its
  line.
- SRT: each block read with pysrt; speakers from "Name: text" or "[Name] text". A block
  pysrt cannot read (or whose times it would misread as zeros) is skipped with a warning
  naming its line, as pysrt itself skips it.
- plain text: "Name: text", "T:"/"C:", optional ``[hh:mm:ss]`` or ``hh:mm:ss`` before the
  name or ``(hh:mm:ss)`` after it; lines without a label continue the previous turn.
- JSON: a list of ``{speaker, text, start, end}`` objects (or an object holding that list
  under ``utterances``/``segments``/``turns``), Whisper's JSON included.
- CSV: a header with speaker and text columns and optional start/end (``,`` ``;`` or tab).

Sound descriptions — ``[laughs]``, ``(music)``, ``♪ … ♪``, ``[inaudible]`` — are not speech:
they are left out of the text and counted in a warning. Rolling WebVTT captions (YouTube's
automatic ones, each line shown again atop the next cue) count each line once. A file
without any speaker labels is refused, naming ``speakers="alternate"`` (``--speakers
alternate``), which reads it as two speakers taking turns.

The format comes from the content first and the file extension only breaks ties. Every
failure raises :class:`TranscriptError` with the line it concerns.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pysrt
import webvtt
from webvtt import vtt as webvtt_blocks

from alliance.transcripts.model import (
    SPEAKER_MODES,
    Format,
    Role,
    Segment,
    Speaker,
    SpeakerMode,
    Timing,
    Transcript,
    TranscriptError,
    Utterance,
)
from alliance.transcripts.roles import assign_roles

# ---------------------------------------------------------------------------------------------
# Decoding

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _line_at(data: bytes | str, position: int) -> int:
    newline: Any = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, position) + 1


def decode(data: bytes) -> str:
    """Bytes to text: a BOM (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE), BOM-less UTF-16, UTF-8, then
    cp1252.

    Refuses binary data (NUL bytes in a file without a UTF-16/32 shape, or many control
    characters) and bytes that no supported encoding can read, naming the line of the first
    bad byte. Newlines (CRLF, CR) are normalised to ``\\n``; the BOM is not part of the text.
    """
    text: str
    bom = next(((mark, enc) for mark, enc in _BOMS if data.startswith(mark)), None)
    if bom is not None:
        mark, encoding = bom
        text = _strict(data[len(mark) :], encoding)
    elif len(data) >= 4 and _looks_utf16(data):
        text = _strict(data, "utf-16-le" if data[1] == 0 else "utf-16-be")
    else:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise TranscriptError(
                "binary data (a NUL byte), not a text transcript", line=_line_at(data, nul)
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _strict(data, "cp1252")
    text = _normalise(text)
    controls = [
        i
        for i, ch in enumerate(text[:20000])
        if unicodedata.category(ch) == "Cc" and ch not in "\n\t\f\v"
    ]
    if len(controls) > 3:
        raise TranscriptError(
            "binary data (control characters), not a text transcript",
            line=_line_at(text, controls[0]),
        )
    return text


def _normalise(text: str) -> str:
    """One newline convention and no byte order mark, whichever way the text arrived."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _looks_utf16(data: bytes) -> bool:
    """UTF-16 without a BOM: most ASCII characters have a zero byte on one side."""
    sample = data[:2000]
    even_zero = sample[0::2].count(0)
    odd_zero = sample[1::2].count(0)
    half = len(sample) // 2
    return max(even_zero, odd_zero) > 0.4 * half and min(even_zero, odd_zero) < 0.05 * half


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        # Count newlines in the text before the bad bytes: in UTF-16 and UTF-32 a newline
        # is not one b"\n" byte.
        line = data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        raise TranscriptError(
            f"bytes that are not valid {encoding} text (tried the byte order mark, utf-8, "
            "utf-16 and cp1252)",
            line=line,
        ) from None


# ---------------------------------------------------------------------------------------------
# Shared helpers

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
# A speaker label: starts with a letter, at most five words, no sentence punctuation.
_NAME = r"[^\W\d_][\w.'’\-]*(?:\s[\w.'’\-()]+){0,4}"
# "Name: text", or "Name:" alone on a cue line (the words follow on the next line).
_NAME_COLON = re.compile(rf"^\s*(?P<name>{_NAME})\s*:(?:\s+(?P<text>\S.*))?\s*$")
_NAME_BRACKET = re.compile(rf"^\s*\[(?P<name>{_NAME})\]\s*(?P<text>\S.*)$")
_VOICE = re.compile(r"^\s*<v(?:\.[\w.-]+)*\s+(?P<name>[^>\s][^>]*)>(?P<text>.*)$")
# Markup inside cue text: <v>, <c.class>, <i>, <b>, <u>, <font …>, <lang> and karaoke times
# <00:01.000>; SRT position and style codes from SubStation Alpha such as {\an8} or {\i1}.
_TAG = re.compile(r"</?[a-z][^>]*>|<\d[\d:.]*>|\{\\[^}]*\}", re.IGNORECASE)
# SubStation line breaks and hard spaces (\N, \n, \h) that some SRT files carry.
_SSA_BREAK = re.compile(r"\\[Nnh]")
# A dialogue dash or a ">>" at the start of a subtitle line marks a change of speaker.
_TURN_MARK = re.compile(r"^\s*(?:[-‐–—]|>>)\s*")
# Words that look like labels but start ordinary sentences ("Note: …" is kept as a label).
_NOT_NAMES = {"http", "https", "so", "and", "but", "because", "well", "like", "then"}

# Words that make a bracketed or parenthesised aside a description of sound, not speech.
_SOUND_LIST = """
    applause audio background beep beeps blank breath breathes breathing buzz buzzes buzzing
    chatter chuckle chuckles chuckling clears clicks cough coughing coughs crosstalk cries
    crying door exhales footsteps foreign gasps giggles giggling groans hum hums humming
    inaudible indistinct inhales knock knocking knocks laugh laughing laughs laughter
    mumbles mumbling murmurs music noise noises overlapping pause pauses phone ringing rings
    sighing sighs silence singing sings sniffles sniffling sniffs sob sobbing sobs static
    throat unintelligible whispering whispers yawns
"""
_SOUND_WORDS = frozenset(_SOUND_LIST.split())
_ASIDE = re.compile(r"\[[^\[\]]*\]|\([^()]*\)")
_MUSIC = re.compile(r"[♪♫][^♪♫]*(?:[♪♫]+|$)")


@dataclass
class _Dropped:
    """What a parse left out, for the warnings: sound descriptions (count and the first
    one), cue blocks the subtitle library could not read (line and reason) and repeated
    rolling-caption lines; and how many speaker labels a cue file wrote out."""

    count: int = 0
    example: str | None = None
    cues: list[tuple[int, str, str]] = field(default_factory=list)
    rolled: int = 0  # lines of rolling (YouTube) captions shown again in the next cue
    # Speaker labels written out in a cue file (a cue without one carries the last on);
    # ``read_labels`` False reads every "Name:" as words (stray labels, see _parse).
    labels: int = 0
    read_labels: bool = True

    def add(self, text: str) -> None:
        self.count += 1
        if self.example is None:
            self.example = " ".join(text.split())[:40]

    def skip_cue(self, line: int, reason: str, hint: str = "") -> None:
        """``hint`` (what a good one looks like) goes only into an error, not the warning."""
        self.cues.append((line, reason, hint))


def _is_sound(inner: str) -> bool:
    """``laughs``, ``MUSIC``, ``door closes``: an aside describing sound (not a name)."""
    words = re.findall(r"[^\W\d_]+", inner)
    if not words:
        return False
    if any(w.casefold() in _SOUND_WORDS for w in words):
        return True
    letters = "".join(words)
    return len(letters) > 1 and letters.isupper() and len(words) > 1


def _without_sounds(text: str, dropped: _Dropped) -> str:
    """The spoken words of one line: sound descriptions and sung lyrics taken out."""
    if text.lstrip().startswith(("♪", "♫")):
        dropped.add(text)
        return ""

    def aside(match: re.Match[str]) -> str:
        if _is_sound(match.group()[1:-1]):
            dropped.add(match.group())
            return " "
        return match.group()

    def music(match: re.Match[str]) -> str:
        dropped.add(match.group())
        return " "

    kept = _ASIDE.sub(aside, _MUSIC.sub(music, text))
    # A line of nothing but asides ("[footsteps]", "(long pause)") is no speech either.
    if kept.strip() and not _ASIDE.sub("", kept).strip() and not re.search(r"\d:\d", kept):
        dropped.add(kept)
        return ""
    return " ".join(kept.split())


def parse_time(value: object, *, line: int) -> float | None:
    """Seconds from ``12.5``, ``"12.5"``, ``"mm:ss"``, ``"hh:mm:ss.mmm"`` or ``"hh:mm:ss,mmm"``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TranscriptError(f"time {value!r} is not a number or hh:mm:ss", line=line)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        raw = str(value).strip().replace(",", ".")
        try:
            if ":" in raw:
                parts = [float(p) for p in raw.split(":")]
                if len(parts) > 3 or any(p < 0 for p in parts):
                    raise ValueError(raw)
                seconds = 0.0
                for part in parts:
                    seconds = seconds * 60 + part
            else:
                seconds = float(raw)
        except ValueError:
            raise TranscriptError(
                f"time {value!r} is not a number of seconds or hh:mm:ss", line=line
            ) from None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise TranscriptError(f"time {value!r} is out of range", line=line)
    return seconds


def _split_speaker(text: str) -> tuple[str | None, str]:
    """``"Name: text"`` or ``"[Name] text"`` → (name, text); otherwise (None, text)."""
    for pattern in (_NAME_COLON, _NAME_BRACKET):
        match = pattern.match(text)
        if not match or match.group("name").split()[0].casefold() in _NOT_NAMES:
            continue
        name = match.group("name").strip()
        if pattern is _NAME_BRACKET and (_is_sound(name) or name[:1].islower()):
            continue  # "[laughs] Yes." is a sound, then speech; names are capitalised
        return name, (match.group("text") or "").strip()
    return None, text.strip()


def _clean(text: str) -> str:
    return " ".join(_TAG.sub("", text).split())


# ---------------------------------------------------------------------------------------------
# Cue files (WebVTT, SRT): blocks with their line numbers, cue text into segments


@dataclass(frozen=True, slots=True)
class _Block:
    """A run of lines between empty lines; ``line`` is the file line of ``lines[0]``."""

    line: int
    lines: tuple[str, ...]

    @property
    def timing(self) -> int | None:
        """Index of the cue timing line: the first line, or the second after an identifier."""
        for index in (0, 1):
            if index < len(self.lines) and "-->" in self.lines[index]:
                return index
        return None


def _vtt_blocks(lines: Sequence[str], first_number: int = 1) -> list[_Block]:
    """Blocks as webvtt-py cuts them: an empty line ends a block (a line of spaces does
    not), and a "-->" line that cannot be the timing of the current block starts a new one.
    The first block is the header; ``first_number`` is the file line of ``lines[0]``."""
    blocks: list[_Block] = []
    current: list[str] = []
    first = first_number
    for number, line in enumerate(lines, start=first_number):
        starts_new = bool(
            current and "-->" in line and (not blocks or len(current) > 1 or "-->" in current[0])
        )
        if (not line or starts_new) and current:
            blocks.append(_Block(first, tuple(current)))
            current = []
        if line:
            if not current:
                first = number
            current.append(line)
    if current:
        blocks.append(_Block(first, tuple(current)))
    return blocks


def _srt_blocks(lines: Sequence[str]) -> list[_Block]:
    """Blocks as pysrt cuts them: a line that is empty or only spaces ends a block."""
    blocks: list[_Block] = []
    current: list[str] = []
    first = 1
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not current:
                first = number
            current.append(line)
        elif current:
            blocks.append(_Block(first, tuple(current)))
            current = []
    if current:
        blocks.append(_Block(first, tuple(current)))
    return blocks


@dataclass(frozen=True, slots=True)
class _Cue:
    lines: Sequence[str]
    start: float
    end: float
    line: int  # the timing line
    # How an error names the cue: "cue 7" by its identifier (an SRT index, a WebVTT cue id)
    # or, without one, by its place among the file's cue blocks; and its timing line as written.
    name: str = "a cue"
    timing: str = ""


def _cue_name(block: _Block, timing_at: int, number: int) -> str:
    """ "cue 7": the identifier written above the timing line (an SRT index, a WebVTT cue id),
    else the cue's place among the file's cue blocks ("cue 3 of the file")."""
    ident = block.lines[0].strip() if timing_at == 1 else ""
    if not ident:
        return f"cue {number} of the file"
    return f"cue {ident}" if ident.isdigit() else f"cue {_quote(ident)}"


def _check_cues(
    cues: Sequence[_Cue], blocks: Sequence[_Block], kind: str, dropped: _Dropped
) -> None:
    """No readable cue at all, cues that end before they start, and a file cut off after
    its last timing line."""
    if not cues and dropped.cues:
        line, reason, hint = dropped.cues[0]
        raise TranscriptError(
            f"no cue in this {kind} file could be read: {reason}{hint}", line=line
        )
    if not cues:
        raise TranscriptError(f"no cues (no 'start --> end' timing lines) in this {kind} file")
    for cue in cues:
        if cue.end < cue.start:
            raise TranscriptError(
                f"{cue.name} ends before it starts ({_quote(cue.timing)}): its end time must "
                "not be earlier than its start time",
                line=cue.line,
            )
    last = blocks[-1]
    if last.timing is not None and len(last.lines) == last.timing + 1:
        raise TranscriptError(
            "the last cue has no text: the file looks truncated", line=last.line + last.timing
        )


def _segments_from_cue_lines(cue: _Cue, previous: str | None, dropped: _Dropped) -> list[Segment]:
    """Turn the text lines of one cue into segments (one per speaker change).

    A line without a label continues the speaker before it (in this cue or an earlier one);
    before any label the speaker is ``""`` (unknown). A dialogue dash starts a new segment
    even then, so that ``speakers="alternate"`` can tell the two voices of a cue apart.
    """
    segments: list[Segment] = []
    speaker = previous
    for line in cue.lines:
        raw = _SSA_BREAK.sub(" ", line)
        voice = _VOICE.match(raw) if dropped.read_labels else None
        new_turn = False
        if voice:
            speaker = voice.group("name").strip()
            dropped.labels += 1
            body = _without_sounds(html.unescape(_clean(voice.group("text"))), dropped)
        else:
            # Cue text escapes &, < and > as entities. Sounds go first: in "(SIGHS) JAMIE:
            # Fine." the label follows the description.
            cleaned = _without_sounds(html.unescape(_clean(raw)), dropped)
            mark = _TURN_MARK.match(cleaned)
            if mark:
                cleaned = cleaned[mark.end() :]
            name, body = _split_speaker(cleaned) if dropped.read_labels else (None, cleaned)
            if name is not None:
                speaker = name
                dropped.labels += 1
            new_turn = mark is not None and name is None
        if not body:
            continue
        who = speaker or ""
        if segments and segments[-1].speaker == who and not new_turn:
            last = segments[-1]
            segments[-1] = Segment(who, f"{last.text} {body}", cue.start, cue.end, cue.line)
        else:
            segments.append(Segment(who, body, cue.start, cue.end, cue.line))
    return segments


def _segments_from_cues(cues: Sequence[_Cue], dropped: _Dropped) -> list[Segment]:
    """Segments of a cue file (WebVTT, SRT): one place for carrying the last speaker from
    cue to cue, so a cue without a name continues the previous speaker in both formats."""
    segments: list[Segment] = []
    previous: str | None = None
    for cue in cues:
        found = _segments_from_cue_lines(cue, previous, dropped)
        if found:
            previous = found[-1].speaker or None
        segments.extend(found)
    return segments


def _quote(line: str) -> str:
    return repr(line.strip()[:60])


# ---------------------------------------------------------------------------------------------
# Parsers, one per format


def parse_vtt(text: str, dropped: _Dropped | None = None) -> list[Segment]:
    """WebVTT (Zoom, Teams, Whisper, YouTube): voice tags, several voices in one cue, or
    "Name: text"; what webvtt-py reads, and every cue block it skips named in a warning."""
    dropped = dropped if dropped is not None else _Dropped()
    text = _normalise(text)
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.strip()), 0)
    if not lines[start].startswith("WEBVTT"):
        raise TranscriptError("a WebVTT file must start with 'WEBVTT'", line=start + 1)
    try:
        webvtt.from_string("\n".join(lines[start:]))  # the library's word on the whole file
    except Exception as exc:  # webvtt-py raises several unrelated types
        raise _vtt_failure(exc, lines, start) from None
    blocks = _vtt_blocks(lines[start:], start + 1)
    cues: list[_Cue] = []
    seen_cue = False
    number = 0
    for block in blocks[1:]:  # the first block is the header
        at = block.timing
        if at is None:
            continue  # comments, STYLE and REGION blocks
        number += 1
        # Each block is read by webvtt-py's own block reader, so the library decides what a
        # cue is block by block: one it skips can never shift the cues after it.
        item = webvtt_blocks.parse_item(list(block.lines), False, seen_cue)
        seen_cue = True
        line = block.line + at
        if isinstance(item, webvtt.Caption):
            cues.append(
                _Cue(
                    item.lines,
                    item.start_time.in_milliseconds() / 1000.0,
                    item.end_time.in_milliseconds() / 1000.0,
                    line,
                    _cue_name(block, at, number),
                    block.lines[at],
                )
            )
        elif re.search(r"\d", block.lines[at].split("-->", 1)[0]):
            # A timing webvtt-py cannot read: skipped, as its non-strict parse does, aloud.
            dropped.skip_cue(
                line,
                f"malformed cue timing {_quote(block.lines[at])}",
                " (webvtt-py reads times like 00:01:02.500, 01:02.500 or 0:1:2.5)",
            )
        # else "-->" in prose (a comment's later line): no cue meant, webvtt-py passes it by
    _check_cues(cues, blocks, "vtt", dropped)
    return _segments_from_cues(_unrolled(cues, dropped), dropped)


def _shown(line: str) -> str:
    """A cue line as a viewer reads it: markup, karaoke times and spacing gone."""
    return " ".join(html.unescape(_clean(line)).split())


def _unrolled(cues: Sequence[_Cue], dropped: _Dropped) -> list[_Cue]:
    """Rolling captions (YouTube's automatic ones) without their repeats.

    Such captions show each line twice: in its own cue, then again as the first line of the
    next one while a new line is typed below it (with a 10 ms cue in between that holds only
    the old line). Read as they are, every word would count two or three times. A file is
    taken to roll when most cues start with the line the cue before ended on; then the
    repeated leading lines are left out, and a cue holding nothing new goes with them.
    """
    shown = [[t for t in (_shown(line) for line in cue.lines) if t] for cue in cues]
    repeats = sum(
        1 for before, now in itertools.pairwise(shown) if before and now and now[0] == before[-1]
    )
    if repeats < 2 or repeats * 2 < len(cues) - 1:
        return list(cues)
    kept: list[_Cue] = []
    last: str | None = None
    for cue, lines in zip(cues, shown, strict=True):
        fresh = list(cue.lines)
        while fresh and (not _shown(fresh[0]) or _shown(fresh[0]) == last):
            if _shown(fresh[0]):
                dropped.rolled += 1
            fresh.pop(0)
        if lines:
            last = lines[-1]
        if fresh:
            kept.append(_Cue(fresh, cue.start, cue.end, cue.line, cue.name, cue.timing))
    return kept


def _vtt_failure(exc: Exception, lines: Sequence[str], start: int) -> TranscriptError:
    """Which block made webvtt-py fail: read each cue block on its own to find it."""
    for block in _vtt_blocks(lines[start:], start + 1)[1:]:
        try:
            webvtt.from_string("WEBVTT\n\n" + "\n".join(block.lines))
        except Exception as own:  # the same failure, now with a place
            return TranscriptError(f"not valid WebVTT: {own}", line=block.line)
    return TranscriptError(f"not valid WebVTT: {exc}", line=start + 1)


# SRT times as pysrt reads them, plus mm:ss without hours and a missing ",mmm" (normalised
# before pysrt sees them); pysrt reads any other shape as zeros, so it is refused here.
_SRT_TIME = r"(?:\d+:)?\d+:\d+(?:[.,]\d+)?"
_SRT_TIMING = re.compile(rf"^\s*(?P<start>{_SRT_TIME})\s*-->\s*(?P<end>{_SRT_TIME})(?P<rest>.*)$")


def _srt_time(value: str) -> str:
    parts = re.split(r"[:.,]", value)
    if not re.search(r"[.,]\d+$", value):
        parts.append("0")
    while len(parts) < 4:
        parts.insert(0, "0")
    return "{}:{}:{},{}".format(*parts)


def parse_srt(text: str, dropped: _Dropped | None = None) -> list[Segment]:
    """SRT subtitles, each cue read by pysrt; the speaker comes from "Name: text" or
    "[Name] text". Index numbers may skip or be missing; a blank line inside a cue's text
    joins the next lines to it."""
    dropped = dropped if dropped is not None else _Dropped()
    blocks = _srt_blocks(_normalise(text).split("\n"))
    cues: list[_Cue] = []
    number = 0
    for block in blocks:
        at = block.timing
        if at is not None:
            number += 1
        if at is None:
            if block.lines[0].strip().isdigit():
                dropped.skip_cue(
                    block.line + 1 if len(block.lines) > 1 else block.line,
                    f"cue {block.lines[0].strip()} has no 'start --> end' timing line",
                )
                continue
            if not cues:
                raise TranscriptError(
                    "expected a cue number or a 'start --> end' timing line", line=block.line
                )
            last = cues[-1]  # a blank line inside a cue's text
            cues[-1] = _Cue(
                [*last.lines, *block.lines],
                last.start,
                last.end,
                last.line,
                last.name,
                last.timing,
            )
            continue
        line = block.line + at
        timing = _SRT_TIMING.match(block.lines[at])
        if timing is None or (timing.group("rest")[:1] not in ("", " ", "\t")):
            # pysrt would skip this block or read its odd times as zeros: skip it, aloud.
            dropped.skip_cue(
                line,
                f"malformed cue timing {_quote(block.lines[at])}",
                " (SRT times look like 00:01:02,500)",
            )
            continue
        normalised = (
            f"{_srt_time(timing.group('start'))} --> {_srt_time(timing.group('end'))}"
            f"{timing.group('rest')}"
        )
        try:
            item = pysrt.SubRipItem.from_lines(
                [*block.lines[:at], normalised, *block.lines[at + 1 :]]
            )
        except (pysrt.Error, ValueError) as exc:
            dropped.skip_cue(line, f"not a valid SRT cue ({type(exc).__name__} from pysrt)")
            continue
        body = item.text.split("\n") if item.text else []
        cues.append(
            _Cue(
                body,
                item.start.ordinal / 1000.0,
                item.end.ordinal / 1000.0,
                line,
                _cue_name(block, at, number),
                block.lines[at],
            )
        )
    _check_cues(cues, blocks, "srt", dropped)
    return _segments_from_cues(cues, dropped)


_PLAIN = re.compile(
    rf"^\s*(?:[\[(](?P<ts>{_TIME})[\])]|(?P<bare>{_TIME}))?\s*[-–]?\s*"
    rf"(?P<name>{_NAME}?)\s*(?:[\[(](?P<ts2>{_TIME})[\])])?\s*:(?:\s+|$)(?P<text>.*)$"
)


# Otter.ai / Teams exports: a "Name  0:03" (or "Name 00:01:02") line, the words below it.
_HEADER = re.compile(
    rf"^\s*(?P<name>{_NAME}?)\s{{2,}}(?P<ts>{_TIME})\s*$|^\s*(?P<name2>{_NAME}?)"
    rf"\s+(?P<ts2>{_TIME})\s*$"
)


def parse_text(text: str, dropped: _Dropped | None = None) -> list[Segment]:
    """Plain "Name: text" lines, optionally timestamped; unlabelled lines continue a turn.

    Also the Otter.ai / Teams layout: a line holding only a name and a time, then the words.
    A text with no label at all comes back unlabelled (speaker ``""``): one segment per
    paragraph when blank lines separate paragraphs, else one per line.
    """
    dropped = dropped if dropped is not None else _Dropped()
    lines = _normalise(text).split("\n")
    segments: list[Segment] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        header = _HEADER.match(line)
        if header:
            name = (header.group("name") or header.group("name2") or "").strip()
            # Names are capitalised ("Jordan Price", "Speaker 1"): "we met at 10:30" is not one.
            if name and all(w[:1].isupper() or w[:1].isdigit() for w in name.split()):
                stamp = header.group("ts") or header.group("ts2")
                segments.append(Segment(name, "", parse_time(stamp, line=number), None, number))
                continue
        match = _PLAIN.match(line)
        name = match.group("name").strip() if match else ""
        if match and name and name.split()[0].casefold() not in _NOT_NAMES:
            stamp = match.group("ts") or match.group("bare") or match.group("ts2")
            body = _without_sounds(_clean(match.group("text")), dropped)
            start = parse_time(stamp, line=number) if stamp else None
            segments.append(Segment(name, body, start, None, number))
        elif segments:
            body = _without_sounds(_clean(line), dropped)
            if body:
                last = segments[-1]
                joined = f"{last.text} {body}".strip()
                segments[-1] = Segment(last.speaker, joined, last.start, last.end, last.line)
        # lines before the first label (a title, a date) are not part of any turn
    if not segments:
        return _unlabelled_text(lines, dropped)
    segments = [s for s in segments if s.text]
    return _fill_ends(segments)


def _unlabelled_text(lines: Sequence[str], dropped: _Dropped) -> list[Segment]:
    """Text without speaker labels: paragraphs (if blank lines part them) or lines."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    paragraphs = any(b - a > 1 for a, b in itertools.pairwise(filled))
    segments: list[Segment] = []
    gap = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            gap = True
            continue
        body = _without_sounds(_clean(line), dropped)
        if body and segments and paragraphs and not gap:
            last = segments[-1]
            segments[-1] = Segment("", f"{last.text} {body}", None, None, last.line)
        elif body:
            segments.append(Segment("", body, None, None, number))
        gap = False
    return segments


def _fill_ends(segments: list[Segment]) -> list[Segment]:
    """Plain text gives start times only: a turn ends where the next one starts."""
    if not segments or any(s.start is None for s in segments):
        return [Segment(s.speaker, s.text, None, None, s.line) for s in segments]
    out: list[Segment] = []
    for i, seg in enumerate(segments):
        if i + 1 < len(segments) and (nxt := segments[i + 1].start) is not None:
            if seg.start is not None and nxt < seg.start:
                raise TranscriptError("timestamp goes backwards", line=segments[i + 1].line)
            end: float | None = nxt
        else:
            end = None
        out.append(Segment(seg.speaker, seg.text, seg.start, end, seg.line))
    return out


_SPEAKER_KEYS = ("speaker", "speaker_name", "name", "who", "participant", "role")
_TEXT_KEYS = ("text", "utterance", "content", "transcript", "utterance_text", "message")
_START_KEYS = ("start", "start_time", "begin", "from", "timestamp", "start_seconds")
_END_KEYS = ("end", "end_time", "stop", "to", "end_seconds")
_LIST_KEYS = ("utterances", "segments", "turns", "transcript", "entries")


def _pick(row: Mapping[str, Any], keys: Sequence[str]) -> Any:
    lowered = {str(k).strip().casefold(): v for k, v in row.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def _json_items(text: str) -> Iterator[tuple[Any, int]]:
    """Yield each element of the utterance list with the line it starts on."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (truncated?)" if exc.pos >= len(text.rstrip()) - 1 else ""
        raise TranscriptError(f"invalid JSON: {exc.msg}{hint}", line=exc.lineno) from None
    if isinstance(document, dict):
        key = next((k for k in document if str(k).casefold() in _LIST_KEYS), None)
        if key is None or not isinstance(document[key], list):
            raise TranscriptError(
                "JSON must be a list of {speaker, text, start, end} objects "
                f"or hold one under {'/'.join(_LIST_KEYS)}",
                line=1,
            )
        anchor = re.search(rf'"{re.escape(str(key))}"\s*:\s*\[', text)
        position = anchor.end() - 1 if anchor else 0
    elif isinstance(document, list):
        position = text.index("[")
    else:
        raise TranscriptError("JSON must be a list of {speaker, text} objects", line=1)
    decoder = json.JSONDecoder()
    position += 1
    length = len(text)
    while True:
        while position < length and text[position] in " \t\n\r,":
            position += 1
        if position >= length or text[position] == "]":
            return
        item, end = decoder.raw_decode(text, position)
        yield item, _line_at(text, position)
        position = end


def parse_json(text: str, dropped: _Dropped | None = None) -> list[Segment]:
    """A JSON list of utterance objects; key names are matched case-insensitively. Items
    without a speaker (Whisper's segments) come back unlabelled (speaker ``""``)."""
    dropped = dropped if dropped is not None else _Dropped()
    segments: list[Segment] = []
    for item, line in _json_items(text):
        if not isinstance(item, dict):
            raise TranscriptError("each utterance must be an object", line=line)
        speaker = _pick(item, _SPEAKER_KEYS)
        body = _pick(item, _TEXT_KEYS)
        if not isinstance(body, str):
            raise TranscriptError("utterance has no 'text' string", line=line)
        start = parse_time(_pick(item, _START_KEYS), line=line)
        end = parse_time(_pick(item, _END_KEYS), line=line)
        if start is not None and end is not None and end < start:
            raise TranscriptError("utterance ends before it starts", line=line)
        words = _without_sounds(_clean(body), dropped)
        if words:
            name = "" if speaker is None else str(speaker).strip()
            segments.append(Segment(name, words, start, end, line))
    return segments


def _csv_dialect(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: counts[d])


def _csv_header(text: str) -> tuple[str, list[str]] | None:
    first = text.lstrip().split("\n", 1)[0]
    delimiter = _csv_dialect(first)
    if first.count(delimiter) == 0:
        return None
    header = [h.strip().strip('"').casefold() for h in first.split(delimiter)]
    if any(h in _SPEAKER_KEYS for h in header) and any(h in _TEXT_KEYS for h in header):
        return delimiter, header
    return None


def parse_csv(text: str, dropped: _Dropped | None = None) -> list[Segment]:
    """CSV with a header naming speaker and text columns (start/end optional)."""
    dropped = dropped if dropped is not None else _Dropped()
    found = _csv_header(text)
    if found is None:
        raise TranscriptError(
            "CSV needs a header with 'speaker' and 'text' columns (start/end optional)", line=1
        )
    delimiter, _ = found
    reader = csv.reader(io.StringIO(text.lstrip()), delimiter=delimiter, strict=True)
    segments: list[Segment] = []
    try:
        header = [h.strip().casefold() for h in next(reader)]
        columns = {
            "speaker": next(i for i, h in enumerate(header) if h in _SPEAKER_KEYS),
            "text": next(i for i, h in enumerate(header) if h in _TEXT_KEYS),
        }
        for name, keys in (("start", _START_KEYS), ("end", _END_KEYS)):
            index = next((i for i, h in enumerate(header) if h in keys), None)
            if index is not None:
                columns[name] = index
        needed = max(columns.values()) + 1
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < needed:
                raise TranscriptError(
                    f"row has {len(row)} fields, the header has {len(header)} (truncated?)",
                    line=line,
                )
            speaker = row[columns["speaker"]].strip()
            body = _without_sounds(_clean(row[columns["text"]]), dropped)
            if not speaker:
                raise TranscriptError("row has no speaker", line=line)
            start = parse_time(row[columns["start"]], line=line) if "start" in columns else None
            end = parse_time(row[columns["end"]], line=line) if "end" in columns else None
            if start is not None and end is not None and end < start:
                raise TranscriptError("row ends before it starts", line=line)
            if body:
                segments.append(Segment(speaker, body, start, end, line))
    except csv.Error as exc:
        raise TranscriptError(f"malformed CSV: {exc}", line=reader.line_num) from None
    return segments


PARSERS: Mapping[Format, Callable[[str, _Dropped], list[Segment]]] = {
    "vtt": parse_vtt,
    "srt": parse_srt,
    "text": parse_text,
    "json": parse_json,
    "csv": parse_csv,
}
_EXTENSIONS: Mapping[str, Format] = {
    "vtt": "vtt",
    "webvtt": "vtt",
    "srt": "srt",
    "txt": "text",
    "text": "text",
    "md": "text",
    "json": "json",
    "csv": "csv",
    "tsv": "csv",
}
_SRT_START = re.compile(rf"^\s*\d+\s*\n\s*{_SRT_TIME}\s*-->", re.MULTILINE)
_JSON_START = re.compile(r"^\s*(?:\{|\[\s*(?:\{|\]|$))")


def detect_format(text: str, filename: str | None = None) -> Format:
    """The format from the content; the extension only tells WebVTT from SRT when cue
    timings appear without a header (a file named ``.vtt`` holding "Name: text" lines is
    read as plain text)."""
    stripped = text.lstrip("\ufeff \t\n")
    if stripped.startswith("WEBVTT"):
        return "vtt"
    if _JSON_START.match(stripped):
        return "json"
    if _SRT_START.match(stripped[:500]):
        return "srt"
    if _csv_header(stripped) is not None:
        return "csv"
    if "-->" in stripped[:5000]:
        # Cue timings without a recognisable header: the extension says which cue format.
        extension = filename.rsplit(".", 1)[-1].casefold() if filename and "." in filename else ""
        return "vtt" if _EXTENSIONS.get(extension) == "vtt" else "srt"
    return "text"


# ---------------------------------------------------------------------------------------------
# Speakers, turns and the whole transcript

# What a label looks like in each format, for the error when none is found.
_LABEL_HINTS: Mapping[Format, str] = {
    "vtt": "'<v Name>' voice tags or 'Name: text' in the cues",
    "srt": "'Name: text' or '[Name] text' in the cues",
    "text": "'Name: text' lines",
    "json": "a 'speaker' in the utterances",
    "csv": "a speaker column",
}
_UNLABELLED: Mapping[Format, str] = {
    "vtt": "cue text without a speaker (expected '<v Name>' or 'Name: text')",
    "srt": "cue text without a speaker (expected 'Name: text' or '[Name] text')",
    "text": "text without a speaker label",
    "json": "utterance has no 'speaker'",
    "csv": "row has no speaker",
}
_TURN_UNITS: Mapping[Format, str] = {
    "vtt": "cue or dialogue-dash line",
    "srt": "cue or dialogue-dash line",
    "text": "line (or paragraph)",
    "json": "item",
    "csv": "row",
}


# Fewer labels than one per this many fragments: the labels are stray words, not speakers.
_STRAY_LABELS = 4


def _stray_labels(segments: Sequence[Segment], fmt: Format, dropped: _Dropped) -> int:
    """How many labels a cue file wrote out, when they are too few to be speakers (else 0).

    A few "labels" among many unlabelled cues are words that happen to end in a colon ("The
    worst part: …" in a film's subtitles). Labels are counted as written, not as
    the cues that carry one on, so long labelled turns are never taken for stray ones.
    """
    if fmt not in ("vtt", "srt") or all(s.speaker for s in segments):
        return 0
    if not any(s.speaker for s in segments):
        return 0
    return dropped.labels if dropped.labels * _STRAY_LABELS < len(segments) else 0


def _name_speakers(
    segments: list[Segment], speakers: SpeakerMode, fmt: Format, stray: int = 0
) -> tuple[list[Segment], str | None]:
    """Labels as found; a file with none refused, or with ``alternate`` read as two
    speakers taking turns (``stray``: how many stray labels were read as words). Returns
    the segments and a warning (or ``None``)."""
    unlabelled = next((s for s in segments if not s.speaker), None)
    if unlabelled is None:
        return segments, None
    first = next((s for s in segments if s.speaker), None)
    if first is not None:
        # Some labels: text before (or, in JSON, between) them belongs to nobody we know.
        # Say where the first label is: in a film's subtitles it is often a false one.
        hint = (
            "; if those are not speaker labels, pass --speakers alternate (speakers='alternate')"
            if stray
            else ""
        )
        raise TranscriptError(
            f"{_UNLABELLED[fmt]}; the first speaker label is {first.speaker!r} on line "
            f"{first.line}{hint}",
            line=unlabelled.line,
        )
    if speakers == "labels":
        layout = "unknown layout: " if fmt == "text" else ""
        raise TranscriptError(
            f"{layout}no speaker labels found (expected {_LABEL_HINTS[fmt]}); to read a file "
            "without labels as two speakers taking turns, pass --speakers alternate "
            "(speakers='alternate')",
            line=unlabelled.line,
        )
    named = [
        Segment(f"Speaker {i % 2 + 1}", s.text, s.start, s.end, s.line)
        for i, s in enumerate(segments)
    ]
    kind = (
        f"{stray} stray label{'s' if stray > 1 else ''} read as words"
        if stray
        else "no speaker labels"
    )
    return named, (
        f"{kind}: read as Speaker 1 and Speaker 2 taking turns, one turn per "
        f"{_TURN_UNITS[fmt]}; turn-taking, talk shares and roles are a guess"
    )


def merge_turns(segments: Sequence[Segment]) -> list[Segment]:
    """Merge consecutive fragments of one speaker into one turn (first start, last end)."""
    turns: list[Segment] = []
    for seg in segments:
        if turns and turns[-1].speaker == seg.speaker:
            last = turns[-1]
            end = seg.end if seg.end is not None else last.end
            turns[-1] = Segment(last.speaker, f"{last.text} {seg.text}", last.start, end, last.line)
        else:
            turns.append(seg)
    return turns


def parse_transcript(
    data: bytes | str | os.PathLike[str],
    *,
    filename: str | None = None,
    format: Format | None = None,
    therapist: str | Sequence[str] | None = None,
    name_map: Mapping[str, Role] | None = None,
    max_bytes: int | None = None,
    speakers: SpeakerMode = "labels",
) -> Transcript:
    """Parse a transcript into turns with roles.

    ``data`` is the file's bytes, its text (a ``str`` is always the text itself, never a
    file name: a refusal of a ``str`` that names a file says to pass a path) or a path
    (``pathlib.Path``): the one case where this reads a file, at most ``max_bytes`` + 1 of
    it, for notebooks. ``filename`` is used in error messages and as a
    format hint (a path's name by default); ``format`` forces a parser. ``max_bytes``
    defaults to the ``transcript_max_bytes`` setting. ``speakers="alternate"`` reads a file
    that has no speaker labels at all as two speakers taking turns (with a warning); by
    default such a file is refused. Raises :class:`TranscriptError` (one line, with the line
    number) for anything unreadable.
    """
    if speakers not in SPEAKER_MODES:
        raise ValueError(f"speakers={speakers!r}: choose one of {', '.join(SPEAKER_MODES)}")
    if isinstance(data, os.PathLike):
        filename = filename if filename is not None else os.fspath(data)
    try:
        if isinstance(data, os.PathLike):
            data = _read_path(data, _limit(max_bytes))
        return _parse(data, filename, format, therapist, name_map, max_bytes, speakers)
    except TranscriptError as exc:
        if _names_a_file(data):
            # A str is text (an upload's text must never open a file), but a notebook user
            # who passed a file name wants to hear how to read it.
            exc = TranscriptError(
                f"{exc.message}; this text is the name of a file: to read the file, pass "
                "pathlib.Path(...) instead of a str",
                line=exc.line,
            )
        raise exc.with_source(filename) from None


def _names_a_file(data: object) -> bool:
    if not isinstance(data, str) or "\n" in data or not 0 < len(data) < 4096:
        return False
    try:
        return os.path.isfile(data)
    except (OSError, ValueError):  # a NUL character or a name the system refuses
        return False


def _limit(max_bytes: int | None) -> int:
    if max_bytes is not None:
        return max_bytes
    from alliance.config import get_settings

    return get_settings().transcript_max_bytes


def _read_path(path: os.PathLike[str], max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes: enough to report the size limit, never more."""
    try:
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise TranscriptError(f"cannot read the file: {reason or exc}") from None


def _parse(
    data: bytes | str,
    filename: str | None,
    format: Format | None,
    therapist: str | Sequence[str] | None,
    name_map: Mapping[str, Role] | None,
    max_bytes: int | None,
    speakers: SpeakerMode,
) -> Transcript:
    max_bytes = _limit(max_bytes)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise TranscriptError(
            f"file is {len(raw):,} bytes, over the limit of {max_bytes:,} "
            "(setting transcript_max_bytes); the limit is crossed on this line",
            line=_line_at(raw, max_bytes),
        )
    text = _normalise(data) if isinstance(data, str) else decode(raw)
    if not text.strip():
        raise TranscriptError("empty transcript", line=1)
    fmt = format or detect_format(text, filename)
    dropped = _Dropped()
    segments = PARSERS[fmt](text, dropped)
    if not segments and dropped.count and not dropped.cues:
        # Every cue was a sound ("(MUSIC)", "[laughs]"): there is no line to point at.
        raise TranscriptError(
            f"no speech in this {fmt} transcript: only {dropped.count} sound description"
            f"{'s' if dropped.count > 1 else ''} (such as {dropped.example!r})"
        )
    if not segments:
        raise _after_skips(
            TranscriptError(f"no utterances found in this {fmt} transcript", line=1), dropped
        )
    stray = _stray_labels(segments, fmt, dropped)
    if stray and speakers == "alternate":
        # Read the cues again, every "Name:" as words, for two speakers taking turns.
        dropped = _Dropped(read_labels=False)
        segments = PARSERS[fmt](text, dropped)
    segments, guessed = _name_speakers(segments, speakers, fmt, stray)
    turns = merge_turns(segments)
    names = list(dict.fromkeys(t.speaker for t in turns))
    if len(names) < 2:
        raise _after_skips(
            TranscriptError(
                f"only one speaker ({names[0]!r}); a session needs a therapist and a client",
                line=turns[0].line,
            ),
            dropped,
        )
    assignment = assign_roles(
        [(t.speaker, t.text) for t in turns], therapist=therapist, name_map=name_map
    )
    utterances = tuple(
        Utterance(
            id=f"u{i}",
            index=i - 1,
            speaker=t.speaker,
            role=assignment.roles[t.speaker],
            text=t.text,
            start=t.start,
            end=t.end,
            line=t.line,
            fragments=fragments,
        )
        for i, (t, fragments) in enumerate(zip(turns, _run_lengths(segments), strict=True), 1)
    )
    people = tuple(
        Speaker(
            name=name,
            role=assignment.roles[name],
            turns=sum(1 for u in utterances if u.speaker == name),
            words=sum(u.words for u in utterances if u.speaker == name),
        )
        for name in names
    )
    warnings: list[str] = []
    if guessed:
        warnings.append(guessed)
    if dropped.cues:
        warnings.append(_skipped_cues_warning(dropped.cues, fmt))
    if dropped.rolled:
        warnings.append(
            f"rolling captions: {dropped.rolled} line{'s' if dropped.rolled > 1 else ''} "
            "shown again in the next cue left out, so that no words count twice"
        )
    if dropped.count:
        warnings.append(
            f"{dropped.count} sound description{'s' if dropped.count > 1 else ''} "
            f"(such as {dropped.example!r}) left out: not speech"
        )
    if assignment.method == "inferred" and assignment.confidence < 0.7:
        therapists = ", ".join(n for n, r in assignment.roles.items() if r == "therapist")
        warnings.append(
            f"therapist inferred as {therapists} with low confidence "
            f"{assignment.confidence:.2f}; pass --therapist NAME to be sure"
        )
    timing: Timing = "none"
    if all(u.start is not None for u in utterances):
        complete = all(u.end is not None for u in utterances)
        timing = "cues" if complete and fmt != "text" else "starts"
    return Transcript(
        timing=timing,
        utterances=utterances,
        speakers=people,
        roles=assignment,
        format=fmt,
        source=filename,
        warnings=tuple(warnings),
    )


def _after_skips(exc: TranscriptError, dropped: _Dropped) -> TranscriptError:
    """A refusal that skipped cues may have caused (nothing left, or one speaker left): the
    one line starts at the first skipped cue, the likely cause."""
    if not dropped.cues:
        return exc
    line, reason, hint = dropped.cues[0]
    more = len(dropped.cues) - 1
    others = f" and {more} more unreadable cue{'s' if more > 1 else ''}" if more else ""
    return TranscriptError(
        f"{reason}{hint}{others}; without {'them' if more else 'it'}: {exc.message}", line=line
    )


def _skipped_cues_warning(cues: Sequence[tuple[int, str, str]], fmt: Format) -> str:
    """One line naming each unreadable cue block that was left out (the first three)."""
    library = "webvtt-py" if fmt == "vtt" else "pysrt"
    shown = "; ".join(f"line {line}: {reason}" for line, reason, _ in cues[:3])
    more = f"; and {len(cues) - 3} more" if len(cues) > 3 else ""
    count = f"{len(cues)} cues" if len(cues) > 1 else "1 cue"
    them = "them" if len(cues) > 1 else "it"
    return f"{count} skipped, as {library} cannot read {them} ({shown}{more})"


def _run_lengths(segments: Sequence[Segment]) -> list[int]:
    """How many raw fragments each merged turn holds (runs of one speaker)."""
    runs: list[int] = []
    previous: str | None = None
    for seg in segments:
        if runs and seg.speaker == previous:
            runs[-1] += 1
        else:
            runs.append(1)
        previous = seg.speaker
    return runs
