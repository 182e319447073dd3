"""How well do fitted expected trajectories work, against the rational fallback, in one run?

Simulates a clinic's PHQ-9 data from a known mixed model (two intake bands, random intercepts
and slopes, measurement noise), fits :func:`alliance.measures.trajectory.fit_trajectories`,
then scores new simulated clients drawn from the same process ("on track") and clients whose
scores do not improve at all ("stuck"). Prints, for the fitted model and for the fallback:
the share of on-track scores inside the 90 % band, the false-alarm rate (on-track clients
flagged at session 6) and the detection rate (stuck clients flagged at session 6), plus fit
time. Numbers are from simulated data, not from real clients.

    .venv/bin/python eval/evaluate_trajectories.py [--clients 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from alliance.measures.registry import load_instrument
from alliance.measures.trajectory import TrajectoryModel, fit_trajectories, not_on_track

TRUTH = {"severe": (23.0, -5.0, (20.0, 27.0)), "moderate": (12.0, -3.0, (10.0, 14.0))}


def simulate(n: int, rng: np.random.Generator, *, stuck: bool = False) -> pd.DataFrame:
    rows = []
    for client in range(n):
        band = "severe" if client % 2 else "moderate"
        intercept, slope, (low, high) = TRUTH[band]
        u, v = rng.normal(0, 1.0), rng.normal(0, 0.8)
        intake = min(max(intercept + u + rng.normal(0, 1.2), low), high)
        for session in range(1, 9):
            if session == 1:
                score = intake
            elif stuck:
                score = intake + rng.normal(0, 1.2)
            else:
                score = intercept + u + (slope + v) * math.log(session) + rng.normal(0, 1.2)
            rows.append((f"{band}-{client}", session, min(max(score, 0.0), 27.0)))
    return pd.DataFrame(rows, columns=["client_id", "session", "score"])


def rates(model: TrajectoryModel, data: pd.DataFrame) -> tuple[float, float]:
    """(share of session-6 scores inside the band, share of clients flagged at session 6)."""
    intake = data[data["session"] == 1].set_index("client_id")["score"]
    at_six = data[data["session"] == 6].set_index("client_id")["score"]
    inside = flagged = 0
    for client, score in at_six.items():
        verdict = not_on_track(model, float(intake[client]), 6, float(score))
        inside += verdict.lower <= score <= verdict.upper
        flagged += verdict.flag
    return inside / len(at_six), flagged / len(at_six)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    phq9 = load_instrument("phq9")
    clinic = simulate(args.clients, rng)

    started = time.perf_counter()
    fitted = fit_trajectories(clinic, phq9)
    fit_s = time.perf_counter() - started
    fallback = fit_trajectories(clinic.iloc[:0], phq9)

    on_track = simulate(1000, rng)
    stuck = simulate(1000, rng, stuck=True)
    print(f"clinic: {args.clients} simulated clients x 8 sessions; fit {fit_s:.2f} s")
    print(f"model: {fitted.reason}")
    for band, curve in fitted.curves.items():
        true_intercept, true_slope, _ = TRUTH[band]
        print(
            f"  {band}: intercept {curve.intercept:.2f} (true {true_intercept}), "
            f"slope {curve.slope:.2f} (true {true_slope})"
        )
    print("                 inside 90% band   false alarms   stuck clients detected")
    for name, model in (("fitted model", fitted), ("fallback", fallback)):
        inside, false_alarm = rates(model, on_track)
        _, detected = rates(model, stuck)
        print(f"  {name:<14} {inside:>15.1%} {false_alarm:>14.1%} {detected:>24.1%}")


if __name__ == "__main__":
    main()
