"""Bad input: one clear line naming the file and the line, for every kind of failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.transcripts import TranscriptError, parse_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


def error_for(data: bytes | str, **kwargs: object) -> TranscriptError:
    with pytest.raises(TranscriptError) as info:
        parse_transcript(data, filename="x", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("x")
    return info.value


def test_an_empty_file_is_refused_on_line_1() -> None:
    err = error_for(b"  \n\n ")
    assert err.line == 1
    assert "empty" in str(err)


def test_binary_data_is_refused_with_the_line_of_the_first_nul_byte() -> None:
    err = error_for(b"Therapist: hello\nClient: hi\n\x89PNG\x00\x00\x1a")
    assert err.line == 3
    assert "binary" in str(err)


def test_undecodable_bytes_name_their_line() -> None:
    # 0x81 is undefined in cp1252 and invalid utf-8
    err = error_for(b"Therapist: hello\nClient: caf\x81\n")
    assert err.line == 2


def test_a_truncated_vtt_cue_is_refused_at_its_timing_line() -> None:
    text = (DATA / "zoom_session.vtt").read_text()
    cut = text[: text.rindex("Tom Becker: Okay.")]
    err = error_for(cut.encode())
    assert err.line == cut.rstrip().count("\n") + 1
    assert "truncated" in str(err)


def test_a_malformed_vtt_timing_line_is_skipped_as_webvtt_py_skips_it_and_named() -> None:
    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:0x.000\nA: hi\n\n00:00:02.000 --> 00:00:03.000\nB: yo\n"
        "\n00:00:03.000 --> 00:00:04.000\nA: so\n"
    )
    t = parse_transcript(text)
    assert [(u.speaker, u.text) for u in t.utterances] == [("B", "yo"), ("A", "so")]
    assert t.warnings[0] == (
        "1 cue skipped, as webvtt-py cannot read it "
        "(line 3: malformed cue timing '00:00:01.000 --> 00:00:0x.000')"
    )


def test_a_file_where_no_cue_can_be_read_is_refused_on_the_first_bad_one() -> None:
    text = (
        "WEBVTT\n\nNOTE two bad cues\n\n00:00:01,000 --> 00:00:02,000\nA: hi\n\n"
        "00:0x --> 1\nB: yo\n"
    )
    err = error_for(text)
    assert err.line == 5
    assert str(err) == (
        "x: line 5: no cue in this vtt file could be read: malformed cue timing "
        "'00:00:01,000 --> 00:00:02,000' (webvtt-py reads times like 00:01:02.500, 01:02.500 "
        "or 0:1:2.5)"
    )


def test_a_cue_that_ends_before_it_starts_is_refused() -> None:
    text = "1\n00:00:05,000 --> 00:00:04,000\nA: hi\n\n2\n00:00:06,000 --> 00:00:07,000\nB: hey\n"
    err = error_for(text)
    assert err.line == 2
    assert str(err) == (
        "x: line 2: cue 1 ends before it starts ('00:00:05,000 --> 00:00:04,000'): its end "
        "time must not be earlier than its start time"
    )


def test_a_backwards_vtt_cue_is_named_by_its_id_or_its_place_in_the_file() -> None:
    good = "00:00:01.000 --> 00:00:02.000\n<v A>hi\n\n"
    named = error_for(f"WEBVTT\n\n{good}intro-2\n00:00:09.000 --> 00:00:03.000\n<v B>yo\n")
    assert named.line == 7
    assert "cue 'intro-2' ends before it starts ('00:00:09.000 --> 00:00:03.000')" in str(named)
    # Without an id, its place among the cue blocks: a comment block is not counted.
    plain = error_for(f"WEBVTT\n\nNOTE hi\n\n{good}{good}00:01.000 --> 00:00.500\n<v B>yo\n")
    assert plain.line == 11
    assert "cue 3 of the file ends before it starts ('00:01.000 --> 00:00.500')" in str(plain)


def test_a_vtt_without_its_header_is_refused() -> None:
    err = error_for("00:00:01.000 --> 00:00:02.000\nA: hi\n", format="vtt")
    assert err.line == 1
    assert "WEBVTT" in str(err)


def test_truncated_json_names_the_line_where_it_stops() -> None:
    text = (DATA / "session.json").read_text()
    cut = text[: text.index('"Client (Dev)", "text": "Scary')]
    err = error_for(cut)
    assert err.line == cut.count("\n") + 1
    assert "invalid JSON" in str(err)


def test_a_json_item_without_text_names_its_line() -> None:
    err = error_for('[\n{"speaker": "A", "text": "hi"},\n{"speaker": "B"}\n]')
    assert err.line == 3
    assert "text" in str(err)


def test_a_short_csv_row_names_its_line() -> None:
    err = error_for("speaker,text,start,end\nA,hello,1,2\nB,hi\n")
    assert err.line == 3
    assert "fields" in str(err)


def test_an_unclosed_csv_quote_is_refused() -> None:
    err = error_for('speaker,text\nA,"hello\nB,hi\n')
    assert err.line is not None
    assert "CSV" in str(err)


def test_a_bad_time_names_its_line() -> None:
    err = error_for("speaker,text,start\nA,hello,soon\nB,hi,3\n")
    assert err.line == 2
    assert "soon" in str(err)


def test_an_unknown_layout_is_refused() -> None:
    err = error_for("We talked about her week.\nShe seemed tired.\n")
    assert err.line == 1
    assert "unknown layout" in str(err)


def test_a_single_speaker_is_refused_on_their_first_line() -> None:
    err = error_for("Some notes first\nTherapist: hello?\nTherapist: anyone there?\n")
    assert err.line == 2
    assert "one speaker" in str(err)


def test_a_file_over_the_size_limit_is_refused_before_parsing() -> None:
    line = b"Therapist: how are you feeling today?\n"
    err = error_for(line * 100, max_bytes=1000)
    assert err.line == 1000 // len(line) + 1
    assert "limit" in str(err)


def test_the_size_limit_comes_from_settings_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from alliance.config import get_settings

    monkeypatch.setenv("ALLIANCE_TRANSCRIPT_MAX_BYTES", "1000")
    get_settings.cache_clear()
    try:
        err = error_for(b"A: hi\nB: hello\n" * 200)
    finally:
        get_settings.cache_clear()
    assert "1,000" in str(err)
