"""Subtitle and transcript files as real tools write them (tests/data/transcripts, written
for these tests): Teams, Whisper, YouTube-style captions, subtitles for viewers, odd
encodings and line endings, files without speaker labels, and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.transcripts import Transcript, TranscriptError, parse_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


def parse(name: str, **kwargs: object) -> Transcript:
    return parse_transcript(DATA / name, **kwargs)  # type: ignore[arg-type]


def turns(t: Transcript) -> list[tuple[str, str]]:
    return [(u.speaker, u.text) for u in t.utterances]


def error_for(name: str, **kwargs: object) -> TranscriptError:
    with pytest.raises(TranscriptError) as info:
        parse(name, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(DATA / name))
    return info.value


# --- files that must be read ------------------------------------------------------------------


def test_it_reads_teams_short_timings_with_cue_identifiers() -> None:
    t = parse("teams_short_timings.vtt")
    assert [s.name for s in t.speakers] == ["Rowan Achebe", "Ines Varga"]
    assert (t.utterances[0].start, t.utterances[0].end) == (0.0, 3.57)
    moved = t.utterances[1]  # two cues of Ines's, "0:0:11.50" ends the second
    assert moved.fragments == 2
    assert (moved.start, moved.end) == (4.12, 11.5)
    assert moved.text.endswith("the cat hid under the bath for two days.")
    assert not any("6f1d2a9e" in u.text for u in t.utterances)
    assert t.roles.roles["Rowan Achebe"] == "therapist"


def test_header_metadata_style_region_note_blocks_and_cue_settings_are_not_speech() -> None:
    t = parse("captions_settings_notes.vtt")
    assert turns(t) == [
        ("Coach Dana", "Thanks for coming in, Felix."),
        ("Felix", "It took me three weeks to book it, so thanks for waiting."),
        ("Coach Dana", "Three weeks of thinking about it. What tipped it in the end?"),
        ("Felix", "My sister booked it for me, to be fair."),
    ]
    lines = (DATA / "captions_settings_notes.vtt").read_text(encoding="utf-8").split("\n")
    # each turn points at its cue's timing line, settings and all
    assert lines[t.utterances[0].line - 1].startswith("00:00:02.100 --> 00:00:05.800 align:start")
    assert lines[t.utterances[1].line - 1].endswith("line:85% align:middle")
    # [Music], the piano line and [laughs] are sounds, counted in one warning
    assert any(w.startswith("3 sound descriptions") for w in t.warnings)


def test_a_bom_windows_newlines_and_no_final_newline_change_nothing() -> None:
    raw = (DATA / "bom_crlf_no_final_newline.vtt").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw
    assert not raw.endswith(b"\n")
    t = parse("bom_crlf_no_final_newline.vtt")
    assert turns(t) == [
        ("Therapist", "Shall we look at the diary you kept?"),
        ("Marek", "Yes. Most days I wrote something, except Thursday."),
    ]
    assert [u.line for u in t.utterances] == [4, 8]
    assert t.utterances[1].end == 8.25


def test_text_given_as_a_str_with_a_bom_and_windows_newlines_reads_the_same() -> None:
    text = (DATA / "bom_crlf_no_final_newline.vtt").read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    assert turns(parse_transcript(text)) == turns(parse("bom_crlf_no_final_newline.vtt"))


def test_srt_with_dots_numbering_gaps_and_no_final_newline() -> None:
    t = parse("srt_dots_and_gaps.srt")
    assert t.format == "srt"
    assert [u.speaker for u in t.utterances] == ["Counsellor", "Priti"] * 2
    assert t.utterances[1].text == "My GP suggested it. I've been snapping at everyone at work."
    assert (t.utterances[3].start, t.utterances[3].end) == (13.2, 16.9)
    assert t.utterances[3].line == 15


def test_srt_styling_tags_position_codes_and_sdh_labels() -> None:
    t = parse("srt_styled_sdh.srt")
    assert turns(t) == [
        ("THERAPIST", "Come in, have a seat wherever you like."),
        ("OLU", "Thanks. Sorry I'm late, the bus broke down. It's been one of those weeks."),
        ("THERAPIST", "One of those weeks?"),  # a dialogue-dash cue with two voices
        ("OLU", "Everything at once."),
        ("THERAPIST", "Let's start with the part that's weighing on you most."),
    ]
    text = " ".join(u.text for u in t.utterances)
    for left_out in ("{", "<", "DOOR", "SIGHS", "inaudible", "radio"):
        assert left_out not in text
    assert any(w.startswith("4 sound descriptions") for w in t.warnings)
    assert t.roles.roles == {"THERAPIST": "therapist", "OLU": "client"}


@pytest.mark.parametrize(
    ("name", "speakers", "first"),
    [
        ("utf32_bom.txt", ["Therapist", "Zoé"], "Où voulez-vous commencer aujourd’hui ?"),
        ("utf16be_bom.srt", ["Therapeut", "Jörg"], "Wie war die Woche?"),
    ],
)
def test_it_decodes_utf32_and_big_endian_utf16_with_a_bom(
    name: str, speakers: list[str], first: str
) -> None:
    t = parse(name)
    assert [s.name for s in t.speakers] == speakers
    assert t.utterances[0].text == first


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be"])
def test_every_byte_order_mark_is_honoured(encoding: str) -> None:
    text = "\ufeffTherapist: Ça va ?\nZoë: Oui – merci.\n"
    t = parse_transcript(text.encode(encoding))
    assert turns(t) == [("Therapist", "Ça va ?"), ("Zoë", "Oui – merci.")]


def test_bad_bytes_in_a_utf16_file_are_refused_on_their_line() -> None:
    data = "\ufeffTherapist: hello\nClient: hi\nTherapist: ".encode("utf-16-le") + b"\x00\xdc"
    with pytest.raises(TranscriptError) as info:
        parse_transcript(data)
    assert info.value.line == 3


# --- sound descriptions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "spoken"),
    [
        ("Kim: [laughs] Maybe.", "Maybe."),
        ("Kim: Maybe. (music)", "Maybe."),
        ("Kim: Maybe ♪ la la la ♪ not.", "Maybe not."),
        ("Kim: I said [inaudible] to him.", "I said to him."),
        ("Kim: [MUSIC PLAYING] Right.", "Right."),
        ("Kim: (clears throat) Sorry.", "Sorry."),
        # asides that are words, not sounds, stay
        ("Kim: I paid (well, mostly) on time.", "I paid (well, mostly) on time."),
        ("Kim: I told [my sister] first.", "I told [my sister] first."),
    ],
)
def test_sound_descriptions_are_taken_out_of_the_words(line: str, spoken: str) -> None:
    t = parse_transcript(f"Therapist: How was it?\n{line}\n")
    assert t.utterances[1].text == spoken


def test_cues_that_are_only_sounds_are_neither_speakers_nor_utterances() -> None:
    text = (
        "WEBVTT\n\n00:01.000 --> 00:02.000\n[laughs]\n\n"
        "00:02.000 --> 00:03.000\n<v Therapist>How was it?\n\n"
        "00:03.000 --> 00:04.000\n(music)\n\n"
        "00:04.000 --> 00:05.000\n♪ one more verse\n\n"
        "00:05.000 --> 00:06.000\n<v Kim>[inaudible]\n\n"
        "00:06.000 --> 00:07.000\n<v Kim>Fine.\n"
    )
    t = parse_transcript(text)
    assert turns(t) == [("Therapist", "How was it?"), ("Kim", "Fine.")]
    assert t.warnings[0] == "4 sound descriptions (such as '[laughs]') left out: not speech"


def test_a_bracketed_name_before_the_words_is_still_a_speaker() -> None:
    t = parse_transcript(
        "1\n00:00:01,000 --> 00:00:02,000\n[Sam] Hello.\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\n[Therapist] [sighs] Hi Sam.\n"
    )
    assert turns(t) == [("Sam", "Hello."), ("Therapist", "Hi Sam.")]


# --- files without speaker labels -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("whisper_no_speakers.vtt", 3),
        ("whisper_no_speakers.srt", 2),
        ("whisper_segments.json", 4),
        ("whisper_plain.txt", 1),
    ],
)
def test_a_file_without_labels_is_refused_naming_the_option(name: str, line: int) -> None:
    err = error_for(name)
    assert err.line == line
    assert "no speaker labels" in str(err)
    assert "--speakers alternate" in str(err)


def test_alternate_reads_whisper_vtt_as_two_speakers_taking_turns() -> None:
    t = parse("whisper_no_speakers.vtt", speakers="alternate")
    assert [u.speaker for u in t.utterances] == ["Speaker 1", "Speaker 2"] * 2
    assert t.utterances[1].text == (
        "The exam, I think. It's in nine days and I haven't started revising."
    )
    assert (t.utterances[3].start, t.utterances[3].end) == (10.04, 13.9)  # hours-less times
    assert t.roles.roles["Speaker 1"] == "therapist"
    assert any("no speaker labels" in w for w in t.warnings)


def test_alternate_splits_a_dialogue_dash_cue_and_joins_broken_lines() -> None:
    t = parse("whisper_no_speakers.srt", speakers="alternate")
    assert turns(t) == [
        ("Speaker 1", "How did the conversation with your manager go?"),
        ("Speaker 2", "Better than I feared. She listened."),
        ("Speaker 1", "That's a change."),
        ("Speaker 2", "It is. I nearly cried."),
    ]


def test_alternate_reads_whisper_json_segments() -> None:
    t = parse("whisper_segments.json", speakers="alternate")
    assert turns(t) == [
        ("Speaker 1", "Where shall we begin?"),
        ("Speaker 2", "With the letter from the council."),
        ("Speaker 1", "Tell me about the letter."),  # [BLANK_AUDIO] is not a turn
    ]
    assert t.utterances[2].start == 5.4
    assert t.utterances[2].line == 7


def test_alternate_reads_plain_lines_or_paragraphs() -> None:
    t = parse("whisper_plain.txt", speakers="alternate")
    assert [u.line for u in t.utterances] == [1, 2, 4, 5]  # line 3 is [inaudible]
    assert t.utterances[2].speaker == "Speaker 1"
    paragraphs = parse_transcript(
        "How has the week\nbeen for you?\n\nLong.\nVery long.\n\nTell me.\n", speakers="alternate"
    )
    assert turns(paragraphs) == [
        ("Speaker 1", "How has the week been for you?"),
        ("Speaker 2", "Long. Very long."),
        ("Speaker 1", "Tell me."),
    ]


def test_alternate_leaves_labelled_files_alone() -> None:
    labelled = parse("teams_short_timings.vtt", speakers="alternate")
    assert turns(labelled) == turns(parse("teams_short_timings.vtt"))
    assert labelled.warnings == ()


def test_an_unknown_speakers_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="speakers='guess'"):
        parse_transcript("A: hi\nB: hello\n", speakers="guess")  # type: ignore[arg-type]


# --- paths ------------------------------------------------------------------------------------


def test_a_path_is_read_and_names_the_source() -> None:
    t = parse_transcript(DATA / "srt_dots_and_gaps.srt")
    assert t.source == str(DATA / "srt_dots_and_gaps.srt")
    assert turns(t) == turns(
        parse_transcript((DATA / "srt_dots_and_gaps.srt").read_bytes(), filename="x")
    )


def test_a_missing_path_is_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError) as info:
        parse_transcript(tmp_path / "gone.vtt")
    assert str(info.value) == f"{tmp_path / 'gone.vtt'}: cannot read the file: no such file"


def test_a_large_path_is_only_read_up_to_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("Therapist: how are you?\nClient: fine.\n" * 1000)
    with pytest.raises(TranscriptError) as info:
        parse_transcript(big, max_bytes=500)
    assert "over the limit of 500" in str(info.value)


def test_a_str_is_always_text_never_a_file_name() -> None:
    with pytest.raises(TranscriptError) as info:
        parse_transcript(str(DATA / "srt_dots_and_gaps.srt"))
    assert "no speaker labels" in str(info.value)


# --- broken files: the real line of the fault --------------------------------------------------


def test_a_file_with_text_before_its_first_label_is_refused_on_that_line() -> None:
    err = error_for("bad_unlabelled_start.vtt")
    assert err.line == 3
    assert "cue text without a speaker" in str(err)
    lines = (DATA / "bad_unlabelled_start.vtt").read_text(encoding="utf-8").split("\n")
    assert lines[2].strip()  # the line named is in the file, not a blank


@pytest.mark.parametrize(
    ("name", "line", "words"),
    [
        ("bad_comma_timing.vtt", 11, "malformed cue timing '00:00:05,500 --> 00:00:07,000'"),
        ("bad_missing_timing.srt", 10, "cue 3 has no 'start --> end' timing line"),
    ],
)
def test_a_cue_the_library_cannot_read_is_skipped_with_a_warning_naming_its_line(
    name: str, line: int, words: str
) -> None:
    # webvtt-py and pysrt skip such a block and read the rest: so do we, but never silently.
    lines = (DATA / name).read_text(encoding="utf-8").split("\n")
    t = parse(name)
    warning = next(w for w in t.warnings if "skipped" in w)
    assert f"(line {line}: {words})" in warning
    assert lines[line - 1].strip()  # the line named is in the file, not a blank
    assert all(u.line != line for u in t.utterances)


def test_a_refusal_after_skipped_cues_names_the_skipped_cue() -> None:
    # Skipping cue 2 leaves only the therapist: the refusal says which cue went missing.
    err = error_for("bad_letter_timing.srt")
    assert err.line == 6
    assert str(err).endswith(
        ": line 6: malformed cue timing '00:00:03,000 --> 00:00:0O,500' (SRT times look like "
        "00:01:02,500); without it: only one speaker ('Therapist'); a session needs a "
        "therapist and a client"
    )


def test_text_before_the_first_label_names_where_that_label_is() -> None:
    err = error_for("bad_unlabelled_start.vtt")
    assert str(err).endswith("the first speaker label is 'Dr Sato' on line 6")  # its cue's timing


def test_substation_line_breaks_in_srt_text_are_spaces() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nTherapist: And\\Nthen?\n\n"
        "2\n00:00:02,500 --> 00:00:05,000\nJo: I\\hleft.\n"
    )
    assert turns(parse_transcript(text)) == [("Therapist", "And then?"), ("Jo", "I left.")]


def test_a_webvtt_py_failure_is_reported_on_the_block_that_caused_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import webvtt

    real = webvtt.from_string

    def failing(text: str, *args: object, **kwargs: object) -> object:
        if "00:00:05.000" in text:
            raise ValueError("a failure\ninside the library")
        return real(text)

    monkeypatch.setattr(webvtt, "from_string", failing)
    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA: hi\n\n"
        "00:00:03.000 --> 00:00:04.000\nB: yo\n\n00:00:05.000 --> 00:00:06.000\nA: so\n"
    )
    with pytest.raises(TranscriptError) as info:
        parse_transcript(text, filename="f.vtt")
    assert str(info.value) == "f.vtt: line 9: not valid WebVTT: a failure inside the library"


def test_text_in_a_note_with_an_arrow_is_skipped_as_webvtt_py_does() -> None:
    text = (
        "WEBVTT\n\nNOTE exported\nfrom A --> B\n\n"
        "00:01.000 --> 00:02.000\nA: hi\n\n00:03.000 --> 00:04.000\nB: yo\n"
    )
    assert turns(parse_transcript(text)) == [("A", "hi"), ("B", "yo")]


def test_an_empty_cue_inside_the_file_is_skipped_but_a_cut_off_last_cue_is_refused() -> None:
    middle = (
        "1\n00:00:01,000 --> 00:00:02,000\nA: hi\n\n2\n00:00:02,500 --> 00:00:03,000\n\n"
        "3\n00:00:03,000 --> 00:00:04,000\nB: yo\n"
    )
    assert turns(parse_transcript(middle)) == [("A", "hi"), ("B", "yo")]
    with pytest.raises(TranscriptError) as info:
        parse_transcript(middle + "\n4\n00:00:05,000 --> 00:00:06,000\n")
    assert info.value.line == 13  # the timing line of cue 4
    assert "truncated" in str(info.value)


def test_a_blank_line_inside_srt_cue_text_joins_it_to_the_cue() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nTherapist: And then?\n\n"
        "2\n00:00:02,500 --> 00:00:05,000\nJo: I left.\n\nI just left.\n\n"
        "3\n00:00:05,500 --> 00:00:06,000\nTherapist: Okay.\n"
    )
    assert parse_transcript(text).utterances[1].text == "I left. I just left."
