"""Cronbach's alpha and its Feldt interval (alliance.measures.psychometrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from alliance.measures.psychometrics import cronbach_alpha

HAND = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 3, 3, 5, 5], "c": [2, 3, 4, 4, 5]})


def test_it_matches_a_hand_computed_alpha() -> None:
    """Item variances (n−1): a = 10/4 = 2.5, b = 7.2/4 = 1.8, c = 5.2/4 = 1.3 → Σ = 5.6.
    Totals 5, 8, 10, 13, 15: variance 62.8/4 = 15.7. alpha = 3/2 · (1 − 5.6/15.7) = 0.964968."""
    result = cronbach_alpha(HAND)
    assert result.alpha == pytest.approx(0.964968, abs=1e-6)
    assert (result.n, result.k, result.n_dropped) == (5, 3, 0)


def test_the_feldt_interval_uses_the_f_distribution_with_the_right_degrees_of_freedom() -> None:
    """Feldt (1965): df = n−1 = 4 and (n−1)(k−1) = 8; bounds 1 − (1−α)·F(.975) and
    1 − (1−α)·F(.025)."""
    result = cronbach_alpha(HAND)
    alpha = 15.15 / 15.7
    assert result.lower == pytest.approx(1 - (1 - alpha) * stats.f.ppf(0.975, 4, 8))
    assert result.upper == pytest.approx(1 - (1 - alpha) * stats.f.ppf(0.025, 4, 8))
    assert result.lower < result.alpha < result.upper


def test_a_wider_confidence_gives_a_wider_interval() -> None:
    narrow = cronbach_alpha(HAND, confidence=0.80)
    wide = cronbach_alpha(HAND, confidence=0.99)
    assert wide.lower < narrow.lower
    assert wide.upper > narrow.upper


def test_identical_items_have_alpha_one() -> None:
    column = [1.0, 4.0, 2.0, 5.0, 3.0, 3.0]
    result = cronbach_alpha(pd.DataFrame({"x": column, "y": column, "z": column}))
    assert result.alpha == pytest.approx(1.0)
    assert result.upper == pytest.approx(1.0)


def test_respondents_with_a_missing_item_are_left_out_listwise() -> None:
    with_gap = pd.concat(
        [HAND, pd.DataFrame({"a": [np.nan, 2.0], "b": [1.0, np.nan], "c": [1.0, 1.0]})],
        ignore_index=True,
    )
    result = cronbach_alpha(with_gap)
    assert result.n_dropped == 2
    assert result.n == 5
    assert result.alpha == pytest.approx(cronbach_alpha(HAND).alpha)


def test_it_rejects_a_text_column_by_name() -> None:
    with pytest.raises(ValueError, match="'b' is not numeric"):
        cronbach_alpha(HAND.assign(b=["x", "y", "z", "w", "v"]))


def test_it_rejects_too_few_items_or_respondents() -> None:
    with pytest.raises(ValueError, match="at least 2 item"):
        cronbach_alpha(HAND[["a"]])
    with pytest.raises(ValueError, match="at least 2 respondents"):
        cronbach_alpha(HAND.iloc[:1])


def test_it_rejects_a_sample_whose_total_does_not_vary() -> None:
    with pytest.raises(ValueError, match="no variance"):
        cronbach_alpha(pd.DataFrame({"a": [2, 2, 2], "b": [1, 1, 1]}))


def test_uncorrelated_items_have_alpha_near_zero_and_correlated_items_near_theory() -> None:
    rng = np.random.default_rng(7)
    noise = pd.DataFrame(rng.normal(size=(4000, 5)))
    assert abs(cronbach_alpha(noise).alpha) < 0.05
    # parallel items, true-score variance = error variance: ρ = 5·0.5 / (1 + 4·0.5) = 0.8333
    true = rng.normal(size=(4000, 1))
    parallel = pd.DataFrame(true + rng.normal(size=(4000, 5)))
    result = cronbach_alpha(parallel)
    assert result.lower < 5 * 0.5 / (1 + 4 * 0.5) < result.upper


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(3, 12), st.integers(2, 6)),
        elements=st.integers(0, 4).map(float),
    )
)
def test_alpha_never_exceeds_one(data: np.ndarray) -> None:
    frame = pd.DataFrame(data)
    if frame.sum(axis=1).var(ddof=1) == 0:
        return
    result = cronbach_alpha(frame)
    assert result.alpha <= 1.0
    assert result.lower <= result.alpha <= result.upper <= 1.0
