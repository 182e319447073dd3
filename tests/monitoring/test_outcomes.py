"""Clinic outcome statistics: Wilson intervals, per-episode Jacobson–Truax change, group rows,
small-cell suppression and the indirect severity adjustment."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.proportion import proportion_confint

from alliance.measures.change import classify_instrument_change
from alliance.measures.registry import load_instrument
from alliance.monitoring.outcomes import (
    BENCHMARKS,
    MIN_CELL,
    Count,
    EpisodeChange,
    EpisodeFacts,
    Mean,
    Rate,
    episode_change,
    overall,
    summarise,
    wilson_interval,
)


def test_the_wilson_interval_matches_a_value_worked_by_hand() -> None:
    # 8 of 10, z = 1.96: centre (0.8 + 0.19208) / 1.38416 = 0.71677,
    # half 1.96·√(0.016 + 0.0009604) / 1.38416 = 0.18440 → (0.4902, 0.9433).
    low, high = wilson_interval(8, 10, z=1.96)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


@pytest.mark.parametrize(("x", "n"), [(0, 5), (1, 7), (13, 40), (40, 40), (517, 1000)])
def test_the_wilson_interval_agrees_with_statsmodels(x: int, n: int) -> None:
    low, high = wilson_interval(x, n)
    ref_low, ref_high = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert (low, high) == pytest.approx((ref_low, ref_high), abs=1e-12)


def test_the_wilson_interval_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="n must be positive"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(6, 5)


def test_an_episodes_change_is_the_instruments_jacobson_truax_classification() -> None:
    phq = load_instrument("phq9")
    change = episode_change(phq, [18.0, 14.0, 6.0])
    expected = classify_instrument_change(phq, 18.0, 6.0)
    assert change is not None
    assert (change.baseline, change.latest, change.status) == (18.0, 6.0, expected.status)
    assert change.status == "recovered"
    assert change.at_caseness is True
    assert episode_change(phq, [18.0]) is None
    assert episode_change(phq, []) is None
    # Starting below the cut-off (PHQ-9 ≥ 10 is a case) is not caseness.
    mild = episode_change(phq, [8.0, 2.0])
    assert mild is not None
    assert mild.at_caseness is False
    assert mild.status != "recovered"


def _facts(
    i: int, status: str | None, stratum: str = "phq9:moderate", **kw: object
) -> EpisodeFacts:
    change = (
        None if status is None else EpisodeChange("phq9", 15.0, 5.0, status, at_caseness=True)  # type: ignore[arg-type]
    )
    return EpisodeFacts(episode_id=i, change=change, stratum=stratum, **kw)  # type: ignore[arg-type]


def test_a_row_counts_rates_with_intervals_and_dropouts() -> None:
    facts = [
        *(_facts(i, "recovered", started=True) for i in range(4)),
        *(_facts(i, "improved") for i in range(4, 6)),
        *(_facts(i, "deteriorated", ended=True, dropout=True) for i in range(6, 7)),
        *(_facts(i, "unchanged", ended=True) for i in range(7, 10)),
        *(_facts(i, None, ended=True, alliance=5.0) for i in range(10, 12)),
    ]
    (row,) = summarise(facts, "clinic", {f.episode_id: [("all", "Clinic")] for f in facts})
    assert row.episodes == Count(12)
    assert row.with_two_scores == Count(10)
    assert row.reliable_improvement.numerator == 6
    assert row.reliable_improvement.denominator == 10
    assert row.reliable_improvement.value == pytest.approx(0.6)
    assert (row.reliable_improvement.low, row.reliable_improvement.high) == pytest.approx(
        wilson_interval(6, 10)
    )
    assert row.recovery.value == pytest.approx(0.4)
    assert row.reliable_deterioration.value == pytest.approx(0.1)
    assert row.dropout == Rate.of(1, 6)
    # One group, one stratum: adjusting against itself changes nothing.
    assert row.reliable_improvement.adjusted == pytest.approx(0.6)
    # Four episodes started, two alliance scores: both cells are suppressed, not zero.
    assert row.started == Count(None, True)
    assert row.alliance == Mean(None, None, True)


def test_cells_from_fewer_than_five_episodes_are_suppressed() -> None:
    assert MIN_CELL == 5
    assert Rate.of(2, 4) == Rate(None, None, suppressed=True)
    assert Rate.of(2, 5).value == pytest.approx(0.4)
    assert Rate.of(0, 0) == Rate(0, 0)
    assert Count.of(0) == Count(0)
    assert Count.of(4).suppressed
    assert Mean.of([1.0, 2.0, 3.0, 4.0, 5.0]) == Mean(3.0, 5)
    facts = [_facts(i, "improved") for i in range(3)]
    (row,) = summarise(facts, "therapist", {i: [("7", "Alice")] for i in range(3)})
    assert row.reliable_improvement.suppressed
    assert row.reliable_improvement.value is None
    assert row.reliable_improvement.numerator is None


def test_severity_adjustment_compares_a_group_with_the_clinic_on_clients_like_theirs() -> None:
    # The clinic: severe clients improve 2 in 10, moderate ones 8 in 20.
    severe = [_facts(i, "improved" if i < 2 else "unchanged", "phq9:severe") for i in range(10)]
    moderate = [
        _facts(i, "improved" if i < 18 else "unchanged", "phq9:moderate") for i in range(10, 30)
    ]
    # Therapist A sees the severe clients, B the moderate ones: each does as the clinic does
    # with such clients, so both adjusted rates equal the clinic's crude rate (10/30).
    groups = {f.episode_id: [("a", "A")] for f in severe}
    groups.update({f.episode_id: [("b", "B")] for f in moderate})
    a, b = summarise([*severe, *moderate], "therapist", groups)
    assert a.reliable_improvement.value == pytest.approx(0.2)
    assert b.reliable_improvement.value == pytest.approx(0.4)
    clinic = 10 / 30
    # A: observed 2, expected 10·0.2 = 2 → clinic rate; B: observed 8, expected 20·0.4 = 8.
    assert a.reliable_improvement.adjusted == pytest.approx(clinic)
    assert b.reliable_improvement.adjusted == pytest.approx(clinic)
    # Against that clinic, a therapist who helps 4 of 10 severe clients did twice as well as
    # expected (2): adjusted 2 × 10/30, although its crude
    # rate (0.4) is the moderate clients' rate.
    better = [
        _facts(100 + i, "improved" if i < 4 else "unchanged", "phq9:severe") for i in range(10)
    ]
    (c,) = summarise(
        better,
        "therapist",
        {f.episode_id: [("c", "C")] for f in better},
        reference=[*severe, *moderate],
    )
    assert c.reliable_improvement.value == pytest.approx(0.4)
    assert c.reliable_improvement.adjusted == pytest.approx(2 * clinic)


def test_groups_without_members_are_left_out_and_rows_come_in_label_order() -> None:
    facts = [_facts(i, "improved") for i in range(20)]
    groups = {i: [("cbt", "CBT")] if i % 2 else [("act", "ACT")] for i in range(20)}
    groups[0] = []  # an episode with no modality on record
    rows = summarise(facts, "modality", groups)
    assert [(r.label, r.episodes.value) for r in rows] == [("ACT", 9), ("CBT", 10)]


def test_every_benchmark_names_its_source_period_and_address() -> None:
    assert BENCHMARKS
    for b in BENCHMARKS:
        assert 0 < b.value < 1
        assert b.metric in ("reliable_improvement", "recovery", "reliable_deterioration")
        assert b.url.startswith("https://")
        assert b.period
        assert b.source
        assert b.note
        assert not math.isnan(b.value)


def test_the_overall_row_exists_also_without_episodes() -> None:
    row = overall([])
    assert row.episodes == Count(0)
    assert row.reliable_improvement == Rate(0, 0)
    assert row.alliance == Mean(None, 0)
    facts = [_facts(i, "improved") for i in range(6)]
    assert overall(facts) == summarise(facts, "clinic", {i: [("all", "All")] for i in range(6)})[0]
