"""Speaker roles: given, mapped, or inferred with a confidence and reasons."""

from __future__ import annotations

import pytest

from alliance.transcripts import TranscriptError, assign_roles, parse_transcript, role_from_name

TURNS = [
    ("Alex", "Hello. What would you like to talk about today?"),
    ("Robin", "Work has been awful. My boss shouted at me again."),
    ("Alex", "It sounds like you felt humiliated. How did you respond?"),
    ("Robin", "I just walked out of the room."),
    ("Alex", "What happened after that?"),
    ("Robin", "I went home early and slept."),
]


def test_a_given_therapist_name_wins_with_full_confidence() -> None:
    result = assign_roles(TURNS, therapist="robin")
    assert result.roles == {"Alex": "client", "Robin": "therapist"}
    assert result.method == "given"
    assert result.confidence == 1.0


def test_a_first_name_is_enough_when_it_is_unique() -> None:
    turns = [("Dana Lee", "How are you?"), ("Sam", "Fine.")]
    assert assign_roles(turns, therapist="Dana").roles["Dana Lee"] == "therapist"


def test_an_unknown_therapist_name_is_an_error_listing_the_speakers() -> None:
    with pytest.raises(TranscriptError, match="'Jordan' is not one of the speakers: Alex, Robin"):
        assign_roles(TURNS, therapist="Jordan")


def test_inference_picks_the_speaker_who_asks_and_reflects() -> None:
    result = assign_roles(TURNS)
    assert result.roles == {"Alex": "therapist", "Robin": "client"}
    assert result.method == "inferred"
    assert result.confidence > 0.9  # asks, reflects and says "you": a clear case
    assert any("Alex" in r and "question" in r for r in result.reasons)


def test_inference_is_unsure_when_speakers_behave_alike() -> None:
    turns = [("A", "I think so."), ("B", "I think so too."), ("A", "Right."), ("B", "Yes.")]
    clear = assign_roles(TURNS).confidence
    unsure = assign_roles(turns).confidence
    assert unsure < clear
    assert unsure < 0.7


def test_a_name_map_fixes_roles_including_other() -> None:
    turns = [*TURNS, ("Mo", "Translating: he says he slept.")]
    result = assign_roles(turns, name_map={"Mo": "other", "Alex": "therapist"})
    assert result.roles["Mo"] == "other"
    assert result.roles["Robin"] == "client"


def test_labels_say_the_role_outright() -> None:
    assert role_from_name("Counsellor Jo Hart") == "therapist"
    assert role_from_name("Dr. Priya Raman") == "therapist"
    assert role_from_name("Client 2") == "client"
    assert role_from_name("Interpreter") == "other"
    assert role_from_name("Drew") is None


def test_a_low_confidence_inference_adds_a_warning() -> None:
    text = "A: I think so.\nB: I think so too.\nA: Right.\nB: Yes.\n"
    t = parse_transcript(text)
    assert t.warnings
    assert "--therapist" in t.warnings[0]
    assert not parse_transcript(text, therapist="A").warnings


def test_co_therapists_both_labelled_are_both_therapists() -> None:
    turns = [
        ("Therapist Ann", "Welcome to you both."),
        ("Jess", "Thanks."),
        ("Therapist Raj", "Who would like to begin?"),
        ("Lee", "Me."),
    ]
    roles = assign_roles(turns).roles
    assert roles == {
        "Therapist Ann": "therapist",
        "Jess": "client",
        "Therapist Raj": "therapist",
        "Lee": "client",
    }
