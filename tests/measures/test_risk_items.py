"""Risk items (alliance.measures.instrument.RiskItem) and the answers that endorse them
(alliance.measures.scoring.risk_flags): PHQ-9 item 9 and hand-made instruments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from measures_builders import instrument_data

from alliance.measures.instrument import Instrument
from alliance.measures.registry import InstrumentError, load_instrument, parse_instrument
from alliance.measures.scoring import RiskFlag, ScoringError, risk_flags, score_response

PHQ9_TEXT = (
    Path(__file__).resolve().parents[2] / "src/alliance/measures/instruments/phq9.yaml"
).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def phq9() -> Instrument:
    return load_instrument("phq9")


def phq9_answers(item9: object, others: int = 1) -> dict[str, object]:
    answers: dict[str, object] = {f"phq9_{i}": others for i in range(1, 9)}
    answers["phq9_9"] = item9
    return answers


def test_phq9_names_item_9_as_its_risk_item_from_any_answer_above_not_at_all(
    phq9: Instrument,
) -> None:
    (risk,) = phq9.risk_items
    assert risk.link_id == "phq9_9"
    assert phq9.item_number(risk.link_id) == 9
    assert risk.min_score == 1
    assert "dead" in risk.label
    assert "self-harm" in risk.label
    assert risk.source
    assert phq9.risk_item("phq9_9") is risk
    assert phq9.risk_item("phq9_1") is None


@pytest.mark.parametrize("answer", [0, 1, 2, 3])
def test_item_9_is_flagged_exactly_when_answered_above_zero(phq9: Instrument, answer: int) -> None:
    flags = risk_flags(phq9, phq9_answers(answer))
    option = phq9.item("phq9_9").options[answer]
    if answer == 0:
        assert flags == ()
    else:
        assert flags == (RiskFlag("phq9_9", float(answer), phq9.risk_items[0].label, option.label),)


def test_answers_read_from_text_or_floats_flag_the_same(phq9: Instrument) -> None:
    expected = risk_flags(phq9, phq9_answers(2))
    assert risk_flags(phq9, phq9_answers("2")) == expected
    assert risk_flags(phq9, phq9_answers(2.0)) == expected
    assert expected[0].answer == "More than half the days"


def test_a_missing_item_9_flags_nothing(phq9: Instrument) -> None:
    assert risk_flags(phq9, phq9_answers(None)) == ()
    answers = phq9_answers(0)
    del answers["phq9_9"]
    assert risk_flags(phq9, answers) == ()


def test_an_invalid_total_still_carries_the_flag(phq9: Instrument) -> None:
    # Only item 9 answered: far too many missing items for a total, but the answer stands.
    answers: dict[str, object] = {"phq9_9": 3}
    assert not score_response(phq9, answers).valid
    (flag,) = risk_flags(phq9, answers)
    assert flag.score == 3
    assert flag.answer == "Nearly every day"


def test_a_low_total_does_not_hide_the_flag(phq9: Instrument) -> None:
    answers = phq9_answers(1, others=0)
    assert score_response(phq9, answers).band == "minimal"
    assert [f.link_id for f in risk_flags(phq9, answers)] == ["phq9_9"]


def test_an_answer_the_risk_item_does_not_allow_names_the_item(phq9: Instrument) -> None:
    with pytest.raises(ScoringError) as caught:
        risk_flags(phq9, phq9_answers(7))
    assert caught.value.item == "phq9_9"
    assert "7" in str(caught.value)


def test_instruments_without_risk_items_flag_nothing() -> None:
    inst = Instrument.model_validate(instrument_data())
    assert inst.risk_items == ()
    assert risk_flags(inst, {"toy_1": 3, "toy_2": 3, "toy_3": 3}) == ()


def _toy(**risk: Any) -> dict[str, Any]:
    entry = {"linkId": "toy_2", "min_score": 2, "label": "Toy risk", "source": "Test fixture"}
    entry.update(risk)
    return instrument_data(risk_items=[entry])


def test_the_threshold_applies_to_the_item_score_after_reverse_scoring() -> None:
    data = _toy()
    data["items"][1]["reverse"] = True  # answer code 0 scores 3, code 3 scores 0
    inst = Instrument.model_validate(data)
    assert [f.score for f in risk_flags(inst, {"toy_2": 0})] == [3.0]
    assert [f.answer for f in risk_flags(inst, {"toy_2": 1})] == ["answer 1"]
    assert risk_flags(inst, {"toy_2": 2}) == ()


def test_integer_items_can_be_risk_items_and_flag_without_an_answer_label() -> None:
    data = _toy(min_score=8)
    data["items"][1] = {"linkId": "toy_2", "text": "Urge", "type": "integer"}
    data["items"][1].update(min_value=0, max_value=10)
    inst = Instrument.model_validate(data)
    assert risk_flags(inst, {"toy_2": 9}) == (RiskFlag("toy_2", 9.0, "Toy risk", None),)
    assert risk_flags(inst, {"toy_2": 7}) == ()


# -- bad risk_items in a file: one line naming the file and the field -------------------------


def _error_for(data: dict[str, Any], name: str = "toy.yaml") -> str:
    with pytest.raises(InstrumentError) as caught:
        parse_instrument(yaml.safe_dump(data, sort_keys=False), name)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: ")
    return message


@pytest.mark.parametrize(
    ("risk", "expected"),
    [
        ({"linkId": "toy_9"}, "toy.yaml: risk_items[0] (toy_9).linkId: not an item"),
        ({"min_score": 0}, "toy.yaml: risk_items[0] (toy_2).min_score: must be above"),
        ({"min_score": 4}, "toy.yaml: risk_items[0] (toy_2).min_score: must be above"),
        ({"min_score": "high"}, "toy.yaml: risk_items[0] (toy_2).min_score: must be a number"),
        ({"label": ""}, "toy.yaml: risk_items[0] (toy_2).label: string should have at least"),
        ({"colour": "red"}, "toy.yaml: risk_items[0] (toy_2).colour: unknown field"),
    ],
)
def test_bad_risk_items_fail_with_one_line_naming_file_item_and_field(
    risk: dict[str, Any], expected: str
) -> None:
    assert _error_for(_toy(**risk)).startswith(expected)


def test_a_risk_item_without_a_source_or_label_is_refused() -> None:
    data = _toy()
    del data["risk_items"][0]["source"]
    assert _error_for(data) == "toy.yaml: risk_items[0] (toy_2).source: is required"
    data = _toy()
    del data["risk_items"][0]["label"]
    assert _error_for(data) == "toy.yaml: risk_items[0] (toy_2).label: is required"


def test_a_text_item_or_a_repeated_item_cannot_be_a_risk_item() -> None:
    data = _toy()
    data["items"].append({"linkId": "toy_note", "text": "Anything else?", "type": "text"})
    data["risk_items"][0]["linkId"] = "toy_note"
    assert "risk_items[0] (toy_note).linkId: toy_note is a text item" in _error_for(data)
    data = _toy()
    data["risk_items"].append(dict(data["risk_items"][0]))
    assert "risk_items[1] (toy_2).linkId: listed twice" in _error_for(data)


def test_the_bundled_phq9_file_with_a_broken_risk_item_names_phq9_yaml() -> None:
    data = yaml.safe_load(PHQ9_TEXT)
    data["risk_items"][0]["linkId"] = "phq9_10"
    assert _error_for(data, "phq9.yaml").startswith(
        "phq9.yaml: risk_items[0] (phq9_10).linkId: not an item of this instrument"
    )
