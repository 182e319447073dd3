"""How many answers a client gives under the default measurement plan, against asking
everything every session, in one run.

An episode of weekly sessions with one check-in each (the first is intake, the last
discharge) and a number of agreed goals, on the clinic's default instruments (WAI-SR, PHQ-9,
GAD-7 and the session feedback) with their real item counts. Prints, for both plans: the
answers of a routine check-in (the most common count: a session with no long measure due),
the mean and the most per check-in, and the answers per client-month (4.35 weekly sessions),
then one line of ratios. Nothing is simulated but the schedule: the counts are the
instruments' own.

    .venv/bin/python eval/checkin_burden.py [--sessions 12] [--goals 1]
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass

from alliance.measures.plan import (
    ROUTINE_BUDGET,
    MeasurementPlan,
    answers_asked,
    course,
    every_session_plan,
)
from alliance.measures.registry import InstrumentRegistry
from alliance.services.clinic_settings import ClinicSettings

WEEKS_PER_MONTH = 52 / 12


@dataclass(frozen=True)
class Burden:
    routine: int
    mean: float
    most: int
    per_month: float
    per_check_in: tuple[int, ...]


def burden(
    plan: MeasurementPlan,
    instruments: tuple[str, ...],
    counts: dict[str, int],
    *,
    sessions: int,
    goals: int,
) -> Burden:
    answers = tuple(
        answers_asked(c.instruments, counts, goals if c.goals else 0)
        for c in course(plan, instruments, sessions)
    )
    routine = Counter(answers).most_common(1)[0][0]
    months = sessions / WEEKS_PER_MONTH
    return Burden(
        routine, sum(answers) / len(answers), max(answers), sum(answers) / months, answers
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12, help="weekly sessions (default 12)")
    parser.add_argument("--goals", type=int, default=1, help="agreed goals (default 1)")
    args = parser.parse_args()
    if args.sessions < 2 or not 0 <= args.goals <= 3:
        parser.error("--sessions must be at least 2 and --goals 0 to 3")
    settings = ClinicSettings()
    instruments = settings.instruments.all()
    registry = InstrumentRegistry()
    counts = {i: len(registry.get(i).items) for i in instruments}
    print(
        f"{args.sessions} weekly sessions, one check-in each, {args.goals} goal(s); instruments "
        + ", ".join(f"{i} ({counts[i]} items)" for i in instruments)
    )
    before = burden(
        every_session_plan(instruments),
        instruments,
        counts,
        sessions=args.sessions,
        goals=args.goals,
    )
    after = burden(settings.plan(), instruments, counts, sessions=args.sessions, goals=args.goals)
    print(f"{'plan':<28}{'routine':>8}{'mean':>8}{'most':>6}{'per month':>11}")
    for name, b in (("everything every session", before), ("default plan", after)):
        print(f"{name:<28}{b.routine:>8}{b.mean:>8.1f}{b.most:>6}{b.per_month:>11.1f}")
    print("default plan, per check-in: " + " ".join(str(a) for a in after.per_check_in))
    ratio = after.per_month / before.per_month
    within = "within" if after.routine <= ROUTINE_BUDGET else "OVER"
    print(
        f"checkin burden: routine check-in {after.routine} answers (before {before.routine}; "
        f"{within} the budget of {ROUTINE_BUDGET}); {after.per_month:.1f} answers per "
        f"client-month (before {before.per_month:.1f}, ratio {ratio:.2f})"
    )


if __name__ == "__main__":
    main()
