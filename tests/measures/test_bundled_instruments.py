"""Every bundled instrument against its published scoring and bands, with hand-computed
examples (sources are named in each instrument file and in docs/measures.md)."""

from __future__ import annotations

import pytest

from alliance.measures.registry import load_instrument
from alliance.measures.scoring import score_response


def _answers(prefix: str, values: list[int | None]) -> dict[str, int | None]:
    return {f"{prefix}{i}": v for i, v in enumerate(values, start=1)}


# PHQ-9 (Kroenke et al. 2001): sum of nine 0-3 items; 5/10/15/20 are the band cut points.
@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),
        ([3, 3, 3, 0, 0, 0, 0, 0, 0], 9, "mild"),
        ([1, 2, 3, 0, 1, 2, 1, 0, 0], 10, "moderate"),
        ([2, 2, 2, 2, 2, 2, 2, 0, 0], 14, "moderate"),
        ([3, 3, 3, 3, 3, 0, 0, 0, 0], 15, "moderately severe"),
        ([3, 3, 3, 3, 3, 2, 1, 1, 0], 19, "moderately severe"),
        ([3, 3, 3, 3, 3, 3, 2, 0, 0], 20, "severe"),
        ([3, 3, 3, 3, 3, 3, 3, 3, 3], 27, "severe"),
    ],
)
def test_phq9_totals_and_bands_match_kroenke_2001(values: list[int], total: int, band: str) -> None:
    score = score_response(load_instrument("phq9"), _answers("phq9_", values))
    assert (score.total, score.band, score.valid) == (total, band, True)


def test_phq9_prorates_one_missing_item_and_refuses_two() -> None:
    phq9 = load_instrument("phq9")
    # eight answered items summing to 11 → 11 × 9 / 8 = 12.375 → 12
    one = score_response(phq9, _answers("phq9_", [2, 2, 1, 1, 1, 1, 1, 2, None]))
    assert (one.total, one.band, one.prorated) == (12, "moderate", True)
    # 13 × 9 / 8 = 14.625 → 15: proration can move a response into the next band
    up = score_response(phq9, _answers("phq9_", [2, 2, 2, 2, 2, 1, 1, 1, None]))
    assert (up.total, up.band) == (15, "moderately severe")
    two = score_response(phq9, _answers("phq9_", [3, 3, 3, 3, 3, 3, 3, None, None]))
    assert (two.valid, two.total, two.band) == (False, None, None)
    assert two.reason == "2 of 9 items missing (phq9_8, phq9_9); at most 1 may be missing"


def test_phq9_caseness_and_reliable_change_follow_nhs_talking_therapies() -> None:
    phq9 = load_instrument("phq9")
    assert phq9.is_clinical(10) is True
    assert phq9.is_clinical(9) is False
    rc = phq9.reliable_change
    assert rc is not None
    # a change of 6 is reliable, 5 is not (the published threshold is "6 or more")
    assert 5 < rc.criterion() <= 6
    assert phq9.total_code is not None
    assert phq9.total_code.code == "44261-6"


# GAD-7 (Spitzer et al. 2006): sum of seven 0-3 items; 5/10/15 are the band cut points.
@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
        ([1, 1, 1, 1, 0, 0, 0], 4, "minimal"),
        ([1, 1, 1, 1, 1, 0, 0], 5, "mild"),
        ([3, 3, 3, 0, 0, 0, 0], 9, "mild"),
        ([2, 2, 2, 2, 2, 0, 0], 10, "moderate"),
        ([2, 2, 2, 2, 2, 2, 2], 14, "moderate"),
        ([3, 3, 3, 3, 3, 0, 0], 15, "severe"),
        ([3, 3, 3, 3, 3, 3, 3], 21, "severe"),
    ],
)
def test_gad7_totals_and_bands_match_spitzer_2006(values: list[int], total: int, band: str) -> None:
    score = score_response(load_instrument("gad7"), _answers("gad7_", values))
    assert (score.total, score.band) == (total, band)


def test_gad7_caseness_and_reliable_change() -> None:
    gad7 = load_instrument("gad7")
    assert (gad7.is_clinical(8), gad7.is_clinical(7)) == (True, False)
    rc = gad7.reliable_change
    assert rc is not None
    assert 3 < rc.criterion() <= 4
    assert gad7.total_code is not None
    assert gad7.total_code.code == "70274-6"


# WHO-5 (Topp et al. 2015): raw 0-25 × 4 = 0-100; ≤ 50 poor well-being, ≤ 28 likely depression.
@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([0, 0, 0, 0, 0], 0, "likely depression"),
        ([2, 2, 1, 1, 1], 28, "likely depression"),
        ([2, 2, 2, 1, 1], 32, "poor well-being"),
        ([3, 3, 2, 2, 2], 48, "poor well-being"),
        ([3, 3, 3, 2, 2], 52, "adequate well-being"),
        ([5, 5, 5, 5, 5], 100, "adequate well-being"),
    ],
)
def test_who5_percentage_and_bands_match_topp_2015(
    values: list[int], total: int, band: str
) -> None:
    score = score_response(load_instrument("who5"), _answers("who5_", values))
    assert (score.total, score.band) == (total, band)


def test_who5_is_higher_is_better_with_a_ten_point_change() -> None:
    who5 = load_instrument("who5")
    assert who5.direction == "higher_is_better"
    assert (who5.is_clinical(48), who5.is_clinical(52)) == (True, False)
    rc = who5.reliable_change
    assert rc is not None
    assert rc.criterion() == pytest.approx(10, abs=0.01)
    # prorated raw score is rounded before × 4, so the total stays a multiple of 4
    score = score_response(who5, _answers("who5_", [3, 3, 3, 2, None]))
    assert score.total == 56  # 11 × 5 / 4 = 13.75 → 14 → 56


# WAI-SR (Hatcher & Gillaspy 2006): means of 1-5 ratings; Goal 4,6,8,11; Task 1,2,10,12;
# Bond 3,5,7,9.
def test_wai_sr_subscales_hold_the_published_items() -> None:
    wai = load_instrument("wai_sr")
    members = {s.name: sorted(int(i.split("_")[1]) for i in s.items) for s in wai.subscales}
    assert members == {"goal": [4, 6, 8, 11], "task": [1, 2, 10, 12], "bond": [3, 5, 7, 9]}
    assert len(wai.items) == 12
    assert wai.score_range == (1, 5)


def test_wai_sr_scores_are_item_means() -> None:
    wai = load_instrument("wai_sr")
    goal = {4, 6, 8, 11}
    answers = {f"wai_{i}": (5 if i in goal else 2) for i in range(1, 13)}
    score = score_response(wai, answers)
    assert score.subscales == {"goal": 5.0, "task": 2.0, "bond": 2.0}
    assert score.total == pytest.approx((4 * 5 + 8 * 2) / 12)  # 3.0
    assert score.band == "moderate"
    # one missing item per subscale is averaged over the answered three
    answers["wai_4"] = None
    answers["wai_1"] = 4
    partial = score_response(wai, answers)
    assert partial.subscales["goal"] == 5.0
    assert partial.subscales["task"] == pytest.approx((4 + 2 + 2 + 2) / 4)
    assert wai.alert_thresholds["low"] == 3.0


def test_session_feedback_marks_a_poor_fit() -> None:
    form = load_instrument("session_feedback")
    answers = {
        "sf_heard": 8,
        "sf_focus": 6,
        "sf_approach": 4,
        "sf_comment": "The homework felt too much.",
        "sf_fit": "no",
    }
    score = score_response(form, answers)
    assert score.total == 6.0  # mean of 8, 6, 4; the fit answer is not in the total
    assert score.band == "needs attention"
    assert score.subscales["fit"] == form.alert_thresholds["poor_fit"] == 0.0
    assert score_response(form, {**answers, "sf_fit": "not_sure"}).subscales["fit"] == 1.0
    assert score_response(form, {**answers, "sf_fit": None}).subscales["fit"] is None


def test_client_goals_need_only_one_rated_goal() -> None:
    goals = load_instrument("client_goals")
    one = score_response(goals, {"goal_1_text": "Sleep better", "goal_1_progress": 6})
    assert (one.valid, one.total) == (True, 6.0)
    assert one.subscales == {"goal_1": 6.0, "goal_2": None, "goal_3": None}
    three = score_response(
        goals, {"goal_1_progress": 6, "goal_2_progress": 3, "goal_3_progress": 9}
    )
    assert three.total == 6.0
    none = score_response(goals, {"goal_1_text": "Sleep better"})
    assert none.valid is False
