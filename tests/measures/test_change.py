"""Reliable change and clinical significance (alliance.measures.change)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.measures.change import (
    choose_cutoff,
    classify_change,
    cutoff_a,
    cutoff_b,
    cutoff_c,
    in_functional_range,
    reliable_change_criterion,
    reliable_change_direction,
    reliable_change_index,
    standard_error_of_difference,
    standard_error_of_measurement,
)


def test_it_computes_the_jacobson_truax_standard_errors_by_hand() -> None:
    """Hand computation with the Jacobson & Truax (1991) formulas, SD = 7.5 and r = .80:
    SE = 7.5·√0.2 = 3.35410, S_diff = √(2·3.35410²) = 4.74342, 1.96·S_diff = 9.29710."""
    assert standard_error_of_measurement(7.5, 0.80) == pytest.approx(3.354102, abs=1e-6)
    assert standard_error_of_difference(7.5, 0.80) == pytest.approx(4.743416, abs=1e-6)
    assert reliable_change_criterion(7.5, 0.80) == pytest.approx(9.297096, abs=1e-6)
    # 30 -> 20 is a fall of 10 points: RCI = -10 / 4.743416 = -2.108185
    assert reliable_change_index(30, 20, 7.5, 0.80) == pytest.approx(-2.108185, abs=1e-6)


def test_reliable_change_matches_a_published_worked_example() -> None:
    """Published worked example: Wodrich, open textbook (University of Arizona Open Textbooks,
    opentextbooks.library.arizona.edu/wodrichseas), Appendix E "How to Calculate Reliable
    Change Indexes (RCIs)", Table A.3.1: Piers-Harris-2 Total score, SEM 3.07 (Piers &
    Herzberg, 2002) → S_diff = √(2·3.07²) = 4.34 → 1.96·S_diff = 8.51; a pre-test of 24 and a
    post-test of 35 (change 11 > 8.51) is a reliable change.

    Our functions take SD and r; any pair with SD·√(1−r) = 3.07 gives that SEM (here the
    T-score SD of 10 and r = 1 − 0.307²)."""
    sd, reliability = 10.0, 1 - 0.307**2
    assert standard_error_of_measurement(sd, reliability) == pytest.approx(3.07)
    assert round(standard_error_of_difference(sd, reliability), 2) == 4.34
    assert round(reliable_change_criterion(sd, reliability), 2) == 8.51
    result = classify_change(24, 35, sd=sd, reliability=reliability, direction="higher_is_better")
    assert result.reliable_change == "improved"
    assert result.rci == pytest.approx(11 / math.sqrt(2 * 3.07**2))


def test_cutoff_c_matches_a_published_worked_example() -> None:
    """Published worked example: the documentation of the *clinicalsignificance* R package
    (Hagspiel et al., CRAN; README "Example", data of Claus, Scherbaum & Bonnet, 2020,
    Psychother Psychosom 89:258-260) reports, for the BDI-II with a clinical sample of
    M = 35.48, SD = 8.16 and a functional population of M = 8, SD = 8, a Jacobson–Truax
    cut-off *c* "with a value of 21.6". (8·35.48 + 8.16·8) / (8 + 8.16) = 21.604."""
    value = cutoff_c(clinical_mean=35.48, clinical_sd=8.16, normal_mean=8.0, normal_sd=8.0)
    assert round(value, 1) == 21.6


def test_cutoff_c_lies_between_the_means_and_nearer_the_tighter_population() -> None:
    c = cutoff_c(clinical_mean=20.0, clinical_sd=6.0, normal_mean=4.0, normal_sd=2.0)
    # (2·20 + 6·4)/(2+6) = 8.0: two functional SDs above M0 and two clinical SDs below M1
    assert c == pytest.approx(8.0)
    assert (c - 4.0) / 2.0 == pytest.approx((20.0 - c) / 6.0)


def test_cutoffs_a_and_b_point_towards_health_for_each_direction() -> None:
    # higher_is_worse (e.g. PHQ-9): a is below the clinical mean, b above the normal mean
    assert cutoff_a(18.0, 4.0, "higher_is_worse") == pytest.approx(10.0)
    assert cutoff_b(3.0, 3.0, "higher_is_worse") == pytest.approx(9.0)
    # higher_is_better (e.g. WHO-5): mirrored
    assert cutoff_a(8.0, 3.0, "higher_is_better") == pytest.approx(14.0)
    assert cutoff_b(17.0, 4.0, "higher_is_better") == pytest.approx(9.0)


def test_choose_cutoff_prefers_c_then_b_then_a() -> None:
    both = choose_cutoff(
        "higher_is_worse", clinical_mean=20, clinical_sd=6, normal_mean=4, normal_sd=2
    )
    assert both == (pytest.approx(8.0), "c")
    assert choose_cutoff("higher_is_worse", normal_mean=4, normal_sd=2) == (
        pytest.approx(8.0),
        "b",
    )
    assert choose_cutoff("higher_is_worse", clinical_mean=20, clinical_sd=6) == (
        pytest.approx(8.0),
        "a",
    )
    with pytest.raises(ValueError, match="mean and SD"):
        choose_cutoff("higher_is_worse")


def test_a_score_on_the_cutoff_is_not_yet_functional() -> None:
    assert not in_functional_range(10, 10, "higher_is_worse")
    assert in_functional_range(9, 10, "higher_is_worse")
    assert not in_functional_range(13, 13, "higher_is_better")
    assert in_functional_range(14, 13, "higher_is_better")


def test_reliable_change_is_signed_by_the_instruments_direction() -> None:
    assert reliable_change_direction(-2.5, "higher_is_worse") == "improved"
    assert reliable_change_direction(-2.5, "higher_is_better") == "deteriorated"
    assert reliable_change_direction(2.5, "higher_is_worse") == "deteriorated"
    assert reliable_change_direction(1.96, "higher_is_better") == "none"


def test_a_client_who_falls_reliably_below_the_cutoff_has_recovered() -> None:
    result = classify_change(
        18, 6, sd=5.0, reliability=0.84, direction="higher_is_worse", cutoff=10, cutoff_method="a"
    )
    # S_diff = 5·√0.16·√2 = 2.828427 -> RCI = -12/2.828427 = -4.2426
    assert result.rci == pytest.approx(-12 / (5 * 0.4 * math.sqrt(2)))
    assert result.change == -12
    assert result.reliable_change == "improved"
    assert result.clinically_significant is True
    assert result.status == "recovered"
    assert result.cutoff_method == "a"


def test_reliable_improvement_that_stays_above_the_cutoff_is_improved_not_recovered() -> None:
    result = classify_change(
        24, 14, sd=5.0, reliability=0.84, direction="higher_is_worse", cutoff=10
    )
    assert result.reliable_change == "improved"
    assert result.clinically_significant is False
    assert result.status == "improved"


def test_crossing_the_cutoff_without_reliable_change_is_unchanged() -> None:
    result = classify_change(
        11, 9, sd=5.0, reliability=0.84, direction="higher_is_worse", cutoff=10
    )
    assert result.clinically_significant is True
    assert result.reliable_change == "none"
    assert result.status == "unchanged"


def test_reliable_worsening_on_a_higher_is_better_scale_is_deterioration() -> None:
    result = classify_change(20, 8, sd=4.0, reliability=0.8, direction="higher_is_better")
    assert result.reliable_change == "deteriorated"
    assert result.status == "deteriorated"
    assert result.clinically_significant is None
    assert result.cutoff is None


@pytest.mark.parametrize(
    ("sd", "reliability", "message"),
    [(0.0, 0.8, "sd"), (-1.0, 0.8, "sd"), (5.0, 1.0, "reliability"), (5.0, 0.0, "reliability")],
)
def test_it_rejects_impossible_parameters(sd: float, reliability: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classify_change(10, 5, sd=sd, reliability=reliability, direction="higher_is_worse")


def test_it_rejects_a_missing_score() -> None:
    with pytest.raises(ValueError, match="baseline"):
        classify_change(float("nan"), 5, sd=5.0, reliability=0.8, direction="higher_is_worse")


@given(
    baseline=st.floats(0, 100),
    latest=st.floats(0, 100),
    sd=st.floats(0.5, 30),
    reliability=st.floats(0.05, 0.99),
)
def test_mirroring_the_scale_mirrors_the_verdict(
    baseline: float, latest: float, sd: float, reliability: float
) -> None:
    worse = classify_change(
        baseline, latest, sd=sd, reliability=reliability, direction="higher_is_worse", cutoff=50
    )
    better = classify_change(
        -baseline, -latest, sd=sd, reliability=reliability, direction="higher_is_better", cutoff=-50
    )
    assert worse.reliable_change == better.reliable_change
    assert worse.status == better.status
    assert worse.clinically_significant == better.clinically_significant
    assert worse.rci == pytest.approx(-better.rci)


@given(change=st.floats(-50, 50), sd=st.floats(0.5, 30), reliability=st.floats(0.05, 0.99))
def test_reliable_exactly_when_the_raw_change_exceeds_the_criterion(
    change: float, sd: float, reliability: float
) -> None:
    criterion = reliable_change_criterion(sd, reliability)
    result = classify_change(
        50, 50 + change, sd=sd, reliability=reliability, direction="higher_is_better"
    )
    if abs(abs(change) - criterion) > 1e-9:
        assert (result.reliable_change != "none") == (abs(change) > criterion)


def test_a_non_inclusive_cutoff_counts_the_cutoff_value_as_functional() -> None:
    assert in_functional_range(10, 10, "higher_is_worse", inclusive=False)
    assert in_functional_range(13, 13, "higher_is_better", inclusive=False)


def test_an_instruments_own_parameters_and_cutoff_are_used() -> None:
    from alliance.measures.change import classify_instrument_change
    from alliance.measures.registry import load_instrument

    phq9 = load_instrument("phq9")
    params, cut = phq9.reliable_change, phq9.clinical_cutoff
    assert params is not None
    assert cut is not None
    result = classify_instrument_change(phq9, 18, cut.value)
    # landing exactly on an inclusive cut-off is still a case: improved, not recovered
    assert result.cutoff == cut.value
    assert result.clinically_significant is False
    assert result.rci == pytest.approx(
        reliable_change_index(18, cut.value, params.sd, params.reliability)
    )
    assert result.criterion == pytest.approx(params.criterion())
    assert classify_instrument_change(phq9, 18, cut.value - 1).status == "recovered"


def test_an_instrument_without_reliable_change_parameters_is_refused() -> None:
    from alliance.measures.change import classify_instrument_change
    from alliance.measures.registry import load_instrument

    with pytest.raises(ValueError, match="reliable-change"):
        classify_instrument_change(load_instrument("session_feedback"), 5, 8)
