"""Capacity-aware assignment of a whole intake queue, and admin overrides.

:func:`assign_queue` solves the assignment exactly. Each therapist's open places become that
many identical columns ("slots"); the cost of client *i* in a slot of therapist *t* is
``-(M + fit)`` when the pair passes every hard constraint and ``0`` otherwise, and
``scipy.optimize.linear_sum_assignment`` finds the minimum. A pair chosen at cost 0 means
"not assigned", so no hard constraint can ever be broken. ``M`` exceeds any possible difference
in total fit, so the optimum first places **as many clients as possible** and, among those
solutions, has the **highest total fit** — optimal, not greedy.

:func:`apply_override` records an admin's decision against a proposal and returns a new
:class:`Assignment`; breaking a hard constraint or a capacity needs ``force=True`` and is
written into the override.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError
from scipy.optimize import linear_sum_assignment

from alliance.matching.profiles import (
    ClientIntake,
    MatchingInput,
    MatchingInputError,
    TherapistProfile,
    check_references,
)
from alliance.matching.score import (
    Match,
    Roster,
    Weights,
    describe_infeasibility,
    evaluate,
    evaluate_queue,
    explain,
    hard_constraint_violations,
    rank_matches,
)
from alliance.matching.strengths import Strengths, estimate_strengths

__all__ = [
    "Assignment",
    "MatchingResult",
    "Override",
    "OverrideError",
    "Placement",
    "Unassigned",
    "apply_override",
    "assign_queue",
    "run_matching",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Placement(_Frozen):
    """One client placed with one therapist."""

    client_id: str
    therapist_id: str
    score: float
    reasons: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    source: str = "optimiser"  # or "override"


class Unassigned(_Frozen):
    """A client left waiting, and why."""

    client_id: str
    reason: str


class Override(_Frozen):
    """An admin's decision that differs from (or confirms) the proposal."""

    client_id: str
    from_therapist_id: str | None
    to_therapist_id: str | None
    by: str
    reason: str
    violations: tuple[str, ...] = ()


class Assignment(_Frozen):
    """Placements for a queue, who is left waiting, the total fit and any overrides."""

    placements: tuple[Placement, ...]
    unassigned: tuple[Unassigned, ...]
    total_fit: float
    overrides: tuple[Override, ...] = ()

    def therapist_of(self, client_id: str) -> str | None:
        for p in self.placements:
            if p.client_id == client_id:
                return p.therapist_id
        return None

    def load(self) -> Counter[str]:
        """How many clients each therapist receives."""
        return Counter(p.therapist_id for p in self.placements)


class OverrideError(ValueError):
    """An override that would break hard constraints or capacity without ``force``."""

    def __init__(self, violations: Sequence[str]) -> None:
        super().__init__("override breaks: " + ", ".join(violations))
        self.violations = tuple(violations)


def assign_queue(
    intakes: Sequence[ClientIntake],
    therapists: Sequence[TherapistProfile] | Roster,
    strengths: Strengths | None = None,
    weights: Weights | None = None,
) -> Assignment:
    """Optimal placement of a queue under capacities and hard constraints (see module doc)."""
    w = weights or Weights()
    roster = therapists if isinstance(therapists, Roster) else Roster.build(therapists, strengths)
    ids = [c.id for c in intakes]
    if len(set(ids)) != len(ids):
        raise ValueError("intake ids must be unique")
    t_count = len(roster)
    feasible, score = evaluate_queue(intakes, roster, w)

    # Places nobody can use are dropped: they only make the matrix bigger.
    places = np.minimum(roster.open_places, feasible.sum(axis=0))
    rows = np.flatnonzero(feasible.any(axis=1))
    chosen: dict[int, int] = {}
    if rows.size and places.sum() > 0:
        cols_t = np.repeat(np.arange(t_count), places)
        f = feasible[rows]
        s = score[rows]
        lo = float(s[f].min())
        hi = float(s[f].max())
        # M beats any total-fit difference between solutions that place different numbers.
        big = rows.size * (hi - lo) + 1.0
        # Cost per therapist first, then one column per open place (shifted fit >= 0).
        cost = np.repeat(np.where(f, -(big + (s - lo)), 0.0), places, axis=1)
        r_idx, c_idx = linear_sum_assignment(cost)
        for r, c in zip(r_idx, c_idx, strict=True):
            if f[r, cols_t[c]]:
                chosen[int(rows[r])] = int(cols_t[c])

    placements: list[Placement] = []
    unassigned: list[Unassigned] = []
    for i, intake in enumerate(intakes):
        if i in chosen:
            t = chosen[i]
            reasons, caveats = explain(intake, roster, t, w)
            placements.append(
                Placement(
                    client_id=intake.id,
                    therapist_id=roster.ids[t],
                    score=round(float(score[i, t]), 6),
                    reasons=reasons,
                    caveats=caveats,
                )
            )
        elif not feasible[i].any():
            # Rare, so the per-constraint breakdown is computed only here.
            reason = describe_infeasibility(evaluate(intake, roster, w))
            unassigned.append(Unassigned(client_id=intake.id, reason=reason))
        else:
            k = int(feasible[i].sum())
            who = {1: "the one therapist", 2: "both therapists"}.get(k, f"all {k} therapists")
            unassigned.append(
                Unassigned(
                    client_id=intake.id,
                    reason=f"{who} meeting every hard constraint "
                    f"{'has' if k == 1 else 'have'} no open place left this round",
                )
            )
    return Assignment(
        placements=tuple(placements),
        unassigned=tuple(unassigned),
        total_fit=round(sum(p.score for p in placements), 6),
    )


def apply_override(
    assignment: Assignment,
    *,
    client_id: str,
    therapist_id: str | None,
    by: str,
    reason: str,
    intakes: Sequence[ClientIntake],
    therapists: Sequence[TherapistProfile] | Roster,
    strengths: Strengths | None = None,
    weights: Weights | None = None,
    force: bool = False,
) -> Assignment:
    """A new assignment with ``client_id`` placed with ``therapist_id`` (None = waiting).

    The override is recorded with who, why and any hard constraint or capacity it breaks;
    breaking one without ``force=True`` raises :class:`OverrideError`.
    """
    if not by.strip() or not reason.strip():
        raise ValueError("an override needs who made it and why")
    w = weights or Weights()
    roster = therapists if isinstance(therapists, Roster) else Roster.build(therapists, strengths)
    intake = next((c for c in intakes if c.id == client_id), None)
    if intake is None:
        raise ValueError(f"unknown client {client_id!r}")
    previous = assignment.therapist_of(client_id)
    kept = [p for p in assignment.placements if p.client_id != client_id]
    waiting = [u for u in assignment.unassigned if u.client_id != client_id]
    violations: tuple[str, ...] = ()
    if therapist_id is None:
        waiting.append(Unassigned(client_id=client_id, reason=f"held back by {by}: {reason}"))
    else:
        if therapist_id not in roster.ids:
            raise ValueError(f"unknown therapist {therapist_id!r}")
        row = roster.ids.index(therapist_id)
        therapist = roster.therapists[row]
        found = list(
            hard_constraint_violations(
                intake,
                therapist,
                min_overlap_minutes=w.min_overlap_minutes,
                check_capacity=False,
            )
        )
        load = sum(1 for p in kept if p.therapist_id == therapist_id)
        if load + 1 > therapist.open_places:
            found.append("capacity")
        violations = tuple(found)
        if violations and not force:
            raise OverrideError(violations)
        ev = evaluate(intake, roster, w)
        reasons, caveats = explain(intake, roster, row, w)
        caveats = caveats + tuple(f"override breaks {v}" for v in violations)
        kept.append(
            Placement(
                client_id=client_id,
                therapist_id=therapist_id,
                score=round(float(ev.score[row]), 6),
                reasons=reasons,
                caveats=caveats,
                source="override",
            )
        )
    order = {c.id: i for i, c in enumerate(intakes)}
    kept.sort(key=lambda p: order.get(p.client_id, len(order)))
    waiting.sort(key=lambda u: order.get(u.client_id, len(order)))
    record = Override(
        client_id=client_id,
        from_therapist_id=previous,
        to_therapist_id=therapist_id,
        by=by,
        reason=reason,
        violations=violations,
    )
    return Assignment(
        placements=tuple(kept),
        unassigned=tuple(waiting),
        total_fit=round(sum(p.score for p in kept), 6),
        overrides=(*assignment.overrides, record),
    )


class MatchingResult(_Frozen):
    """What ``alliance match`` writes: placements, who waits, alternatives and strengths."""

    version: int = 1
    placements: tuple[Placement, ...]
    unassigned: tuple[Unassigned, ...]
    total_fit: float
    alternatives: dict[str, tuple[Match, ...]]
    strengths: Strengths


def run_matching(data: MatchingInput) -> MatchingResult:
    """Match a whole :class:`MatchingInput`: strengths from its history, the optimal
    assignment of its queue, and ranked alternatives per client (placed therapist excluded).

    Raises :class:`MatchingInputError` for bad cross-references or weights.
    """
    check_references(data)
    try:
        weights = Weights.model_validate(data.weights or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(["weights", *(str(p) for p in first["loc"])])
        raise MatchingInputError(path, first["msg"]) from None
    strengths = estimate_strengths(data.history)
    roster = Roster.build(data.therapists, strengths)
    assignment = assign_queue(data.intakes, roster, weights=weights)
    alternatives: dict[str, tuple[Match, ...]] = {}
    if data.alternatives:
        for intake in data.intakes:
            placed = assignment.therapist_of(intake.id)
            ranked = rank_matches(
                intake,
                roster,
                weights=weights,
                limit=data.alternatives,
                exclude=[placed] if placed else [],
            )
            alternatives[intake.id] = tuple(ranked)
    return MatchingResult(
        placements=assignment.placements,
        unassigned=assignment.unassigned,
        total_fit=assignment.total_fit,
        alternatives=alternatives,
        strengths=strengths,
    )
