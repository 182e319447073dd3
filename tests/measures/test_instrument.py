"""The instrument model (alliance.measures.instrument): items, ranges, bands, cut-offs."""

from __future__ import annotations

import math

import pytest
from measures_builders import instrument_data
from pydantic import ValidationError

from alliance.measures.instrument import Instrument
from alliance.measures.registry import load_instrument


def test_it_expands_named_answer_sets_onto_each_item() -> None:
    options = [{"code": 0, "label": "no", "score": 0}, {"code": 1, "label": "yes", "score": 1}]
    data = instrument_data(answer_sets={"yn": options})
    data["items"] = [{"linkId": f"toy_{i}", "text": "q", "options": "yn"} for i in (1, 2)]
    inst = Instrument.model_validate(data)
    assert [o.label for o in inst.item("toy_2").options] == ["no", "yes"]


def test_it_reads_numeric_codes_as_their_text_form() -> None:
    inst = Instrument.model_validate(instrument_data())
    assert [o.code for o in inst.item("toy_1").options] == ["0", "1", "2", "3"]


def test_reverse_items_score_from_the_other_end_of_their_range() -> None:
    data = instrument_data()
    data["items"][0]["reverse"] = True
    inst = Instrument.model_validate(data)
    item = inst.item("toy_1")
    assert [item.score_answer(c) for c in range(4)] == [3.0, 2.0, 1.0, 0.0]
    assert inst.item("toy_2").score_answer(0) == 0.0


def test_total_range_follows_the_items_and_the_multiplier() -> None:
    inst = Instrument.model_validate(instrument_data(scoring={"method": "sum", "multiplier": 4}))
    assert inst.score_range == (0.0, 36.0)
    mean = Instrument.model_validate(instrument_data(scoring={"method": "mean"}))
    assert mean.score_range == (0.0, 3.0)


def test_touching_bands_give_the_shared_value_to_the_higher_band() -> None:
    wai = load_instrument("wai_sr")
    assert wai.band_for(2.99) == "low"
    assert wai.band_for(3.0) == "moderate"
    assert wai.band_for(4.0) == "high"
    assert wai.band_for(None) is None
    assert wai.band_for(math.nan) is None


def test_clinical_side_follows_the_direction() -> None:
    phq9, who5 = load_instrument("phq9"), load_instrument("who5")
    assert (phq9.is_clinical(10), phq9.is_clinical(9)) == (True, False)
    assert (who5.is_clinical(50), who5.is_clinical(52)) == (True, False)
    assert load_instrument("wai_sr").is_clinical(3) is None


def test_reliable_change_criterion_is_jacobson_truax() -> None:
    rc = load_instrument("phq9").reliable_change
    assert rc is not None
    expected = 1.96 * math.sqrt(2) * rc.sd * math.sqrt(1 - rc.reliability)
    assert rc.criterion() == pytest.approx(expected)
    assert rc.criterion(z=1.0) == pytest.approx(rc.standard_error_of_difference)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"items": []}, "items"),
        ({"scoring": {"method": "sum", "max_missing": 3}}, "max_missing"),
        (
            {"bands": [{"label": "a", "min": 0, "max": 5}, {"label": "b", "min": 4, "max": 9}]},
            "overlaps",
        ),
        ({"bands": [{"label": "a", "min": 0, "max": 50}]}, "outside"),
        ({"subscales": [{"name": "s", "items": ["toy_9"]}]}, "unknown linkId"),
        (
            {"clinical_cutoff": {"value": 99, "method": "published", "source": "x"}},
            "clinical_cutoff",
        ),
    ],
)
def test_it_refuses_inconsistent_definitions(change: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        Instrument.model_validate(instrument_data(**change))


def test_integer_items_need_both_bounds_and_check_their_answers() -> None:
    data = instrument_data()
    data["items"][0] = {"linkId": "toy_1", "text": "q", "type": "integer", "min_value": 0}
    with pytest.raises(ValidationError, match="max_value"):
        Instrument.model_validate(data)
    data["items"][0]["max_value"] = 10
    item = Instrument.model_validate(data).item("toy_1")
    assert item.score_answer("7") == 7.0
    with pytest.raises(ValueError, match="outside 0–10"):
        item.score_answer(11)
    with pytest.raises(ValueError, match="whole number"):
        item.score_answer(2.5)


def test_missing_answers_are_none_nan_and_blank_text() -> None:
    item = Instrument.model_validate(instrument_data()).item("toy_1")
    assert [item.score_answer(a) for a in (None, math.nan, "  ")] == [None, None, None]
    assert item.score_answer(" 2 ") == 2.0
    assert item.score_answer("2.0") == 2.0


def _with_unscored_item(**item: object) -> dict[str, object]:
    data = instrument_data()
    options = [{"code": "a", "label": "easy"}, {"code": "b", "label": "hard"}]
    data["items"].append({"linkId": "toy_extra", "text": "How hard?", "options": options, **item})
    return data


def test_a_choice_item_without_option_scores_is_kept_unscored() -> None:
    inst = Instrument.model_validate(_with_unscored_item())
    extra = inst.item("toy_extra")
    assert not extra.scored
    assert extra not in inst.total_items
    assert extra not in inst.scored_items
    assert inst.score_range == (0.0, 9.0)
    assert extra.score_answer("b") is None
    with pytest.raises(ValueError, match="not one of a, b"):
        extra.score_answer("c")


def test_an_item_with_scores_on_some_options_only_is_refused() -> None:
    data = _with_unscored_item()
    data["items"][-1]["options"][1]["score"] = 2
    with pytest.raises(ValidationError, match=r"options\[1\]\.score: give every option a score"):
        Instrument.model_validate(data)
    with pytest.raises(ValidationError, match="reverse: an item whose options have no score"):
        Instrument.model_validate(_with_unscored_item(reverse=True))


def test_an_unscored_choice_item_cannot_be_a_risk_item_or_in_a_subscale() -> None:
    data = _with_unscored_item()
    data["risk_items"] = [{"linkId": "toy_extra", "min_score": 1, "label": "x", "source": "y"}]
    with pytest.raises(ValidationError, match="toy_extra is an unscored choice item"):
        Instrument.model_validate(data)
    data = _with_unscored_item()
    data["subscales"] = [{"name": "s", "items": ["toy_1", "toy_extra"]}]
    with pytest.raises(ValidationError, match="toy_extra is an unscored choice item"):
        Instrument.model_validate(data)


def test_an_item_keeps_the_fhir_link_id_it_was_imported_with() -> None:
    data = instrument_data()
    data["items"][0]["fhir_link_id"] = "H1/T1/Q1"
    assert Instrument.model_validate(data).item("toy_1").fhir_link_id == "H1/T1/Q1"
    data["items"][0]["fhir_link_id"] = ""
    with pytest.raises(ValidationError):
        Instrument.model_validate(data)


def test_an_instrument_is_known_by_the_abbreviation_in_its_title() -> None:
    from alliance.measures.instrument import short_name_of

    assert short_name_of("Patient Health Questionnaire-9 (PHQ-9)") == "PHQ-9"
    wai = "Working Alliance Inventory - Short Revised (WAI-SR), client version"
    assert short_name_of(wai) == "WAI-SR"
    assert short_name_of("Alliance session feedback") == "Alliance session feedback"


def test_a_copy_with_other_items_derives_its_own_ranges_not_the_originals() -> None:
    # Derived values are cached per object; a copy with changed fields must not inherit them.
    phq9 = load_instrument("phq9")
    assert phq9.score_range == (0.0, 27.0)
    assert len(phq9.total_items) == 9
    fewer = phq9.model_copy(update={"items": phq9.items[:3]})
    assert fewer.score_range == (0.0, 9.0)
    assert fewer.link_ids == ("phq9_1", "phq9_2", "phq9_3")
    assert len(fewer.total_items) == 3
    assert phq9.score_range == (0.0, 27.0)  # the original keeps its own
    assert phq9 == load_instrument("phq9")  # cached values take no part in equality
