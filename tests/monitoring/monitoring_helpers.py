"""Builders for hand-made timelines: weekly sessions from a fixed Monday."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from alliance.monitoring.timeline import Attendance, ScorePoint

START = date(2024, 1, 1)


def week(session: int) -> date:
    """The date of a weekly session (session 1 on START)."""
    return START + timedelta(days=7 * (session - 1))


def scores(instrument_id: str, totals: Sequence[float], first_session: int = 1) -> list[ScorePoint]:
    return [
        ScorePoint(
            session_number=first_session + index,
            date=week(first_session + index),
            instrument_id=instrument_id,
            total=total,
            score_id=f"{instrument_id}-{first_session + index}",
        )
        for index, total in enumerate(totals)
    ]


def attended(sessions: Sequence[int]) -> list[Attendance]:
    return [Attendance(s, week(s), "attended") for s in sessions]
