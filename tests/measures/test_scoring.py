"""Scoring (alliance.measures.scoring): properties that hold for any instrument, the batch
path against the single path, and errors that name the row and the item."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from measures_builders import answers_for, instrument_data, instruments

from alliance.measures.instrument import Instrument
from alliance.measures.registry import bundled_ids, load_instrument
from alliance.measures.scoring import Score, ScoringError, score_frame, score_response

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _round_half_up(x: float) -> float:
    return math.floor(x + 0.5)


def _expected_total(inst: Instrument, answers: dict[str, Any]) -> float | None:
    """The scoring rule written out independently of the implementation."""
    scores = [item.score_answer(answers.get(item.link_id)) for item in inst.total_items]
    present = [s for s in scores if s is not None]
    missing = len(scores) - len(present)
    if missing > inst.scoring.max_missing:
        return None
    if inst.scoring.method == "mean":
        value = sum(present) / len(present)
    else:
        value = sum(present)
        if missing:
            value = value * len(scores) / len(present)
            if inst.scoring.round_prorated:
                value = _round_half_up(value)
    if missing:  # a prorated score stays on the scale
        low, high = inst.score_range
        value = min(max(value, low / inst.scoring.multiplier), high / inst.scoring.multiplier)
    return value * inst.scoring.multiplier


@st.composite
def instrument_and_answers(draw: st.DrawFn) -> tuple[Instrument, dict[str, Any]]:
    inst = draw(instruments())
    return inst, draw(answers_for(inst))


@PROPERTY
@given(instrument_and_answers())
def test_valid_totals_and_subscales_stay_within_their_ranges(
    case: tuple[Instrument, dict[str, Any]],
) -> None:
    inst, answers = case
    score = score_response(inst, answers)
    low, high = inst.score_range
    if score.valid:
        assert score.total is not None
        assert low - 1e-9 <= score.total <= high + 1e-9
    for sub in inst.subscales:
        value = score.subscales[sub.name]
        if value is not None:
            items = inst.subscale_items(sub.name)
            low = sum(i.score_min for i in items)
            high = sum(i.score_max for i in items)
            if inst.scoring.method == "mean":
                low, high = low / len(items), high / len(items)
            assert low - 1e-9 <= value <= high + 1e-9


@PROPERTY
@given(instrument_and_answers())
def test_the_total_follows_the_missing_item_rule(case: tuple[Instrument, dict[str, Any]]) -> None:
    inst, answers = case
    score = score_response(inst, answers)
    expected = _expected_total(inst, answers)
    n_missing = sum(1 for i in inst.total_items if answers.get(i.link_id) is None)
    assert score.valid == (n_missing <= inst.scoring.max_missing)
    if expected is None:
        assert score.total is None
        assert score.band is None
        assert score.reason is not None
        assert f"{n_missing} of {len(inst.total_items)} items missing" in score.reason
    else:
        assert score.total == pytest.approx(expected)
        assert score.prorated == (n_missing > 0)


@PROPERTY
@given(instrument_and_answers())
def test_reversing_every_item_mirrors_a_complete_sum(
    case: tuple[Instrument, dict[str, Any]],
) -> None:
    inst, answers = case
    complete = {
        item.link_id: answers.get(item.link_id)
        if answers.get(item.link_id) is not None
        else (item.options[0].code if item.type == "choice" else item.min_value)
        for item in inst.scored_items
    }
    data = inst.model_dump(by_alias=True)
    data["items"] = [{**item, "reverse": not item["reverse"]} for item in data["items"]]
    data["scoring"] = {**data["scoring"], "method": "sum", "multiplier": 1}
    plain = Instrument.model_validate({**data, "items": inst.model_dump(by_alias=True)["items"]})
    flipped = Instrument.model_validate(data)
    a = score_response(plain, complete).total
    b = score_response(flipped, complete).total
    assert a is not None
    assert b is not None
    # each item contributes s and (min + max - s): together min + max
    assert a + b == pytest.approx(sum(i.score_min + i.score_max for i in plain.total_items))


@PROPERTY
@given(instrument_and_answers())
def test_proration_of_a_constant_response_gives_the_full_length_total(
    case: tuple[Instrument, dict[str, Any]],
) -> None:
    inst, _answers = case
    first = inst.total_items[0]
    if first.type != "choice" or inst.scoring.method != "sum" or inst.scoring.max_missing == 0:
        return
    # every item answered with a score s (where possible) except one missing → n * s
    option = first.options[0]
    same = {first.link_id: option.code}
    for item in inst.total_items[1:]:
        match = next(
            (
                o.code
                for o in item.options
                if item.score_answer(o.code) == first.score_answer(option.code)
            ),
            None,
        )
        if match is None:
            return
        same[item.link_id] = match
    if len(inst.total_items) < 2:
        return
    same[inst.total_items[-1].link_id] = None
    score = score_response(inst, same)
    per_item = first.score_answer(option.code)
    assert per_item is not None
    assert score.total == pytest.approx(per_item * len(inst.total_items) * inst.scoring.multiplier)


def _frame(answers: list[dict[str, Any]], inst: Instrument) -> pd.DataFrame:
    columns = [i.link_id for i in inst.scored_items]
    return pd.DataFrame([{c: a.get(c) for c in columns} for a in answers], columns=columns)


def _assert_same(score: Score, row: pd.Series, inst: Instrument) -> None:
    if score.total is None:
        assert math.isnan(row["total"])
    else:
        assert row["total"] == score.total  # bit for bit, not approximately
    assert bool(row["valid"]) == score.valid
    assert (row["band"] if isinstance(row["band"], str) else None) == score.band
    for sub in inst.subscales:
        value = row[f"subscale_{sub.name}"]
        expected = score.subscales[sub.name]
        assert math.isnan(value) if expected is None else value == expected


@PROPERTY
@given(st.data())
def test_batch_scoring_equals_single_scoring(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    answers = data.draw(st.lists(answers_for(inst), min_size=1, max_size=20))
    as_text = data.draw(st.booleans())
    frame = _frame(answers, inst)
    if as_text:  # the same answers as CSV text would give them
        frame = frame.map(lambda v: "" if v is None or v != v else str(int(v))).astype(object)
    out = score_frame(inst, frame)
    for index, answer in enumerate(answers):
        _assert_same(score_response(inst, answer), out.iloc[index], inst)


@pytest.mark.parametrize("instrument_id", sorted(bundled_ids()))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_batch_equals_single_for_every_bundled_instrument(
    instrument_id: str, data: st.DataObject
) -> None:
    inst = load_instrument(instrument_id)
    fields: dict[str, st.SearchStrategy[Any]] = {
        i.link_id: st.one_of(st.none(), st.sampled_from([o.code for o in i.options]))
        for i in inst.scored_items
    }
    answers = data.draw(st.lists(st.fixed_dictionaries(fields), min_size=1, max_size=15))
    out = score_frame(inst, _frame(answers, inst))
    for index, answer in enumerate(answers):
        _assert_same(score_response(inst, answer), out.iloc[index], inst)


# -- the DataFrame contract -----------------------------------------------------------


def _phq9_frame(rows: list[list[object]]) -> pd.DataFrame:
    columns = [f"phq9_{i}" for i in range(1, 10)]
    return pd.DataFrame(rows, columns=columns)


def test_it_keeps_id_columns_and_adds_the_score_columns() -> None:
    frame = _phq9_frame([[1] * 9, [3] * 9])
    frame.insert(0, "client_id", ["007", "008"])
    frame["gad7_1"] = [0, 1]  # another instrument's item is just another column here
    frame.index = [10, 20]
    out = score_frame(load_instrument("phq9"), frame)
    assert list(out.columns) == [*frame.columns, "total", "band", "valid"]
    assert out["client_id"].tolist() == ["007", "008"]
    assert out["total"].tolist() == [9.0, 27.0]
    assert out["band"].tolist() == ["mild", "severe"]
    assert list(out.index) == [10, 20]
    assert "total" not in frame.columns  # the input is not modified


def test_it_names_the_row_and_item_of_an_out_of_range_answer() -> None:
    frame = _phq9_frame([[0] * 9, [0] * 9, [0, 0, 0, 4, 0, 0, 0, 0, 0]])
    with pytest.raises(ScoringError) as caught:
        score_frame(load_instrument("phq9"), frame)
    assert (caught.value.row, caught.value.item) == (2, "phq9_4")
    assert str(caught.value) == "row 2, item phq9_4: answer 4 is not one of 0, 1, 2, 3"


def test_text_answers_are_quoted_as_written() -> None:
    frame = _phq9_frame([["1"] * 9, ["1", "2", "often", "0", "0", "0", "0", "0", "0"]])
    with pytest.raises(ScoringError, match=r"row 1, item phq9_3: answer 'often' is not one of"):
        score_frame(load_instrument("phq9"), frame)


def test_a_mistyped_item_column_is_an_unknown_item() -> None:
    frame = _phq9_frame([[1] * 9]).assign(phq9_10=[1])
    with pytest.raises(ScoringError, match="item phq9_10: not an item of phq9") as caught:
        score_frame(load_instrument("phq9"), frame)
    assert caught.value.row is None


def test_a_frame_without_any_item_column_is_refused() -> None:
    with pytest.raises(ScoringError, match="no item columns of phq9"):
        score_frame(load_instrument("phq9"), pd.DataFrame({"client": ["a"]}))


def test_too_many_missing_items_make_a_row_invalid_not_an_error() -> None:
    frame = _phq9_frame([[1, None, None, 1, 1, 1, 1, 1, 1], [1] * 9])
    out = score_frame(load_instrument("phq9"), frame)
    assert out["valid"].tolist() == [False, True]
    assert math.isnan(out["total"].iloc[0])
    assert pd.isna(out["band"].iloc[0])


def test_absent_optional_columns_count_as_missing() -> None:
    goals = load_instrument("client_goals")
    out = score_frame(goals, pd.DataFrame({"goal_1_progress": [4, None]}))
    assert out["valid"].tolist() == [True, False]
    assert out["total"].iloc[0] == 4.0
    assert out["subscale_goal_1"].iloc[0] == 4.0
    assert np.isnan(out["subscale_goal_2"].iloc[0])


def test_unknown_answer_keys_are_refused_for_a_single_response() -> None:
    with pytest.raises(ScoringError, match="item phq9_0: not an item of phq9"):
        score_response(load_instrument("phq9"), {"phq9_0": 1})


def test_a_single_bad_answer_names_its_item() -> None:
    with pytest.raises(ScoringError) as caught:
        score_response(load_instrument("phq9"), {"phq9_2": "7"})
    assert caught.value.item == "phq9_2"
    assert caught.value.row is None


def test_boolean_items_take_true_false_words_and_numbers() -> None:
    data = instrument_data()
    data["items"].append({"linkId": "toy_4", "text": "yes?", "type": "boolean"})
    inst = Instrument.model_validate(data)
    frame = pd.DataFrame(
        {"toy_1": [0, 0, 0], "toy_2": [0, 0, 0], "toy_3": [0, 0, 0], "toy_4": ["yes", "0", "True"]}
    )
    assert score_frame(inst, frame)["total"].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ScoringError, match="row 0, item toy_4"):
        score_frame(inst, frame.assign(toy_4=["maybe", "1", "1"]))
