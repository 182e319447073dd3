"""Every parser on realistic sample files (tests/data/transcripts, written for these tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.transcripts import Transcript, decode, detect_format, parse_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


def parse(name: str, **kwargs: object) -> Transcript:
    path = DATA / name
    return parse_transcript(path.read_bytes(), filename=name, **kwargs)  # type: ignore[arg-type]


def test_it_reads_zoom_vtt_with_name_prefixes_and_merges_fragments() -> None:
    t = parse("zoom_session.vtt")
    assert t.format == "vtt"
    assert [s.name for s in t.speakers] == ["Dr. Priya Raman", "Tom Becker"]
    second = t.utterances[1]
    # cues 2 and 3 are one turn of Tom's: merged, first start and last end kept
    assert second.speaker == "Tom Becker"
    assert second.fragments == 2
    assert second.text.startswith("Honestly, up and down.")
    assert second.text.endswith("the night before.")
    assert (second.start, second.end) == (6.01, 14.92)
    assert t.by_id("u2") == second
    assert t.has_timestamps


def test_it_reads_teams_voice_tags_including_two_voices_in_one_cue() -> None:
    t = parse("teams_session.vtt")
    speakers = [u.speaker for u in t.utterances]
    # the cue with "<v Sam>Mm.</v>" and "<v Jo>Mm-hm.</v>" yields two turns
    mm = next(i for i, u in enumerate(t.utterances) if u.text == "Mm.")
    assert speakers[mm] == "Sam Ortiz"
    assert t.utterances[mm + 1].speaker == "Counsellor Jo Hart"
    assert t.utterances[mm + 1].text.startswith("Mm-hm.")
    assert all("<v" not in u.text and "</v>" not in u.text for u in t.utterances)
    # the sentence Teams split over two cues is one turn
    split = [u for u in t.utterances if u.text.startswith("You want something")]
    assert split
    assert split[0].text.endswith("What would feel more useful?")
    assert t.roles.roles["Counsellor Jo Hart"] == "therapist"


def test_it_reads_srt_with_multiline_cues() -> None:
    t = parse("session.srt")
    assert t.format == "srt"
    assert t.utterances[2].text == (
        "Three nights that didn't go the way you wanted. What was different on the other nights?"
    )
    assert t.utterances[2].start == pytest.approx(10.3)
    assert t.roles.roles == {"Therapist": "therapist", "Lena": "client"}


def test_it_reads_plain_text_with_timestamps_continuations_and_a_preamble() -> None:
    t = parse("plain_timestamps.txt")
    assert t.format == "text"
    assert t.utterances[0].start == 3.0
    # start-only timestamps: a turn ends where the next starts
    assert t.utterances[0].end == 7.0
    continued = next(u for u in t.utterances if "swapping weekends" in u.text)
    assert continued.text.endswith("And then the rota changed again.")
    assert "Session 4" not in " ".join(u.text for u in t.utterances)


def test_it_reads_cp1252_text_with_t_and_c_labels() -> None:
    raw = (DATA / "plain_tc_cp1252.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the sample really is cp1252
    t = parse("plain_tc_cp1252.txt")
    assert t.roles.roles == {"T": "therapist", "C": "client"}
    assert "café" in t.utterances[3].text
    assert "I’ve" in t.utterances[1].text
    # an unlabelled line continues the turn above it
    assert t.utterances[2].text.endswith("What made you decide to come now?")


def test_it_reads_json_lists_and_merges_consecutive_items() -> None:
    t = parse("session.json")
    assert t.format == "json"
    assert (
        t.utterances[1].text
        == "I did it on Monday and Tuesday. Then I forgot. Or maybe I didn't want to."
    )
    assert (t.utterances[1].start, t.utterances[1].end) == (6.8, 12.4)
    assert t.utterances[1].line == 3


def test_it_reads_json_wrapped_in_an_object() -> None:
    text = (
        '{"meta": {"session": 3}, "segments": [\n'
        '{"name": "Therapist", "content": "How are you?", "start_time": "00:00:01"},\n'
        '{"name": "Kim", "content": "Tired.", "start_time": "00:00:03.5"}\n]}'
    )
    t = parse_transcript(text)
    assert [u.text for u in t.utterances] == ["How are you?", "Tired."]
    assert t.utterances[1].start == 3.5
    assert t.utterances[1].line == 3


def test_it_reads_csv_with_hh_mm_ss_times() -> None:
    t = parse("session.csv")
    assert t.format == "csv"
    assert t.utterances[0].speaker == "Dr Alvarez"
    assert t.utterances[1].end == pytest.approx(8.9)
    assert t.roles.roles["Dr Alvarez"] == "therapist"


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_it_reads_csv_with_other_delimiters(delimiter: str) -> None:
    rows = ["speaker|text", "Therapist|What brings you here?", "Jo|My sleep, mostly."]
    text = "\n".join(r.replace("|", delimiter) for r in rows)
    t = parse_transcript(text)
    assert t.format == "csv"
    assert [u.speaker for u in t.utterances] == ["Therapist", "Jo"]


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16", b""),
        ("utf-16-le", b""),
        ("cp1252", b""),
    ],
)
def test_it_decodes_every_supported_encoding(encoding: str, prefix: bytes) -> None:
    text = "Therapist: Où en êtes-vous – cette semaine ?\nZoë: Mieux, merci.\n"
    t = parse_transcript(prefix + text.encode(encoding))
    assert t.utterances[1].speaker == "Zoë"
    assert t.utterances[0].text == "Où en êtes-vous – cette semaine ?"


def test_decode_normalises_windows_newlines() -> None:
    assert decode(b"A: hi\r\nB: hello\r\n") == "A: hi\nB: hello\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("zoom_session.vtt", "vtt"),
        ("session.srt", "srt"),
        ("session.json", "json"),
        ("session.csv", "csv"),
        ("couple_session.txt", "text"),
    ],
)
def test_it_detects_the_format_from_content_not_the_extension(name: str, expected: str) -> None:
    text = decode((DATA / name).read_bytes())
    assert detect_format(text, "upload.bin") == expected
    assert detect_format(text, None) == expected


def test_plain_timestamped_text_is_not_mistaken_for_json() -> None:
    assert detect_format("[00:00:01] Therapist: Hello\n[00:00:03] Ana: Hi") == "text"


def test_groups_and_couples_get_one_therapist_and_several_clients() -> None:
    couple = parse("couple_session.txt")
    assert couple.speakers_with_role("therapist") == ("Therapist",)
    assert set(couple.speakers_with_role("client")) == {"Nadia", "Chris"}
    group = parse("group_session.vtt")
    assert group.speakers_with_role("therapist") == ("Facilitator (Ben)",)
    assert set(group.speakers_with_role("client")) == {"Aisha", "Mark", "Grace"}


def test_utterance_ids_are_sequential_and_lines_point_into_the_file() -> None:
    t = parse("zoom_session.vtt")
    assert [u.id for u in t.utterances] == [f"u{i}" for i in range(1, len(t.utterances) + 1)]
    lines = (DATA / "zoom_session.vtt").read_text().split("\n")
    for u in t.utterances:
        assert "-->" in lines[u.line - 1]


def test_it_reads_otter_and_teams_name_and_time_headers() -> None:
    t = parse("otter_export.txt")
    assert [u.speaker for u in t.utterances[:2]] == ["Speaker 1", "Jordan Price"]
    assert t.utterances[1].start == 9.0
    assert t.utterances[1].text.endswith("Thursday I was back on it until midnight.")
    assert t.roles.roles["Speaker 1"] == "therapist"
    assert t.timing == "starts"


def test_a_sentence_ending_in_a_time_is_not_a_speaker_header() -> None:
    t = parse_transcript("Therapist: When did it start?\nKim: We met at\nwe met at 10:30\n")
    assert [u.speaker for u in t.utterances] == ["Therapist", "Kim"]
    assert t.utterances[1].text == "We met at we met at 10:30"


def test_cue_markup_and_entities_are_removed_from_the_text() -> None:
    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n"
        "<v Therapist><c.yellow>How</c> <00:00:01.500>are you &amp; Sam?</v>\n\n"
        "00:00:04.000 --> 00:00:05.000\n<v Kim><i>Fine</i> &lt;ish&gt;.</v>\n"
    )
    t = parse_transcript(text)
    assert [u.text for u in t.utterances] == ["How are you & Sam?", "Fine <ish>."]
