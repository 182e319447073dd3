"""A client's timeline: scores, attendance and "is this a good fit?" answers, session by session.

Plain frozen dataclasses that the monitoring rules (:mod:`alliance.monitoring.alerts`), the
clinic app's charts and a researcher's notebook all read. The store builds a :class:`Timeline`
from its rows; nothing here touches a database.

Sessions are numbered from 1 in the order the client attended them; a score, an attendance
record and a fit answer that share a ``session_number`` belong to the same session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from alliance.measures.scoring import RiskFlag

__all__ = [
    "Attendance",
    "AttendanceStatus",
    "FitAnswer",
    "FitAnswerValue",
    "ScorePoint",
    "Timeline",
]

AttendanceStatus = Literal["attended", "missed", "cancelled"]
FitAnswerValue = Literal["yes", "not_sure", "no"]

_STATUSES: tuple[str, ...] = ("attended", "missed", "cancelled")
_FIT_ANSWERS: tuple[str, ...] = ("yes", "not_sure", "no")


def _check_session(session_number: int, what: str) -> None:
    if isinstance(session_number, bool) or not isinstance(session_number, int):
        raise TypeError(f"{what}: session_number must be an int, got {session_number!r}")
    if session_number < 1:
        raise ValueError(f"{what}: session_number must be 1 or more, got {session_number}")


@dataclass(frozen=True, slots=True)
class ScorePoint:
    """One scored administration of one instrument. ``total`` is None when the response was
    invalid (too many missing items); ``subscales`` maps subscale name to score; ``risk``
    holds the risk items this response endorsed (see
    :func:`alliance.measures.scoring.risk_flags`), empty when none."""

    session_number: int
    date: date
    instrument_id: str
    total: float | None
    subscales: Mapping[str, float | None] = field(default_factory=dict)
    score_id: str | None = None
    risk: tuple[RiskFlag, ...] = ()

    def __post_init__(self) -> None:
        _check_session(self.session_number, f"score {self.instrument_id}")
        # A read-only copy: a frozen point must not change under the caller's feet.
        object.__setattr__(self, "subscales", MappingProxyType(dict(self.subscales)))
        object.__setattr__(self, "risk", tuple(self.risk))


@dataclass(frozen=True, slots=True)
class Attendance:
    """Whether the client came to a scheduled session."""

    session_number: int
    date: date
    status: AttendanceStatus

    def __post_init__(self) -> None:
        _check_session(self.session_number, "attendance")
        if self.status not in _STATUSES:
            raise ValueError(f"attendance status must be one of {_STATUSES}, got {self.status!r}")


@dataclass(frozen=True, slots=True)
class FitAnswer:
    """The client's answer to "is this a good fit for you?" after a session."""

    session_number: int
    date: date
    answer: FitAnswerValue

    def __post_init__(self) -> None:
        _check_session(self.session_number, "fit answer")
        if self.answer not in _FIT_ANSWERS:
            raise ValueError(f"fit answer must be one of {_FIT_ANSWERS}, got {self.answer!r}")


@dataclass(frozen=True, slots=True)
class Timeline:
    """Everything known about one client's course, each part sorted by session then date."""

    client_id: str
    points: tuple[ScorePoint, ...] = ()
    attendance: tuple[Attendance, ...] = ()
    fit_answers: tuple[FitAnswer, ...] = ()

    def __init__(
        self,
        client_id: str,
        points: Iterable[ScorePoint] = (),
        attendance: Iterable[Attendance] = (),
        fit_answers: Iterable[FitAnswer] = (),
    ) -> None:
        object.__setattr__(self, "client_id", client_id)
        object.__setattr__(
            self, "points", tuple(sorted(points, key=lambda p: (p.session_number, p.date)))
        )
        object.__setattr__(
            self,
            "attendance",
            tuple(sorted(attendance, key=lambda a: (a.session_number, a.date))),
        )
        object.__setattr__(
            self,
            "fit_answers",
            tuple(sorted(fit_answers, key=lambda f: (f.session_number, f.date))),
        )

    def instrument_ids(self) -> tuple[str, ...]:
        """Instruments with at least one score, in order of first appearance."""
        return tuple(dict.fromkeys(p.instrument_id for p in self.points))

    def series(self, instrument_id: str, *, valid_only: bool = True) -> tuple[ScorePoint, ...]:
        """This instrument's scores in session order (without invalid totals by default)."""
        return tuple(
            p
            for p in self.points
            if p.instrument_id == instrument_id and (p.total is not None or not valid_only)
        )

    def totals(self, instrument_id: str) -> tuple[tuple[int, float], ...]:
        """``(session_number, total)`` pairs of the valid scores of one instrument."""
        return tuple(
            (p.session_number, p.total) for p in self.series(instrument_id) if p.total is not None
        )

    @property
    def session_numbers(self) -> tuple[int, ...]:
        """Every session number that has a score, an attendance record or a fit answer."""
        numbers = {p.session_number for p in self.points}
        numbers.update(a.session_number for a in self.attendance)
        numbers.update(f.session_number for f in self.fit_answers)
        return tuple(sorted(numbers))

    @property
    def latest_session(self) -> int | None:
        """The highest session number on the timeline, or None for an empty timeline."""
        numbers = self.session_numbers
        return numbers[-1] if numbers else None

    def up_to(self, session_number: int) -> Timeline:
        """The timeline as it stood after ``session_number`` (for alert history)."""
        return Timeline(
            self.client_id,
            (p for p in self.points if p.session_number <= session_number),
            (a for a in self.attendance if a.session_number <= session_number),
            (f for f in self.fit_answers if f.session_number <= session_number),
        )
