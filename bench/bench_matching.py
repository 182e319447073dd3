"""Benchmark matching: one client against 1,000 therapists; a 5,000-client queue over 500.

Usage: ``.venv/bin/python bench/bench_matching.py [--repeats 5] [--seed 7]``

Prints medians of repeats, each beside a baseline measured in the same run:

* ranking one client: the vectorised :func:`rank_matches` on a prebuilt roster (and with the
  roster built inside the call) against a plain per-therapist Python loop over the same hard
  constraints (:func:`hard_constraint_violations`) — the loop does less work and is still slower;
* assigning a queue: the optimal :func:`assign_queue` (whole-queue scoring, then
  linear_sum_assignment over expanded capacity slots, then reasons for every placement)
  against a greedy pass in queue order over the same score matrix (no reasons), with the
  total fit and number placed of each.

Aims (issue 5): one client against 1,000 therapists < 50 ms; 5,000 clients over 500 therapists
with capacities < 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from alliance.matching import (
    ClientIntake,
    HistoryRow,
    Roster,
    TherapistProfile,
    assign_queue,
    estimate_strengths,
    evaluate_queue,
    hard_constraint_violations,
    rank_matches,
)

CONCERNS = [
    "anxiety",
    "depression",
    "trauma",
    "relationships",
    "substance_use",
    "grief",
    "ocd",
    "stress",
    "eating",
    "sleep",
]
MODALITIES = [
    "cbt",
    "dbt",
    "act",
    "person_centred",
    "psychodynamic",
    "emdr",
    "systemic",
    "integrative",
]
STYLES = ["collaborative", "supportive", "directive"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat"]


def _slots(rng: np.random.Generator, k: int, length: int) -> list[str]:
    out = []
    for _ in range(k):
        start = int(rng.integers(8, 20))
        out.append(f"{DAYS[int(rng.integers(6))]} {start:02d}:00-{min(start + length, 23):02d}:00")
    return out


def make_therapists(rng: np.random.Generator, n: int) -> list[TherapistProfile]:
    out = []
    for t in range(n):
        langs = ["english"]
        if rng.random() < 0.15:
            langs.append("spanish")
        if rng.random() < 0.05:
            langs.append("polish")
        out.append(
            TherapistProfile.model_validate(
                {
                    "id": f"t{t:04d}",
                    "name": f"Therapist {t}",
                    "modalities": list(rng.choice(MODALITIES, 2, replace=False)),
                    "styles": dict(zip(STYLES, rng.integers(0, 4, 3).tolist(), strict=True))
                    | {STYLES[int(rng.integers(3))]: 4},
                    "specialties": list(rng.choice(CONCERNS, 3, replace=False)),
                    "languages": langs,
                    "age_groups": ["adult"] + (["adolescent"] if rng.random() < 0.3 else []),
                    "modes": ["in_person", "video"] if rng.random() < 0.7 else ["video"],
                    "availability": _slots(rng, int(rng.integers(2, 5)), 6),
                    "capacity": {
                        "new_per_week": int(rng.integers(0, 7)),
                        "caseload_limit": 25,
                        "current_caseload": int(rng.integers(10, 25)),
                    },
                    "fee": float(rng.choice([50, 60, 70, 80, 90, 100, 120])),
                    "insurers": ["bupa"] if rng.random() < 0.5 else ["axa"],
                    "identity": {"gender": ["woman", "man"][int(rng.integers(2))]}
                    if rng.random() < 0.8
                    else {},
                }
            )
        )
    return out


def make_intakes(rng: np.random.Generator, n: int) -> list[ClientIntake]:
    out = []
    for i in range(n):
        prefs: list[dict[str, Any]] = []
        if rng.random() < 0.5:
            prefs.append(
                {
                    "attribute": "style",
                    "values": [STYLES[int(rng.integers(3))]],
                    "importance": "must" if rng.random() < 0.2 else "prefer",
                }
            )
        if rng.random() < 0.2:
            prefs.append({"attribute": "modality", "values": [str(rng.choice(MODALITIES))]})
        if rng.random() < 0.15:
            prefs.append({"attribute": "gender", "values": ["woman"]})
        out.append(
            ClientIntake.model_validate(
                {
                    "id": f"c{i:05d}",
                    "concerns": list(rng.choice(CONCERNS, int(rng.integers(1, 4)), replace=False)),
                    "languages": ["spanish"] if rng.random() < 0.08 else ["english"],
                    "preferences": prefs,
                    "availability": [] if rng.random() < 0.3 else _slots(rng, 2, 4),
                    "max_fee": float(rng.choice([70, 90, 120])) if rng.random() < 0.5 else None,
                    "insurer": ["bupa", "axa"][int(rng.integers(2))]
                    if rng.random() < 0.3
                    else None,
                    "consent": True,
                }
            )
        )
    return out


def make_history(rng: np.random.Generator, therapists: list[TherapistProfile]) -> list:
    rows = []
    for t in therapists:
        for c in t.specialties:
            for _ in range(int(rng.integers(1, 30))):
                sev = float(rng.normal(14, 4))
                rows.append(
                    HistoryRow(
                        therapist_id=t.id,
                        concern=c,
                        intake_severity=sev,
                        improvement=0.4 * sev + float(rng.normal(0, 4)),
                    )
                )
    return rows


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def greedy(intakes: list[ClientIntake], roster: Roster) -> tuple[int, float]:
    """Same scores (whole-queue evaluation), then queue order: each client takes their
    best-scoring therapist with a place left."""
    feasible, score = evaluate_queue(intakes, roster)
    left = roster.open_places.copy()
    placed, total = 0, 0.0
    for i in range(len(intakes)):
        ok = feasible[i] & (left > 0)
        if ok.any():
            t = int(np.argmax(np.where(ok, score[i], -np.inf)))
            left[t] -= 1
            placed += 1
            total += float(score[i, t])
    return placed, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    # --- one client against 1,000 therapists
    therapists = make_therapists(rng, 1000)
    strengths = estimate_strengths(make_history(rng, therapists))
    clients = make_intakes(rng, 50)
    roster = Roster.build(therapists, strengths)
    k = iter(range(10**9))

    def one() -> object:
        return rank_matches(clients[next(k) % len(clients)], roster, limit=10)

    def one_building() -> object:
        return rank_matches(clients[next(k) % len(clients)], therapists, strengths, limit=10)

    def loop() -> object:
        c = clients[next(k) % len(clients)]
        return [t.id for t in therapists if not hard_constraint_violations(c, t)]

    reps = max(args.repeats * 10, 20)
    t_one, _ = median_time(one, reps)
    t_build, _ = median_time(one_building, max(args.repeats, 3))
    t_loop, _ = median_time(loop, max(args.repeats, 3))
    print("One client against 1,000 therapists (top 10 with reasons; median)")
    print(f"  rank_matches, prebuilt roster      {t_one * 1e3:8.2f} ms")
    print(f"  rank_matches, roster built in call {t_build * 1e3:8.2f} ms")
    print(f"  baseline: per-therapist Python loop (hard constraints only) {t_loop * 1e3:8.2f} ms")
    print(f"  ratio loop / vectorised            {t_loop / t_one:8.1f}x")

    # --- 5,000 clients over 500 therapists with capacities
    therapists = make_therapists(rng, 500)
    strengths = estimate_strengths(make_history(rng, therapists))
    queue = make_intakes(rng, 5000)
    roster = Roster.build(therapists, strengths)
    places = int(roster.open_places.sum())
    t_assign, result = median_time(lambda: assign_queue(queue, roster), 3)
    t_greedy, (g_placed, g_total) = median_time(lambda: greedy(queue, roster), 3)  # type: ignore[misc]
    print()
    print(f"Queue: 5,000 clients over 500 therapists, {places} open places (median)")
    print(
        f"  assign_queue (optimal)   {t_assign:6.2f} s   placed {len(result.placements):5d}"  # type: ignore[attr-defined]
        f"   total fit {result.total_fit:9.1f}"
    )  # type: ignore[attr-defined]
    print(
        f"  baseline: greedy in queue order {t_greedy:6.2f} s   placed {g_placed:5d}"
        f"   total fit {g_total:9.1f}"
    )
    print(
        f"  ratio time optimal / greedy {t_assign / t_greedy:5.2f}x;"
        f" total fit optimal / greedy {result.total_fit / g_total:5.3f}"
    )  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
