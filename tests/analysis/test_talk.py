"""Talk and timing: shares, monologues, overlaps, interruptions and latencies."""

from __future__ import annotations

import json

import pytest

from alliance.analysis.talk import MONOLOGUE_WORDS, talk_stats
from alliance.transcripts import parse_transcript


def session(rows: list[tuple[str, str, float | None, float | None]]) -> str:
    return json.dumps([{"speaker": s, "text": t, "start": a, "end": b} for s, t, a, b in rows])


def test_word_and_time_shares_add_up_per_role() -> None:
    t = parse_transcript(
        session(
            [
                ("Therapist", "How are you today?", 0.0, 2.0),
                ("Kim", "Tired, very tired, it has been a long week at work.", 2.5, 8.5),
                ("Therapist", "A long week.", 9.0, 10.0),
            ]
        )
    )
    stats = talk_stats(t)
    therapist = stats.role("therapist")
    client = stats.role("client")
    assert therapist is not None
    assert client is not None
    assert therapist.words == 7
    assert client.words == 11
    assert therapist.word_share == pytest.approx(7 / 18)
    assert therapist.seconds == pytest.approx(3.0)
    assert therapist.time_share == pytest.approx(3.0 / 9.0)
    assert therapist.evidence == ("u1", "u3")


def test_long_therapist_turns_are_monologues() -> None:
    long_turn = " ".join(["word"] * (MONOLOGUE_WORDS + 1))
    t = parse_transcript(
        f"Therapist: {long_turn}\nKim: {long_turn}\nTherapist: Short one?\nKim: ok\n"
    )
    assert talk_stats(t).monologues == ("u1",)


def test_overlaps_interruptions_and_latencies_need_real_times() -> None:
    t = parse_transcript(
        session(
            [
                ("Therapist", "I wonder whether we could look at what happened", 0.0, 6.0),
                ("Kim", "No, I want to talk about my sister first", 3.0, 7.0),
                ("Therapist", "Mm-hm.", 6.8, 7.2),
                ("Kim", "She called me again last night and I was upset", 11.0, 15.0),
            ]
        )
    )
    stats = talk_stats(t)
    assert stats.overlaps is not None
    by_id = {o.utterance_id: o for o in stats.overlaps}
    assert by_id["u2"].interruption
    assert by_id["u2"].seconds == pytest.approx(3.0)
    assert stats.interruptions == (by_id["u2"],)
    assert stats.long_pauses == ("u4",)
    assert stats.latency_by_role is not None
    client = next(s for s in stats.latency_by_role if s.role == "client")
    assert client.longest == pytest.approx(3.8)
    assert client.longest_id == "u4"


def test_a_backchannel_overlap_is_not_an_interruption() -> None:
    t = parse_transcript(
        session(
            [
                ("Therapist", "Tell me more about the weekend and the party", 0.0, 5.0),
                ("Kim", "Mm.", 2.0, 2.5),
                ("Therapist", "and who was there", 5.0, 6.0),
            ]
        )
    )
    stats = talk_stats(t)
    assert stats.overlaps is not None
    assert len(stats.overlaps) == 1
    assert stats.interruptions == ()


def test_without_times_only_word_figures_are_given() -> None:
    t = parse_transcript("Therapist: How are you?\nKim: Fine thanks.\n")
    stats = talk_stats(t)
    assert stats.timing == "none"
    assert stats.total_seconds is None
    assert stats.overlaps is None
    assert stats.latencies is None
    therapist = stats.role("therapist")
    assert therapist is not None
    assert therapist.time_share is None


def test_plain_text_start_times_give_time_share_but_no_latencies() -> None:
    t = parse_transcript("[00:00:00] T: Hello there.\n[00:00:04] C: Hi.\n[00:00:05] T: Okay.\n")
    stats = talk_stats(t)
    assert stats.timing == "starts"
    assert stats.total_seconds == pytest.approx(5.0)
    assert stats.latencies is None
