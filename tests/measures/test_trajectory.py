"""Expected trajectories and the not-on-track flag (alliance.measures.trajectory)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alliance.measures.registry import load_instrument
from alliance.measures.trajectory import (
    FallbackSettings,
    TrajectoryModel,
    fit_trajectories,
    not_on_track,
)

PHQ9 = load_instrument("phq9")
# Known truth per intake band: intercept (expected intake) and slope per log(session).
TRUTH = {"severe": (23.0, -5.0), "moderate": (12.0, -3.0)}
INTAKE_RANGE = {"severe": (20.0, 27.0), "moderate": (10.0, 14.0)}


def _simulate(
    n_clients: int,
    seed: int,
    *,
    sessions: int = 8,
    slope_sd: float = 0.8,
    bands: tuple[str, ...] = ("severe", "moderate"),
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for client in range(n_clients):
        band = bands[client % len(bands)]
        intercept, slope = TRUTH[band]
        u = rng.normal(0, 1.0)
        v = rng.normal(0, slope_sd)
        for session in range(1, sessions + 1):
            score = intercept + u + (slope + v) * math.log(session) + rng.normal(0, 1.2)
            if session == 1:
                # keep the intake inside its band so the band assignment matches the truth
                score = min(max(score, INTAKE_RANGE[band][0]), INTAKE_RANGE[band][1])
            rows.append((f"{band}-{client}", session, score))
    return pd.DataFrame(rows, columns=["client_id", "session", "score"])


@pytest.fixture(scope="module")
def clinic_model() -> TrajectoryModel:
    return fit_trajectories(_simulate(120, seed=3), PHQ9)


def test_it_recovers_a_known_trajectory_per_intake_band(clinic_model: TrajectoryModel) -> None:
    assert clinic_model.model == "random_slope"
    for band, (intercept, slope) in TRUTH.items():
        curve = clinic_model.curves[band]
        assert curve.intercept == pytest.approx(intercept, abs=0.8)
        assert curve.slope == pytest.approx(slope, abs=0.5)
        assert curve.n_clients == 60


def test_its_tolerance_band_covers_about_the_promised_share_of_new_clients(
    clinic_model: TrajectoryModel,
) -> None:
    new = _simulate(400, seed=99)
    intake = new[new["session"] == 1].set_index("client_id")["score"]
    at_six = new[new["session"] == 6].set_index("client_id")["score"]
    inside = 0
    for client, score in at_six.items():
        point = clinic_model.expected(float(intake[client]), 6)
        inside += point.lower <= score <= point.upper
    share = inside / len(at_six)
    assert 0.84 <= share <= 0.96, share  # 90 % promised


def test_a_client_who_starts_higher_in_a_band_is_expected_higher_later(
    clinic_model: TrajectoryModel,
) -> None:
    low = clinic_model.expected(20, 6)
    high = clinic_model.expected(26, 6)
    assert high.expected > low.expected
    assert low.source == "mixed_model"
    assert low.band == "severe"
    assert low.lower < low.expected < low.upper


def test_it_flags_a_client_who_is_off_track_and_not_one_who_is_on_track(
    clinic_model: TrajectoryModel,
) -> None:
    expected = clinic_model.expected(23, 6)
    stuck = not_on_track(clinic_model, 23, 6, 22)
    assert stuck.flag
    assert stuck.upper == pytest.approx(expected.upper)
    assert "22" in stuck.reason
    assert f"{expected.upper:.1f}" in stuck.reason
    on_track = not_on_track(clinic_model, 23, 6, round(expected.expected))
    assert not on_track.flag
    # doing better than expected is never "off track"
    assert not not_on_track(clinic_model, 23, 6, 0).flag


def test_the_intake_session_is_never_off_track(clinic_model: TrajectoryModel) -> None:
    verdict = not_on_track(clinic_model, 23, 1, 27)
    assert not verdict.flag
    assert "intake" in verdict.reason


def test_it_uses_the_rational_fallback_with_tiny_data() -> None:
    tiny = _simulate(4, seed=1)
    model = fit_trajectories(tiny, PHQ9)
    assert model.model == "fallback"
    assert "too little data" in model.reason
    params = PHQ9.reliable_change
    assert params is not None
    sdiff = math.sqrt(2) * params.sd * math.sqrt(1 - params.reliability)
    # by session 8 half the distance from intake (20) to the healthy end (0) is expected
    point = model.expected(20, 8)
    assert point.source == "fallback"
    assert point.expected == pytest.approx(10.0)
    assert point.upper - point.expected == pytest.approx(1.6449 * sdiff, abs=1e-3)
    # halfway in log-time (session √8) is halfway along that path
    assert model.expected(20, 1).expected == pytest.approx(20.0)
    later = model.expected(20, 20)
    assert later.expected == pytest.approx(10.0)  # it plateaus after by_session


def test_fallback_settings_change_the_fallback_path() -> None:
    model = fit_trajectories(_simulate(2, seed=1), PHQ9, fallback=FallbackSettings(0.25, 4))
    assert model.expected(20, 4).expected == pytest.approx(15.0)


def test_a_band_with_too_few_clients_falls_back_while_others_use_the_model() -> None:
    data = pd.concat(
        [
            _simulate(60, seed=5, bands=("severe",)),
            _simulate(3, seed=6, bands=("moderate",)).assign(
                client_id=lambda f: "m" + f["client_id"]
            ),
        ]
    )
    model = fit_trajectories(data, PHQ9)
    assert model.model != "fallback"
    assert set(model.curves) == {"severe"}
    assert "moderate" in model.fallback_bands
    assert model.expected(23, 5).source == "mixed_model"
    assert model.expected(12, 5).source == "fallback"


def test_it_falls_back_to_a_random_intercept_when_slopes_do_not_vary() -> None:
    # Every client shares one slope: the random-slope variance sits on its boundary (0), the
    # random-slope fit warns, and the simpler random-intercept model is used instead.
    model = fit_trajectories(_simulate(60, seed=11, slope_sd=0.0), PHQ9)
    assert model.model == "random_intercept"
    assert "simpler model used" in model.reason
    assert model.expected(23, 6).source == "mixed_model"


def test_it_names_a_missing_column_and_a_bad_session() -> None:
    with pytest.raises(ValueError, match="score"):
        fit_trajectories(pd.DataFrame({"client_id": [1], "session": [1]}), PHQ9)
    bad = pd.DataFrame({"client_id": ["a", "a"], "session": [1, 0], "score": [10, 9]})
    with pytest.raises(ValueError, match=r"row 1: column session"):
        fit_trajectories(bad, PHQ9)


def test_it_rejects_a_session_before_the_intake() -> None:
    model = fit_trajectories(_simulate(2, seed=1), PHQ9)
    with pytest.raises(ValueError, match="intake session"):
        model.expected(20, 2, intake_session=3)


def test_a_large_clinic_is_fitted_on_a_fixed_sample_of_clients() -> None:
    data = _simulate(40, seed=4)
    first = fit_trajectories(data, PHQ9, max_clients=24)
    again = fit_trajectories(data.sample(frac=1.0, random_state=1), PHQ9, max_clients=24)
    assert "a fixed sample of 24 of 40 clients" in first.reason
    assert sum(c.n_clients for c in first.curves.values()) == 24
    # same clients whatever the row order (up to floating-point summation order)
    assert first.expected(23, 5).expected == pytest.approx(again.expected(23, 5).expected)
    assert first.expected(23, 5).upper == pytest.approx(again.expected(23, 5).upper)


def test_the_fallback_aims_at_the_functional_mean_when_the_instrument_gives_it() -> None:
    cut = PHQ9.clinical_cutoff
    assert cut is not None
    with_norms = PHQ9.model_copy(
        update={"clinical_cutoff": cut.model_copy(update={"normal_mean": 4.0})}
    )
    model = fit_trajectories(_simulate(2, seed=1), with_norms)
    # half of the way from 20 to the functional mean of 4 by session 8
    assert model.expected(20, 8).expected == pytest.approx(12.0)


def test_the_fallback_never_expects_a_client_to_get_worse() -> None:
    cut = PHQ9.clinical_cutoff
    assert cut is not None
    with_norms = PHQ9.model_copy(
        update={"clinical_cutoff": cut.model_copy(update={"normal_mean": 4.0})}
    )
    model = fit_trajectories(_simulate(2, seed=1), with_norms)
    assert model.expected(2, 8).expected == pytest.approx(2.0)
