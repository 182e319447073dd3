"""Profiles and intakes: vocabulary, plain-word styles, slots, capacity, cross-references."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from matching_factories import intake, therapist
from pydantic import ValidationError

import alliance.web
from alliance.matching import MatchingInput, MatchingInputError, check_references, vocabulary
from alliance.matching.profiles import Slot, folded, resolve_style

SPANISH_CATALOGUE = Path(alliance.web.__file__).parent / "locale/es/LC_MESSAGES/messages.po"


def _spanish_phrases() -> list[tuple[str, str]]:
    """(style, phrase) for every style phrase the Spanish catalogue translates: the examples a
    Spanish intake page shows."""
    with SPANISH_CATALOGUE.open("rb") as handle:
        catalog = read_po(handle)
    found = []
    for key, style in vocabulary().styles.items():
        for phrase in style.phrases:
            entry = catalog.get(phrase)
            if entry is not None and isinstance(entry.string, str) and entry.string:
                found.append((key, entry.string))
    return found


def _all_phrases() -> list[tuple[str, str]]:
    english = [(k, p) for k, s in vocabulary().styles.items() for p in s.phrases]
    return english + _spanish_phrases()


@pytest.mark.parametrize(
    ("style", "phrase"),
    [(k, p) for k, s in vocabulary().styles.items() for p in s.phrases],
)
def test_every_listed_phrase_resolves_to_its_style(style: str, phrase: str) -> None:
    assert resolve_style(phrase) == style


def test_the_spanish_page_has_an_example_for_every_style() -> None:
    # Guards the test below from passing on an empty list.
    assert {k for k, _ in _spanish_phrases()} == set(vocabulary().styles)


@pytest.mark.parametrize(("style", "phrase"), _spanish_phrases())
def test_every_spanish_example_resolves_to_its_style(style: str, phrase: str) -> None:
    assert resolve_style(phrase) == style


@pytest.mark.parametrize(
    ("words", "style"),
    [
        ("Quiero a alguien que me escuche sin juzgarme", "supportive"),
        ("que sea cálido, que me apoye y me deje espacio", "supportive"),
        ("QUE SEA CARIÑOSA Y COMPRENSIVA", "supportive"),
        ("Prefiero que decidamos juntos y trabajemos en equipo", "collaborative"),
        ("que lo hablemos entre los dos y tenga en cuenta mi opinion", "collaborative"),
        ("Que me dé herramientas prácticas y tareas para casa", "directive"),
        ("necesito que sea directa y me diga que hacer", "directive"),
        ("me gustaría que me guíe con pautas claras y consejos", "directive"),
        ("Que me de orientacion y objetivos concretos", "directive"),
    ],
)
def test_a_clients_own_spanish_words_resolve_to_a_style(words: str, style: str) -> None:
    assert resolve_style(words) == style


def test_cues_are_matched_without_regard_to_case_or_accents() -> None:
    # The cue "orientación" is written with its accent, "escuch" without one: both are found
    # whichever way the client writes.
    for words in ("orientación", "ORIENTACION", "orientacion"):
        assert resolve_style(words) == "directive"
    for words in ("escúchame", "ESCUCHAME", "escuchame"):
        assert resolve_style(words) == "supportive"
    assert folded("  Cariño\tESTÁ  bien ") == "carino esta bien"


def test_each_cue_belongs_to_one_style_and_counts_once() -> None:
    """No cue lies inside another (in any language, folded): inside another style's it would
    count for both, inside its own style's it would count twice; nor inside an example shown
    for another style, English or Spanish."""
    cues = [(k, c) for k, s in vocabulary().styles.items() for c in s.cues]
    nested = [(a, b) for a in cues for b in cues if a != b and a[1] in b[1]]
    assert nested == []
    stray = [
        (cue, phrase)
        for key, cue in cues
        for style, phrase in _all_phrases()
        if style != key and cue in folded(phrase)
    ]
    assert stray == []


def test_every_style_has_cues_in_english_and_spanish() -> None:
    for style in vocabulary().styles.values():
        assert {"en", "es"} <= set(style.cues_by_language), style.key
        assert all(style.cues_by_language.values()), style.key


def test_plain_words_in_an_intake_become_a_style_and_keep_the_words() -> None:
    c = intake(preferences=[{"attribute": "style", "values": "Gives me STRUCTURE please"}])
    pref = c.preference("style")
    assert pref is not None
    assert pref.values == ("directive",)
    assert pref.said == ("Gives me STRUCTURE please",)


@pytest.mark.parametrize(
    "words",
    [
        "purple elephants",
        "no lo tengo claro",
        "que sea cálido conmigo",
        "me da igual",
        "que nos veamos enseguida",
    ],
)
def test_it_refuses_words_that_name_no_single_style(words: str) -> None:
    # ("cálido conmigo": one supportive cue, one collaborative cue, a tie; "enseguida" holds
    # no English "guid".)
    with pytest.raises(ValueError, match="cannot tell a relationship style"):
        resolve_style(words)


def test_it_refuses_an_unknown_concern_and_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown concern 'worry'.*anxiety"):
        intake(concerns=["worry"])


def test_concern_and_modality_keys_are_normalised() -> None:
    c = intake(concerns=["Substance Use", "OCD"])
    t = therapist(modalities=["Person-Centred", "EMDR"])
    assert c.concerns == ("substance_use", "ocd")
    assert t.modalities == ("person_centred", "emdr")


def test_short_slot_form_equals_the_long_form() -> None:
    short = Slot.model_validate("Tuesday 17:00-20:00")
    long = Slot.model_validate({"day": "tue", "start": "17:00", "end": "20:00"})
    assert short == long
    assert list(short.cells()) == list(range(34, 40))


def test_slot_cells_round_inwards_to_the_half_hour() -> None:
    assert list(Slot.model_validate("mon 08:45-10:10").cells()) == [18, 19]


def test_it_refuses_a_slot_that_ends_before_it_starts() -> None:
    with pytest.raises(ValidationError, match="ends"):
        Slot.model_validate("mon 10:00-09:00")


@pytest.mark.parametrize(
    ("new", "limit", "current", "accepting", "expected"),
    [(3, 20, 10, True, 3), (3, 20, 19, True, 1), (3, 20, 25, True, 0), (3, 20, 0, False, 0)],
)
def test_open_places_respect_weekly_intake_and_caseload_limit(
    new: int, limit: int, current: int, accepting: bool, expected: int
) -> None:
    t = therapist(
        capacity={"new_per_week": new, "caseload_limit": limit, "current_caseload": current},
        accepting_new=accepting,
    )
    assert t.open_places == expected


def test_it_refuses_two_preferences_about_one_attribute() -> None:
    with pytest.raises(ValidationError, match="two preferences about modality"):
        intake(
            preferences=[
                {"attribute": "modality", "values": ["cbt"]},
                {"attribute": "modality", "values": ["emdr"]},
            ]
        )


def test_dont_mind_is_read_in_plain_words_and_counts_as_no_preference() -> None:
    c = intake(preferences=[{"attribute": "mode", "values": "video", "importance": "Don't mind"}])
    assert c.preferences[0].importance == "dont_mind"
    assert c.preference("mode") is None


def test_references_name_the_path_of_a_duplicate_therapist() -> None:
    data = MatchingInput(therapists=(therapist(1), therapist(2), therapist(1)))
    with pytest.raises(MatchingInputError) as err:
        check_references(data)
    assert err.value.path == "therapists[2].id"


def test_references_refuse_history_of_an_unknown_therapist() -> None:
    data = MatchingInput.model_validate(
        {
            "therapists": [therapist(1).model_dump()],
            "history": [
                {
                    "therapist_id": "t1",
                    "concern": "anxiety",
                    "intake_severity": 12,
                    "improvement": 5,
                },
                {
                    "therapist_id": "ghost",
                    "concern": "anxiety",
                    "intake_severity": 12,
                    "improvement": 5,
                },
            ],
        }
    )
    with pytest.raises(MatchingInputError) as err:
        check_references(data)
    assert err.value.path == "history[1].therapist_id"
