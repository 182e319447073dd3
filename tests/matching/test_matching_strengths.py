"""Therapist strengths: case-mix adjustment and empirical-Bayes shrinkage."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from alliance.matching import HistoryRow, estimate_strengths
from alliance.matching.strengths import shrink


def _clinic(rng: np.random.Generator, cells: dict[tuple[str, str], tuple[int, float]]):  # type: ignore[no-untyped-def]
    """Rows where improvement = 0.5·severity + cell effect + noise (SD 3)."""
    rows = []
    for (tid, concern), (n, effect) in cells.items():
        for _ in range(n):
            sev = float(rng.normal(15, 4))
            imp = 0.5 * sev + effect + float(rng.normal(0, 3))
            rows.append(
                HistoryRow(
                    therapist_id=tid,
                    concern=concern,
                    intake_severity=sev,
                    improvement=imp,
                    alliance=float(rng.normal(5, 0.5)),
                )
            )
    return rows


def test_shrinkage_pulls_a_two_case_therapist_toward_the_mean_more_than_a_fifty_case_one() -> None:
    rng = np.random.default_rng(7)
    cells = {(f"t{i}", "anxiety"): (30, float(rng.normal(0, 1.5))) for i in range(10)}
    cells[("few", "anxiety")] = (2, 4.0)
    cells[("many", "anxiety")] = (50, 4.0)
    s = estimate_strengths(_clinic(rng, cells))
    few = s.get("few", "anxiety")
    many = s.get("many", "anxiety")
    assert few is not None
    assert many is not None
    assert few.improvement.shrinkage < many.improvement.shrinkage
    kept_few = few.improvement.estimate / few.improvement.raw
    kept_many = many.improvement.estimate / many.improvement.raw
    assert 0 < kept_few < kept_many <= 1
    assert few.improvement.sd > many.improvement.sd


def test_case_mix_adjustment_credits_no_one_for_easier_clients() -> None:
    # Same true effect for everyone; t-severe sees far more severe clients, who improve more
    # on raw scores. After adjustment nobody stands out.
    rng = np.random.default_rng(3)
    rows = []
    for tid, mean_sev in [("t-mild", 8.0), ("t-severe", 20.0), ("t-mid", 14.0)]:
        for _ in range(60):
            sev = float(rng.normal(mean_sev, 2))
            rows.append(
                HistoryRow(
                    therapist_id=tid,
                    concern="depression",
                    intake_severity=sev,
                    improvement=0.6 * sev + float(rng.normal(0, 2)),
                )
            )
    s = estimate_strengths(rows)
    assert s.improvement_model is not None
    assert abs(s.improvement_model.severity_slope - 0.6) < 0.15
    raw_gap = np.mean([r.improvement for r in rows if r.therapist_id == "t-severe"]) - np.mean(
        [r.improvement for r in rows if r.therapist_id == "t-mild"]
    )
    assert raw_gap > 5
    for tid in ("t-mild", "t-severe", "t-mid"):
        est = s.get(tid, "depression")
        assert est is not None
        assert abs(est.improvement.estimate) < 1.0


def test_with_many_cases_estimates_recover_the_true_ordering() -> None:
    rng = np.random.default_rng(11)
    truth = {
        (f"t{i}", c): float(rng.normal(0, 2)) for i in range(12) for c in ("anxiety", "depression")
    }
    s = estimate_strengths(_clinic(rng, {k: (60, v) for k, v in truth.items()}))
    est = [s.get(*k).improvement.estimate for k in truth]  # type: ignore[union-attr]
    assert np.corrcoef(est, list(truth.values()))[0, 1] > 0.9


def test_alliance_effects_are_estimated_when_rows_have_alliance() -> None:
    rng = np.random.default_rng(5)
    s = estimate_strengths(_clinic(rng, {(f"t{i}", "grief"): (20, 0.0) for i in range(4)}))
    assert s.alliance_model is not None
    one = s.get("t0", "grief")
    assert one is not None
    assert one.alliance is not None
    assert one.alliance.n == 20


def test_no_history_claims_nothing() -> None:
    s = estimate_strengths([])
    assert s.items == ()
    assert s.get("t1", "anxiety") is None
    two = estimate_strengths(
        [HistoryRow(therapist_id="t1", concern="grief", intake_severity=1, improvement=9)] * 2
    )
    only = two.get("t1", "grief")
    assert only is not None
    assert only.n == 2
    assert only.improvement.estimate == 0.0


@given(
    st.floats(-10, 10),
    st.integers(1, 500),
    st.floats(0.1, 50),
    st.floats(0.01, 50),
)
def test_shrinkage_weight_grows_with_cases_and_stays_between_zero_and_one(
    mean: float, n: int, sigma2: float, tau2: float
) -> None:
    est, sd, b = shrink(mean, n, sigma2, tau2)
    _est2, sd2, b2 = shrink(mean, n + 1, sigma2, tau2)
    assert 0 < b < b2 <= 1
    assert abs(est) <= abs(mean) + 1e-12
    assert sd2 <= sd


def test_no_between_therapist_variance_shrinks_everyone_to_the_mean() -> None:
    assert shrink(3.0, 40, 4.0, 0.0) == (0.0, 0.0, 0.0)
