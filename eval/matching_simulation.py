"""Simulate a clinic and compare matching policies; check how well strengths are recovered.

Usage: ``.venv/bin/python eval/matching_simulation.py [--rounds 20] [--seed 2026]``

The generative model (stated here, used for everything below; outcomes in client-level SD
units):

* 30 therapists, 6 concern domains. Therapist *t* has a general effect ``u_t ~ N(0, 0.15²)`` and
  a domain-specific effect ``θ_td ~ N(0, 0.20²)`` (true strength = ``u_t + θ_td``, SD ≈ 0.25,
  i.e. therapists explain ≈ 6 % of outcome variance). Each lists as specialties the two
  domains where a noisy view of ``θ_td`` (noise SD 0.2) is highest.
* Each therapist has a dominant relationship style (collaborative / supportive / directive,
  equally likely) and a weaker second one, a gender they share (always), 3 open places per
  round; 20 % also speak Spanish.
* Each round 90 clients arrive: domain uniform, intake severity ``s ~ N(0, 1)``; 60 % state a
  preferred style, 25 % a preferred therapist gender (both "prefer", not "must"); 10 % speak
  only Spanish (a hard constraint).
* Accommodation ``A`` = share of the client's stated preferences that the therapist meets
  (1 when none are stated).
* Expected improvement ``E[y] = 0.8 + 0.3·s + u_t + θ_td + 0.28·A`` (0.28: preference
  accommodation effect on outcome, Swift et al. 2018).
* Dropout: ``logit P(drop) = logit(0.30) − ln(1.79)·A`` (OR 1.79, Swift et al. 2018).
* Expected benefit counts a dropout as 30 % of the improvement:
  ``E[benefit] = E[y]·(1 − 0.7·P(drop))``.

Policies (all respect the hard constraints and capacities):

* **next available** — clients in queue order each take the first therapist, in a random
  rota, with an open place who meets the hard constraints;
* **preferences only** — ``assign_queue`` with strengths and specialty weights 0;
* **strengths only** — ``assign_queue`` with preference and specialty weights 0;
* **Alliance** — ``assign_queue`` with the default weights.

Strengths are estimated by :func:`alliance.matching.estimate_strengths` from a simulated
history of the same clinic (next-available assignment, ``--history`` cases per therapist per
domain). The recovery table draws cell sizes uniformly from 1 to ``2·mean − 1`` (clinics
never have equal cells) and compares shrunken estimates and raw cell means with the truth.
Everything is seeded; figures are expectations under the model (no outcome noise in
the policy comparison), averaged over ``--rounds`` independent clinics.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np

from alliance.matching import (
    ClientIntake,
    HistoryRow,
    Roster,
    TherapistProfile,
    Weights,
    assign_queue,
    estimate_strengths,
    hard_constraint_violations,
)

DOMAINS = ["anxiety", "depression", "trauma", "relationships", "substance_use", "grief"]
STYLES = ["collaborative", "supportive", "directive"]
GENDERS = ["woman", "man"]
N_THERAPISTS = 30
PLACES = 3
N_CLIENTS = 90
SD_GENERAL = 0.15
SD_DOMAIN = 0.20
PREF_EFFECT = 0.28
DROP_BASE = 0.30
DROP_OR = 1.79
DROP_BENEFIT = 0.3


@dataclass(frozen=True)
class Clinic:
    therapists: list[TherapistProfile]
    truth: np.ndarray  # (therapists, domains): u_t + θ_td


def make_clinic(rng: np.random.Generator) -> Clinic:
    general = rng.normal(0, SD_GENERAL, N_THERAPISTS)
    domain = rng.normal(0, SD_DOMAIN, (N_THERAPISTS, len(DOMAINS)))
    therapists = []
    for t in range(N_THERAPISTS):
        noisy = domain[t] + rng.normal(0, 0.2, len(DOMAINS))
        specialties = [DOMAINS[j] for j in np.argsort(-noisy)[:2]]
        main, second = rng.choice(3, size=2, replace=False)
        styles = {STYLES[main]: 3.0, STYLES[second]: 1.0}
        therapists.append(
            TherapistProfile.model_validate(
                {
                    "id": f"t{t:02d}",
                    "name": f"Therapist {t}",
                    "modalities": ["cbt"],
                    "styles": styles,
                    "specialties": specialties,
                    "languages": ["english", "spanish"] if rng.random() < 0.2 else ["english"],
                    "age_groups": ["adult"],
                    "modes": ["in_person", "video"],
                    "availability": ["mon 09:00-17:00"],
                    "capacity": {"new_per_week": PLACES, "caseload_limit": 99},
                    "fee": 80,
                    "identity": {"gender": GENDERS[int(rng.integers(2))]},
                }
            )
        )
    return Clinic(therapists=therapists, truth=general[:, None] + domain)


def make_queue(rng: np.random.Generator, n: int, start: int = 0) -> tuple[list, np.ndarray]:
    intakes, severity = [], rng.normal(0, 1, n)
    for i in range(n):
        prefs = []
        if rng.random() < 0.6:
            prefs.append({"attribute": "style", "values": [STYLES[int(rng.integers(3))]]})
        if rng.random() < 0.25:
            prefs.append({"attribute": "gender", "values": [GENDERS[int(rng.integers(2))]]})
        intakes.append(
            ClientIntake.model_validate(
                {
                    "id": f"c{start + i:05d}",
                    "concerns": [DOMAINS[int(rng.integers(len(DOMAINS)))]],
                    "languages": ["spanish"] if rng.random() < 0.1 else ["english"],
                    "preferences": prefs,
                    "consent": True,
                }
            )
        )
    return intakes, severity


def accommodation(intake: ClientIntake, therapist: TherapistProfile) -> float:
    """Share of the client's stated preferences met (judged like a must-preference would be)."""
    prefs = [p for p in intake.preferences if p.importance != "dont_mind"]
    if not prefs:
        return 1.0
    met = 0
    for p in prefs:
        as_must = intake.model_copy(
            update={"preferences": (p.model_copy(update={"importance": "must"}),)}
        )
        met += not any(
            v.startswith("must:") for v in hard_constraint_violations(as_must, therapist)
        )
    return met / len(prefs)


def expected(clinic: Clinic, intake: ClientIntake, sev: float, t: int) -> tuple[float, float]:
    """(expected improvement, dropout probability) for a client placed with therapist t."""
    acc = accommodation(intake, clinic.therapists[t])
    d = DOMAINS.index(intake.concerns[0])
    improvement = 0.8 + 0.3 * sev + clinic.truth[t, d] + PREF_EFFECT * acc
    logit = math.log(DROP_BASE / (1 - DROP_BASE)) - math.log(DROP_OR) * acc
    return improvement, 1 / (1 + math.exp(-logit))


def next_available(clinic: Clinic, intakes: list, rng: np.random.Generator) -> dict[int, int]:
    rota = list(rng.permutation(N_THERAPISTS))
    left = {t: clinic.therapists[t].open_places for t in range(N_THERAPISTS)}
    placed: dict[int, int] = {}
    for i, c in enumerate(intakes):
        for k, t in enumerate(rota):
            if left[t] and not hard_constraint_violations(c, clinic.therapists[t]):
                placed[i] = int(t)
                left[t] -= 1
                rota.append(rota.pop(k))  # the next client starts with someone else
                break
    return placed


def optimised(intakes: list, roster: Roster, weights: Weights) -> dict[int, int]:
    result = assign_queue(intakes, roster, weights=weights)
    row = {c.id: i for i, c in enumerate(intakes)}
    col = {tid: j for j, tid in enumerate(roster.ids)}
    return {row[p.client_id]: col[p.therapist_id] for p in result.placements}


def history(
    clinic: Clinic, rng: np.random.Generator, per_cell: int, vary: bool = False
) -> list[HistoryRow]:
    """Past clients: per_cell per therapist × domain (with ``vary``: uniform on
    1 … 2·per_cell − 1, same mean), outcomes drawn from the model."""
    rows = []
    for t, therapist in enumerate(clinic.therapists):
        for d, domain in enumerate(DOMAINS):
            n_cell = int(rng.integers(1, 2 * per_cell)) if vary else per_cell
            sev = rng.normal(0, 1, n_cell)
            # Past assignment ignored preferences: accommodation by chance, about half.
            acc = rng.random(n_cell) < 0.5
            y = 0.8 + 0.3 * sev + clinic.truth[t, d] + PREF_EFFECT * acc + rng.normal(0, 1, n_cell)
            alliance = 0.5 * clinic.truth[t, d] + rng.normal(0, 1, n_cell)
            rows += [
                HistoryRow(
                    therapist_id=therapist.id,
                    concern=domain,
                    intake_severity=float(sev[k]),
                    improvement=float(y[k]),
                    alliance=float(alliance[k]),
                )
                for k in range(n_cell)
            ]
    return rows


POLICIES = {
    "next available": None,
    "preferences only": Weights(strengths=0.0, specialty=0.0),
    "strengths only": Weights(preferences=0.0, specialty=0.0),
    "Alliance": Weights(),
}


def compare_policies(rounds: int, seed: int, per_cell: int) -> None:
    totals = {name: np.zeros(4) for name in POLICIES}  # improvement, dropout, benefit, placed
    for r in range(rounds):
        rng = np.random.default_rng([seed, r])
        clinic = make_clinic(rng)
        strengths = estimate_strengths(history(clinic, rng, per_cell))
        roster = Roster.build(clinic.therapists, strengths)
        intakes, sev = make_queue(rng, N_CLIENTS)
        for name, weights in POLICIES.items():
            placed = (
                next_available(clinic, intakes, np.random.default_rng([seed, r, 1]))
                if weights is None
                else optimised(intakes, roster, weights)
            )
            imp = drop = benefit = 0.0
            for i, t in placed.items():
                y, p = expected(clinic, intakes[i], float(sev[i]), t)
                imp += y
                drop += p
                benefit += y * (1 - (1 - DROP_BENEFIT) * p)
            k = max(len(placed), 1)
            totals[name] += [imp / k, drop / k, benefit / k, len(placed) / len(intakes)]
    base = totals["next available"] / rounds
    print(
        f"Policy comparison: {rounds} simulated clinics × {N_CLIENTS} clients, "
        f"{N_THERAPISTS} therapists × {PLACES} places; strengths from {per_cell} past "
        "cases per therapist per domain"
    )
    header = (
        f"{'policy':<18}{'improvement':>12}{'ratio':>8}{'dropout':>9}{'ratio':>8}"
        f"{'benefit':>9}{'ratio':>8}{'placed':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in POLICIES:
        m = totals[name] / rounds
        print(
            f"{name:<18}{m[0]:>12.3f}{m[0] / base[0]:>8.3f}{m[1]:>9.3f}{m[1] / base[1]:>8.3f}"
            f"{m[2]:>9.3f}{m[2] / base[2]:>8.3f}{m[3]:>8.0%}"
        )


def recovery(rounds: int, seed: int, sizes: tuple[int, ...]) -> None:
    print()
    print(
        "Strength recovery: estimated vs true therapist × domain effects; cases per cell "
        f"vary uniformly from 1 to 2·mean − 1 (mean of {rounds} clinics)"
    )
    header = (
        f"{'mean cases':>10}{'r shrunken':>12}{'r raw mean':>12}{'RMSE shrunk':>13}"
        f"{'RMSE raw':>10}{'mean B':>8}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        acc = np.zeros(5)
        for r in range(rounds):
            rng = np.random.default_rng([seed, 1000 + r, n])
            clinic = make_clinic(rng)
            s = estimate_strengths(history(clinic, rng, n, vary=True))
            truth, shrunk, raw, b = [], [], [], []
            for t, th in enumerate(clinic.therapists):
                for d, dom in enumerate(DOMAINS):
                    est = s.get(th.id, dom)
                    assert est is not None
                    truth.append(clinic.truth[t, d])
                    shrunk.append(est.improvement.estimate)
                    raw.append(est.improvement.raw)
                    b.append(est.improvement.shrinkage)
            tr = np.array(truth) - np.mean(truth)
            acc += [
                np.corrcoef(shrunk, tr)[0, 1] if np.std(shrunk) > 0 else 0.0,
                np.corrcoef(raw, tr)[0, 1],
                math.sqrt(np.mean((np.array(shrunk) - tr) ** 2)),
                math.sqrt(np.mean((np.array(raw) - tr) ** 2)),
                float(np.mean(b)),
            ]
        m = acc / rounds
        print(f"{n:>10}{m[0]:>12.3f}{m[1]:>12.3f}{m[2]:>13.3f}{m[3]:>10.3f}{m[4]:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="simulated clinics per figure")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--history", type=int, default=20, help="past cases per cell")
    args = parser.parse_args()
    start = time.perf_counter()
    compare_policies(args.rounds, args.seed, args.history)
    recovery(args.rounds, args.seed, (5, 10, 20, 50))
    print(f"\n(seed {args.seed}; {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
