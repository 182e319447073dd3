"""Care episodes written straight into the tables, for the clinic outcome report's tests (the
check-in path that normally writes them has its own tests): each score on its own completed
check-in, a week apart, from 1 February 2026."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alliance.services.context import ServiceContext
from alliance.store.db import transaction
from alliance.store.models import CheckIn, Client, Episode, Response, Score

_tokens = itertools.count(1)


@dataclass(frozen=True)
class Course:
    """One seeded episode: PHQ-9 totals, WAI-SR means, how it ended."""

    phq: tuple[float, ...]
    wai: tuple[float, ...] = (4.0, 4.0)
    end_reason: str | None = None
    unanswered: int = 0  # check-ins created and never completed


def _band(total: float) -> str:
    for top, label in ((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately severe")):
        if total <= top:
            return label
    return "severe"


def seed(
    ctx: ServiceContext, clinic_id: int, therapist_id: int, courses: Sequence[Course]
) -> list[int]:
    """Episodes written straight into the tables (the check-in path has its own tests): each
    score on its own completed check-in, a week apart, from 1 February 2026."""
    ids = []
    with transaction(ctx.session_factory) as session:
        for n, course in enumerate(courses):
            start = datetime(2026, 2, 1, 9, tzinfo=UTC) + timedelta(hours=n)
            client = Client(clinic_id=clinic_id, display_name=f"C{n}", created_at=start)
            session.add(client)
            session.flush()
            weeks = max(len(course.phq), len(course.wai))
            ended = start + timedelta(weeks=weeks) if course.end_reason else None
            episode = Episode(
                client_id=client.id,
                therapist_id=therapist_id,
                started_at=start,
                ended_at=ended,
                end_reason=course.end_reason,
                instruments=["phq9", "wai_sr"],
            )
            session.add(episode)
            session.flush()
            ids.append(episode.id)
            series = [("phq9", course.phq), ("wai_sr", course.wai)]
            for week in range(weeks + course.unanswered):
                at = start + timedelta(weeks=week)
                answered = week < weeks
                checkin = CheckIn(
                    episode_id=episode.id,
                    instruments=["phq9", "wai_sr"],
                    token_hash=hashlib.sha256(str(next(_tokens)).encode()).hexdigest(),
                    created_at=at,
                    expires_at=at + timedelta(days=7),
                    completed_at=at if answered else None,
                )
                session.add(checkin)
                session.flush()
                for instrument_id, totals in series:
                    if not answered or week >= len(totals):
                        continue
                    response = Response(
                        checkin_id=checkin.id,
                        instrument_id=instrument_id,
                        answers={},
                        created_at=at,
                    )
                    session.add(response)
                    session.flush()
                    total = totals[week]
                    session.add(
                        Score(
                            response_id=response.id,
                            episode_id=episode.id,
                            instrument_id=instrument_id,
                            session_number=week + 1,
                            total=total,
                            subscales={},
                            band=_band(total) if instrument_id == "phq9" else None,
                            valid=True,
                            scored_at=at,
                        )
                    )
    return ids
