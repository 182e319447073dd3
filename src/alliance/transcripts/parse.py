"""Read a transcript from bytes: decode, detect the format, parse, merge turns, assign roles.

One parser per format, each returning raw :class:`Segment` fragments with the source line
they came from:

- WebVTT (Zoom, Teams): ``<v Name>`` voice tags — several per cue allowed — and "Name: text"
  cues; parsed with webvtt-py after a line-by-line check that gives errors a line number.
- SRT: pysrt after the same check; speakers from "Name: text" or "[Name] text".
- plain text: "Name: text", "T:"/"C:", optional ``[hh:mm:ss]`` or ``hh:mm:ss`` before the
  name or ``(hh:mm:ss)`` after it; lines without a label continue the previous turn.
- JSON: a list of ``{speaker, text, start, end}`` objects (or an object holding that list
  under ``utterances``/``segments``/``turns``).
- CSV: a header with speaker and text columns and optional start/end (``,`` ``;`` or tab).

The format comes from the content first and the file extension only breaks ties. Every
failure raises :class:`TranscriptError` with the line it concerns.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import pysrt
import webvtt

from alliance.transcripts.model import (
    Format,
    Role,
    Segment,
    Speaker,
    Timing,
    Transcript,
    TranscriptError,
    Utterance,
)
from alliance.transcripts.roles import assign_roles

# ---------------------------------------------------------------------------------------------
# Decoding


def _line_at(data: bytes | str, position: int) -> int:
    newline: Any = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, position) + 1


def decode(data: bytes) -> str:
    """Bytes to text: BOM (utf-8-sig, utf-16 LE/BE), BOM-less utf-16, utf-8, then cp1252.

    Refuses binary data (NUL bytes in a non-utf-16 file, or many control characters) and
    bytes that no supported encoding can read, naming the line of the first bad byte.
    Newlines are normalised to ``\\n``.
    """
    text: str
    if data.startswith(b"\xef\xbb\xbf"):
        text = _strict(data[3:], "utf-8")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _strict(data, "utf-16")
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
    text = text.replace("\r\n", "\n").replace("\r", "\n")
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
        raise TranscriptError(
            f"bytes that are not valid {encoding} text (tried utf-8, utf-16 and cp1252)",
            line=_line_at(data, exc.start),
        ) from None


# ---------------------------------------------------------------------------------------------
# Shared helpers

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TIMING_LINE = re.compile(rf"^\s*(?P<start>{_TIME})\s*-->\s*(?P<end>{_TIME})(?:\s+.*)?$")
# A speaker label: starts with a letter, at most five words, no sentence punctuation.
_NAME = r"[^\W\d_][\w.'’\-]*(?:\s[\w.'’\-()]+){0,4}"
_NAME_COLON = re.compile(rf"^\s*-?\s*(?P<name>{_NAME})\s*:\s+(?P<text>\S.*)$")
_NAME_BRACKET = re.compile(rf"^\s*\[(?P<name>{_NAME})\]\s*(?P<text>\S.*)$")
_VOICE = re.compile(r"^\s*<v(?:\.[\w.-]+)?\s+(?P<name>[^>]+)>(?P<text>.*)$")
# Markup inside cue text: <v>, <c.class>, <i>, <b>, <u>, <lang> and karaoke times <00:01.000>.
_TAG = re.compile(r"</?[a-z][^>]*>|<\d[\d:.]*>", re.IGNORECASE)
# Words that look like labels but start ordinary sentences ("Note: …" is kept as a label).
_NOT_NAMES = {"http", "https", "so", "and", "but", "because", "well", "like", "then"}


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
        if match and match.group("name").split()[0].casefold() not in _NOT_NAMES:
            return match.group("name").strip(), match.group("text").strip()
    return None, text.strip()


def _clean(text: str) -> str:
    return " ".join(_TAG.sub("", text).split())


def _check_cue_file(text: str, kind: str) -> list[int]:
    """Check every timing line and that no cue is cut off; return the timing lines' numbers."""
    lines = text.split("\n")
    timing_lines: list[int] = []
    in_note = False
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            in_note = False
            continue
        if kind == "vtt" and stripped.startswith(("NOTE", "STYLE", "REGION")):
            in_note = True
        if in_note or "-->" not in stripped:
            continue
        match = _TIMING_LINE.match(stripped)
        if not match:
            raise TranscriptError(f"malformed cue timing {stripped[:60]!r}", line=number)
        start = parse_time(match.group("start"), line=number)
        end = parse_time(match.group("end"), line=number)
        if start is not None and end is not None and end < start:
            raise TranscriptError("cue ends before it starts", line=number)
        timing_lines.append(number)
    if not timing_lines:
        raise TranscriptError(f"no cues (no 'start --> end' timing lines) in this {kind} file")
    last = timing_lines[-1]
    if not any(line.strip() for line in lines[last:]):
        raise TranscriptError("the last cue has no text: the file looks truncated", line=last)
    return timing_lines


def _segments_from_cue_lines(
    cue_lines: Sequence[str],
    start: float | None,
    end: float | None,
    line: int,
    previous: str | None,
) -> list[Segment]:
    """Turn the text lines of one cue into segments (one per speaker change)."""
    segments: list[Segment] = []
    speaker = previous
    for raw in cue_lines:
        voice = _VOICE.match(raw)
        if voice:
            speaker = voice.group("name").strip()
            body = voice.group("text")
        else:
            name, body = _split_speaker(_clean(raw))
            if name is not None:
                speaker = name
        body = html.unescape(_clean(body))  # cue text escapes &, < and > as entities
        if not body:
            continue
        if speaker is None:
            raise TranscriptError(
                "cue text without a speaker (expected '<v Name>' or 'Name: text')", line=line
            )
        if segments and segments[-1].speaker == speaker:
            last = segments[-1]
            segments[-1] = Segment(speaker, f"{last.text} {body}", start, end, line)
        else:
            segments.append(Segment(speaker, body, start, end, line))
    return segments


def _segments_from_cues(
    cues: Iterable[tuple[Sequence[str], float | None, float | None, int]],
) -> list[Segment]:
    """Segments of a cue file (WebVTT, SRT): one place for carrying the last speaker from
    cue to cue, so a cue without a name continues the previous speaker in both formats.
    Each cue is (text lines, start, end, line of its timing)."""
    segments: list[Segment] = []
    previous: str | None = None
    for cue_lines, start, end, line in cues:
        found = _segments_from_cue_lines(cue_lines, start, end, line, previous)
        if found:
            previous = found[-1].speaker
        segments.extend(found)
    return segments


# ---------------------------------------------------------------------------------------------
# Parsers, one per format


def parse_vtt(text: str) -> list[Segment]:
    """WebVTT (Zoom, Teams): voice tags, several voices in one cue, or "Name: text"."""
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    if not first.lstrip("\ufeff").startswith("WEBVTT"):
        raise TranscriptError("a WebVTT file must start with 'WEBVTT'", line=1)
    timing_lines = _check_cue_file(text, "vtt")
    try:
        captions = webvtt.from_string(text).captions
    except Exception as exc:  # webvtt-py raises several unrelated types
        raise TranscriptError(f"not valid WebVTT: {exc}", line=1) from None
    return _segments_from_cues(
        (
            caption.lines,
            parse_time(caption.start, line=line),
            parse_time(caption.end, line=line),
            line,
        )
        for caption, line in zip(captions, timing_lines, strict=False)
    )


def parse_srt(text: str) -> list[Segment]:
    """SRT subtitles; the speaker comes from "Name: text" or "[Name] text" in each cue."""
    timing_lines = _check_cue_file(text, "srt")
    try:
        items = pysrt.from_string(text, error_handling=pysrt.ERROR_RAISE)
    except Exception as exc:  # pysrt.Error and its subclasses, or a ValueError inside
        raise TranscriptError(f"not valid SRT: {exc}", line=1) from None
    return _segments_from_cues(
        (item.text.split("\n"), item.start.ordinal / 1000.0, item.end.ordinal / 1000.0, line)
        for item, line in zip(items, timing_lines, strict=False)
    )


_PLAIN = re.compile(
    rf"^\s*(?:[\[(](?P<ts>{_TIME})[\])]|(?P<bare>{_TIME}))?\s*[-–]?\s*"
    rf"(?P<name>{_NAME}?)\s*(?:[\[(](?P<ts2>{_TIME})[\])])?\s*:(?:\s+|$)(?P<text>.*)$"
)


# Otter.ai / Teams exports: a "Name  0:03" (or "Name 00:01:02") line, the words below it.
_HEADER = re.compile(
    rf"^\s*(?P<name>{_NAME}?)\s{{2,}}(?P<ts>{_TIME})\s*$|^\s*(?P<name2>{_NAME}?)"
    rf"\s+(?P<ts2>{_TIME})\s*$"
)


def parse_text(text: str) -> list[Segment]:
    """Plain "Name: text" lines, optionally timestamped; unlabelled lines continue a turn.

    Also the Otter.ai / Teams layout: a line holding only a name and a time, then the words.
    """
    segments: list[Segment] = []
    preamble: int | None = None
    for number, line in enumerate(text.split("\n"), start=1):
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
            body = _clean(match.group("text"))
            start = parse_time(stamp, line=number) if stamp else None
            segments.append(Segment(name, body, start, None, number))
        elif segments:
            last = segments[-1]
            body = f"{last.text} {_clean(line)}".strip()
            segments[-1] = Segment(last.speaker, body, last.start, last.end, last.line)
        elif preamble is None:
            preamble = number
    if not segments:
        raise TranscriptError(
            "unknown layout: no 'Name: text' lines (or WebVTT, SRT, JSON, CSV) found",
            line=preamble or 1,
        )
    segments = [s for s in segments if s.text]
    return _fill_ends(segments)


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


def parse_json(text: str) -> list[Segment]:
    """A JSON list of utterance objects; key names are matched case-insensitively."""
    segments: list[Segment] = []
    for item, line in _json_items(text):
        if not isinstance(item, dict):
            raise TranscriptError("each utterance must be an object", line=line)
        speaker = _pick(item, _SPEAKER_KEYS)
        body = _pick(item, _TEXT_KEYS)
        if speaker is None or str(speaker).strip() == "":
            raise TranscriptError("utterance has no 'speaker'", line=line)
        if not isinstance(body, str):
            raise TranscriptError("utterance has no 'text' string", line=line)
        start = parse_time(_pick(item, _START_KEYS), line=line)
        end = parse_time(_pick(item, _END_KEYS), line=line)
        if start is not None and end is not None and end < start:
            raise TranscriptError("utterance ends before it starts", line=line)
        if _clean(body):
            segments.append(Segment(str(speaker).strip(), _clean(body), start, end, line))
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


def parse_csv(text: str) -> list[Segment]:
    """CSV with a header naming speaker and text columns (start/end optional)."""
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
            body = _clean(row[columns["text"]])
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


PARSERS: Mapping[Format, Callable[[str], list[Segment]]] = {
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
_SRT_START = re.compile(rf"^\s*\d+\s*\n\s*{_TIME}\s*-->", re.MULTILINE)
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
# Turns and the whole transcript


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
    data: bytes | str,
    *,
    filename: str | None = None,
    format: Format | None = None,
    therapist: str | Sequence[str] | None = None,
    name_map: Mapping[str, Role] | None = None,
    max_bytes: int | None = None,
) -> Transcript:
    """Parse a transcript from raw bytes (or text) into turns with roles.

    ``filename`` is used in error messages and as a format hint; ``format`` forces a
    parser. ``max_bytes`` defaults to the ``transcript_max_bytes`` setting. Raises
    :class:`TranscriptError` (one line, with the line number) for anything unreadable.
    """
    try:
        return _parse(data, filename, format, therapist, name_map, max_bytes)
    except TranscriptError as exc:
        raise exc.with_source(filename) from None


def _parse(
    data: bytes | str,
    filename: str | None,
    format: Format | None,
    therapist: str | Sequence[str] | None,
    name_map: Mapping[str, Role] | None,
    max_bytes: int | None,
) -> Transcript:
    if max_bytes is None:
        from alliance.config import get_settings

        max_bytes = get_settings().transcript_max_bytes
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise TranscriptError(
            f"file is {len(raw):,} bytes, over the limit of {max_bytes:,} "
            "(setting transcript_max_bytes); the limit is crossed on this line",
            line=_line_at(raw, max_bytes),
        )
    text = data if isinstance(data, str) else decode(raw)
    if not text.strip():
        raise TranscriptError("empty transcript", line=1)
    fmt = format or detect_format(text, filename)
    segments = PARSERS[fmt](text)
    if not segments:
        raise TranscriptError(f"no utterances found in this {fmt} transcript", line=1)
    turns = merge_turns(segments)
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    if len(speakers) < 2:
        raise TranscriptError(
            f"only one speaker ({speakers[0]!r}); a session needs a therapist and a client",
            line=turns[0].line,
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
        for name in speakers
    )
    warnings: list[str] = []
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
