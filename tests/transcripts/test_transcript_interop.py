"""The world's subtitle files, each written here in a few lines: what webvtt-py and pysrt
accept is accepted, what they skip is skipped aloud (on its line), sound cues are neither
speakers nor turns, every byte order mark is read, and a path is read as well as text."""

from __future__ import annotations

from pathlib import Path

import pysrt
import pytest
import webvtt

from alliance.transcripts import Transcript, TranscriptError, parse_transcript


def turns(t: Transcript) -> list[tuple[str, str]]:
    return [(u.speaker, u.text) for u in t.utterances]


TEAMS = (
    "WEBVTT\n\n"
    "6f1d2a9e-1/12-0\n0:0:0.0 --> 0:0:0.570\n<v Dr Amara Osei>Hello, Lou.</v>\n\n"
    "6f1d2a9e-1/15-0\n0:0:1.20 --> 0:0:3.5\n<v Lou Tran>Hi. It's been a week.</v>\n"
)


def test_teams_short_timings_are_read_with_their_times() -> None:
    t = parse_transcript(TEAMS)
    assert turns(t) == [("Dr Amara Osei", "Hello, Lou."), ("Lou Tran", "Hi. It's been a week.")]
    assert [(u.start, u.end) for u in t.utterances] == [(0.0, 0.57), (1.2, 3.5)]
    assert t.warnings == ()


@pytest.mark.parametrize(
    "timing",
    [
        "00:00:01.000 --> 00:00:02.000",
        "00:01.000 --> 00:02.000",
        "0:0:1.0 --> 0:0:2.0",
        "0:00:01.5 --> 0:00:02.25",
        "101:00:01.000 --> 101:00:02.000",
        "00:00:01.000 --> 00:00:02.000 align:start position:0%",
    ],
)
def test_every_cue_timing_webvtt_py_reads_is_read(timing: str) -> None:
    later = timing.replace("2.", "4.").replace("1.", "3.")
    text = f"WEBVTT\n\n{timing}\nAna: Hi.\n\n{later}\nBo: Hello.\n"
    # The library decides: first it reads the timing, then so must we.
    assert len(webvtt.from_string(text).captions) == 2
    t = parse_transcript(text)
    assert turns(t) == [("Ana", "Hi."), ("Bo", "Hello.")]
    assert not any("skipped" in w for w in t.warnings)


@pytest.mark.parametrize(
    "timing",
    [
        "00:00:01,000 --> 00:00:02,000",
        "00:00:01.000 --> 00:00:02.000",
        "0:0:1,5 --> 0:0:2,5",
        "00:00:01,000 --> 00:00:02,000 X1:40 X2:600 Y1:20 Y2:50",
    ],
)
def test_every_cue_timing_pysrt_reads_is_read(timing: str) -> None:
    later = timing.replace("2,", "4,").replace("1,", "3,").replace("2.", "4.").replace("1.", "3.")
    text = f"1\n{timing}\nAna: Hi.\n\n2\n{later}\nBo: Yo.\n"
    assert len(pysrt.from_string(text, error_handling=pysrt.ERROR_RAISE)) == 2
    assert turns(parse_transcript(text)) == [("Ana", "Hi."), ("Bo", "Yo.")]


def test_a_cue_webvtt_py_skips_is_skipped_with_its_real_line_in_the_warning() -> None:
    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nAna: Hi.\n\nNOTE\nsome notes\n\n"
        "00:00:02.000 --> 00:00:1d.000\nBo: Lost words.\n\n"
        "00:00:03.000 --> 00:00:04.000\nBo: Hello.\n"
    )
    assert len(webvtt.from_string(text).captions) == 2  # webvtt-py drops the bad block
    t = parse_transcript(text)
    assert turns(t) == [("Ana", "Hi."), ("Bo", "Hello.")]
    assert t.warnings[0] == (
        "1 cue skipped, as webvtt-py cannot read it "
        "(line 9: malformed cue timing '00:00:02.000 --> 00:00:1d.000')"
    )


def test_a_skipped_cue_never_shifts_the_cues_after_it() -> None:
    who = ["Ana", "Bo", "Cy", "Ana", "Bo", "Ana", "Bo", "Ana"]
    cues = [f"00:00:0{i}.000 --> 00:00:0{i}.500\n{name}: {i}" for i, name in enumerate(who)]
    cues[2] = "00:00:02.000 --> 00:00:02,500\nCy: lost"  # a comma: webvtt-py skips it
    t = parse_transcript("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    assert [(u.speaker, u.text, u.start, u.line) for u in t.utterances] == [
        ("Ana", "0", 0.0, 3),
        ("Bo", "1", 1.0, 6),
        *[(who[i], str(i), float(i), 3 + 3 * i) for i in range(3, 8)],
    ]
    assert "line 9: malformed cue timing" in t.warnings[0]


def test_several_skipped_srt_cues_are_each_named_on_their_line() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nAna: Hi.\n\n"
        "2\n00:00:02,000 --> 00:0x:03,000\nBo: Lost.\n\n"
        "3\nBo: No timing at all.\n\n"
        "4\n00:00:04,000 --> 00:00:05,000\nBo: Hello.\n"
    )
    t = parse_transcript(text)
    assert turns(t) == [("Ana", "Hi."), ("Bo", "Hello.")]
    assert t.warnings[0] == (
        "2 cues skipped, as pysrt cannot read them (line 6: malformed cue timing "
        "'00:00:02,000 --> 00:0x:03,000'; line 10: cue 3 has no 'start --> end' timing line)"
    )


def test_a_library_failure_deep_in_the_file_is_reported_on_its_cue_not_line_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = webvtt.from_string

    def failing(text: str, *args: object, **kwargs: object) -> object:
        if "00:00:07.000" in text:
            raise webvtt.errors.MalformedCaptionError("Invalid cue block")
        return real(text)

    monkeypatch.setattr(webvtt, "from_string", failing)
    cues = "".join(
        f"00:00:0{i}.000 --> 00:00:0{i}.900\n{'Ana' if i % 2 else 'Bo'}: words {i}\n\n"
        for i in range(1, 9)
    )
    with pytest.raises(TranscriptError) as info:
        parse_transcript("WEBVTT\n\n" + cues, filename="s.vtt")
    assert info.value.line == 21  # the block holding 00:00:07.000
    assert str(info.value) == "s.vtt: line 21: not valid WebVTT: Invalid cue block"


SOUNDS = (
    "WEBVTT\n\n"
    "00:00:00.500 --> 00:00:01.000\n[laughs]\n\n"
    "00:00:01.000 --> 00:00:02.000\n<v Kim>How are things?</v>\n\n"
    "00:00:02.000 --> 00:00:03.000\n(music)\n\n"
    "00:00:03.000 --> 00:00:04.000\n♪ la la la ♪\n\n"
    "00:00:04.000 --> 00:00:05.000\n[Laughter] Rui: Better, [sighs] mostly.\n\n"
    "00:00:05.000 --> 00:00:06.000\n[MUSIC PLAYING]\n"
)


def test_sound_cues_are_neither_speakers_nor_utterances_and_are_reported() -> None:
    t = parse_transcript(SOUNDS)
    assert turns(t) == [("Kim", "How are things?"), ("Rui", "Better, mostly.")]
    assert [s.name for s in t.speakers] == ["Kim", "Rui"]
    assert t.warnings == ("6 sound descriptions (such as '[laughs]') left out: not speech",)


def test_sound_cues_do_not_take_a_turn_when_speakers_alternate() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nHow are things?\n\n"
        "2\n00:00:02,000 --> 00:00:03,000\n(music)\n\n"
        "3\n00:00:03,000 --> 00:00:04,000\n♪ la la ♪\n\n"
        "4\n00:00:04,000 --> 00:00:05,000\nBetter, mostly.\n"
    )
    t = parse_transcript(text, speakers="alternate")
    assert turns(t) == [("Speaker 1", "How are things?"), ("Speaker 2", "Better, mostly.")]
    assert any("2 sound descriptions" in w for w in t.warnings)


@pytest.mark.parametrize(
    "encoding", ["utf-32", "utf-32-le", "utf-32-be", "utf-16", "utf-16-le", "utf-16-be", "utf-8"]
)
def test_every_byte_order_mark_is_read(encoding: str) -> None:
    marks = {"utf-32-le": "\ufeff", "utf-32-be": "\ufeff", "utf-16-le": "\ufeff"}
    marks |= {"utf-16-be": "\ufeff", "utf-8": "\ufeff"}
    data = (marks.get(encoding, "") + TEAMS.replace("Lou.", "Loïc, ça va ✓.")).encode(encoding)
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff", b"\x00\x00", b"\xef\xbb")  # a BOM is there
    t = parse_transcript(data)
    assert t.utterances[0].text == "Hello, Loïc, ça va ✓."
    assert not t.utterances[0].text.startswith("\ufeff")


def test_a_path_is_read_like_its_text(tmp_path: Path) -> None:
    path = tmp_path / "session.vtt"
    path.write_bytes(TEAMS.encode("utf-32"))
    from_path = parse_transcript(path)
    assert turns(from_path) == turns(parse_transcript(TEAMS))
    assert from_path.source == str(path)


def test_a_str_naming_a_file_is_text_but_the_refusal_says_to_pass_a_path(
    tmp_path: Path,
) -> None:
    path = tmp_path / "session.vtt"
    path.write_text(TEAMS, encoding="utf-8")
    with pytest.raises(TranscriptError) as info:
        parse_transcript(str(path))
    assert str(info.value).endswith("to read the file, pass pathlib.Path(...) instead of a str")
    with pytest.raises(TranscriptError) as info:  # a name of no file: no hint
        parse_transcript(str(tmp_path / "absent.vtt"))
    assert "pathlib" not in str(info.value)


FILM = "".join(
    f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},900\n"
    + ("Le plus dur: il part demain.\n" if i == 7 else f"Ligne {i}.\n")
    + "\n"
    for i in range(1, 13)
)


def test_a_stray_colon_in_unlabelled_subtitles_is_not_a_speaker_when_speakers_alternate() -> None:
    with pytest.raises(TranscriptError) as info:
        parse_transcript(FILM)
    assert "the first speaker label is 'Le plus dur' on line 26" in str(info.value)
    assert str(info.value).endswith("pass --speakers alternate (speakers='alternate')")
    t = parse_transcript(FILM, speakers="alternate")
    assert len(t.utterances) == 12
    assert t.utterances[6].text == "Le plus dur: il part demain."  # the words kept
    assert {s.name for s in t.speakers} == {"Speaker 1", "Speaker 2"}
    assert t.warnings[0].startswith("1 stray label read as words: read as Speaker 1 and Speaker 2")


def test_real_labels_after_an_unlabelled_cue_are_never_taken_for_stray_ones() -> None:
    # Long turns, each cue labelled (as Zoom writes them): 2 speaker changes, 10 labels.
    cues = ["Welcome, everyone."] + [f"{'Ana' if i < 5 else 'Bo'}: part {i}" for i in range(10)]
    text = "WEBVTT\n\n" + "".join(
        f"00:00:{i:02d}.000 --> 00:00:{i:02d}.900\n{cue}\n\n" for i, cue in enumerate(cues)
    )
    for mode in ("labels", "alternate"):
        with pytest.raises(TranscriptError) as info:
            parse_transcript(text, speakers=mode)  # type: ignore[arg-type]
        assert info.value.line == 3
        assert "pass --speakers alternate" not in str(info.value)


ROLLING = (
    "WEBVTT\nKind: captions\nLanguage: en\n\n"
    "00:00:00.000 --> 00:00:02.000 align:start position:0%\n \n"
    "so<00:00:00.500><c> how</c><00:00:01.000><c> was</c><00:00:01.500><c> the</c>\n\n"
    "00:00:02.000 --> 00:00:02.010 align:start position:0%\nso how was the\n \n\n"
    "00:00:02.010 --> 00:00:04.000 align:start position:0%\nso how was the\n"
    "week<00:00:02.500><c> for</c><00:00:03.000><c> you</c>\n\n"
    "00:00:04.000 --> 00:00:04.010 align:start position:0%\nweek for you\n \n\n"
    "00:00:04.010 --> 00:00:06.000 align:start position:0%\nweek for you\n"
    "long<00:00:04.500><c> honestly</c>\n"
)


def test_rolling_youtube_captions_count_each_line_once() -> None:
    t = parse_transcript(ROLLING, speakers="alternate")
    assert [u.text for u in t.utterances] == ["so how was the", "week for you", "long honestly"]
    assert [(u.start, u.end) for u in t.utterances] == [(0.0, 2.0), (2.01, 4.0), (4.01, 6.0)]
    assert "rolling captions: 4 lines shown again in the next cue left out" in t.warnings[1]


def test_captions_that_do_not_roll_keep_a_repeated_line() -> None:
    text = (
        "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ana>Yes.</v>\n\n"
        "00:02.000 --> 00:03.000\n<v Bo>Yes.</v>\n\n00:03.000 --> 00:04.000\n<v Ana>Good.</v>\n"
    )
    t = parse_transcript(text)
    assert turns(t) == [("Ana", "Yes."), ("Bo", "Yes."), ("Ana", "Good.")]
    assert not any("rolling" in w for w in t.warnings)


def test_a_file_of_nothing_but_sounds_says_so_without_a_false_line_1() -> None:
    text = "WEBVTT\n\n00:03.000 --> 00:04.500\n(HUMMING)\n\n00:09.000 --> 00:12.000\n(SOFT MUSIC)\n"
    with pytest.raises(TranscriptError) as info:
        parse_transcript(text, filename="sounds.vtt", speakers="alternate")
    assert info.value.line is None
    assert str(info.value) == (
        "sounds.vtt: no speech in this vtt transcript: only 2 sound descriptions "
        "(such as '(HUMMING)')"
    )
