"""Measurement plans: which questionnaires a check-in asks, and when.

A plan gives each instrument (and the client's goal ratings, under the key :data:`GOALS`) a
:class:`Cadence`: at intake (the episode's first check-in), every Nth session from session S,
and at discharge (the check-in marked final). A routine check-in then asks only what is due,
so the short measures come every session and the long ones on their cadence.

Pure: no database, no settings. The clinic keeps one plan in its settings; an episode may
overlay its own cadences on it (:meth:`MeasurementPlan.overlay`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The plan key of the client's goal ratings (0–10 per agreed goal), which are not an
#: instrument but are asked on a cadence like one.
GOALS = "goals"

#: The most answers the default plan's routine check-in asks (the brief of issue 10: a
#: routine check-in of at most 15 answers, under two minutes on a phone).
ROUTINE_BUDGET = 15


class Cadence(BaseModel):
    """When one measure is asked. ``every`` = 0 means never at a routine session (only at
    intake and/or discharge); ``start`` is the first session number it is due at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intake: bool = Field(default=True, description="Asked at the episode's first check-in.")
    every: int = Field(
        default=1, ge=0, le=52, description="Asked every this many sessions (0 = never)."
    )
    start: int = Field(default=1, ge=1, le=200, description="From this session number on.")
    discharge: bool = Field(default=True, description="Asked at the final check-in.")

    def due(self, session_number: int | None, *, first: bool, final: bool) -> bool:
        """Whether this measure is asked at a check-in for ``session_number`` (``None``: a
        check-in tied to no session, where only every-session measures are routine)."""
        if first and self.intake:
            return True
        if final and self.discharge:
            return True
        if self.every == 0:
            return False
        if session_number is None:
            return self.every == 1
        return session_number >= self.start and (session_number - self.start) % self.every == 0

    def never(self) -> bool:
        return not self.intake and not self.discharge and self.every == 0

    def describe(self) -> str:
        """In plain words, e.g. "at intake, at session 3 and every 4th after, at discharge"."""
        parts: list[str] = []
        if self.intake:
            parts.append("at intake")
        if self.every == 1 and self.start == 1:
            parts.append("every session")
        elif self.every == 1:
            parts.append(f"every session from session {self.start}")
        elif self.every > 1:
            parts.append(f"at session {self.start} and every {_ordinal(self.every)} after")
        if self.discharge:
            parts.append("at discharge")
        return ", ".join(parts) if parts else "never"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


EVERY_SESSION = Cadence()

#: The bundled instruments' default cadences. Outcome (PHQ-9) and the short session feedback
#: every session: they drive the off-track and rupture rules. The 12-item WAI-SR at session 3
#: (the alliance is formed by then, and an early low score predicts dropout) and every 4th
#: after; GAD-7, WHO-5 and goals at intake, monthly at a weekly pace, and at discharge.
BUNDLED_CADENCES: Mapping[str, Cadence] = {
    "phq9": EVERY_SESSION,
    "session_feedback": EVERY_SESSION,
    "wai_sr": Cadence(intake=False, every=4, start=3, discharge=True),
    "gad7": Cadence(intake=True, every=4, start=5, discharge=True),
    "who5": Cadence(intake=True, every=4, start=5, discharge=True),
    GOALS: Cadence(intake=True, every=4, start=4, discharge=True),
}


class MeasurementPlan(BaseModel):
    """Cadence per instrument id (and :data:`GOALS`). An instrument the plan does not name is
    asked every session, so a clinic's own instrument works before anyone plans it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cadences: dict[str, Cadence] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _asks_something(self) -> MeasurementPlan:
        if self.cadences and all(c.never() for c in self.cadences.values()):
            raise ValueError("a measurement plan must ask something at some point")
        return self

    def cadence(self, key: str) -> Cadence:
        return self.cadences.get(key, EVERY_SESSION)

    def overlay(self, other: MeasurementPlan | None) -> MeasurementPlan:
        """This plan with ``other``'s cadences taking precedence (an episode's own plan over
        the clinic's)."""
        if other is None or not other.cadences:
            return self
        return MeasurementPlan(cadences={**self.cadences, **other.cadences})

    def due(
        self, instruments: Iterable[str], session_number: int | None, *, first: bool, final: bool
    ) -> tuple[str, ...]:
        """The instruments asked at one check-in, in the episode's order."""
        return tuple(
            i for i in instruments if self.cadence(i).due(session_number, first=first, final=final)
        )

    def goals_due(self, session_number: int | None, *, first: bool, final: bool) -> bool:
        return self.cadence(GOALS).due(session_number, first=first, final=final)


def default_plan(instruments: Iterable[str]) -> MeasurementPlan:
    """The bundled cadences for ``instruments`` and goals; others every session."""
    keys = [*instruments, GOALS]
    return MeasurementPlan(cadences={k: BUNDLED_CADENCES.get(k, EVERY_SESSION) for k in keys})


def every_session_plan(instruments: Iterable[str]) -> MeasurementPlan:
    """Everything at every check-in (the behaviour before plans existed)."""
    return MeasurementPlan(cadences=dict.fromkeys([*instruments, GOALS], EVERY_SESSION))


@dataclass(frozen=True)
class PlannedCheckIn:
    """What one check-in of a course asks."""

    session_number: int
    instruments: tuple[str, ...]
    goals: bool


def course(
    plan: MeasurementPlan, instruments: Iterable[str], sessions: int
) -> tuple[PlannedCheckIn, ...]:
    """The check-ins of an episode of ``sessions`` sessions with one check-in each, the
    first being intake and the last discharge."""
    ids = tuple(instruments)
    out = []
    for n in range(1, sessions + 1):
        first, final = n == 1, n == sessions
        out.append(
            PlannedCheckIn(
                session_number=n,
                instruments=plan.due(ids, n, first=first, final=final),
                goals=plan.goals_due(n, first=first, final=final),
            )
        )
    return tuple(out)


def answers_asked(due: Iterable[str], item_counts: Mapping[str, int], goals: int = 0) -> int:
    """How many answers a check-in asks: the items of each due instrument plus one rating per
    goal when goals are due (pass ``goals=0`` when they are not)."""
    return sum(item_counts[i] for i in due) + goals
