"""The client timeline (alliance.monitoring.timeline)."""

from __future__ import annotations

from datetime import date

import pytest
from monitoring_helpers import scores, week

from alliance.monitoring.timeline import (
    Attendance,
    FitAnswer,
    ScorePoint,
    Timeline,
)


def test_it_sorts_each_part_by_session_and_gives_series_per_instrument() -> None:
    points = [*scores("phq9", [14, 12], first_session=2), *scores("wai_sr", [3.5, 3.9, 4.1])]
    points.append(ScorePoint(4, week(4), "phq9", None))  # invalid response
    timeline = Timeline(
        "sarah",
        reversed(points),
        [Attendance(2, week(2), "attended"), Attendance(1, week(1), "attended")],
        [FitAnswer(3, week(3), "yes")],
    )
    assert [p.session_number for p in timeline.points] == sorted(
        p.session_number for p in timeline.points
    )
    assert timeline.instrument_ids() == ("wai_sr", "phq9")
    assert timeline.totals("phq9") == ((2, 14.0), (3, 12.0))
    assert len(timeline.series("phq9", valid_only=False)) == 3
    assert [a.session_number for a in timeline.attendance] == [1, 2]
    assert timeline.session_numbers == (1, 2, 3, 4)
    assert timeline.latest_session == 4


def test_up_to_shows_the_timeline_as_it_stood_after_a_session() -> None:
    timeline = Timeline(
        "a", scores("wai_sr", [3.0, 3.5, 4.0]), fit_answers=[FitAnswer(3, week(3), "no")]
    )
    earlier = timeline.up_to(2)
    assert earlier.totals("wai_sr") == ((1, 3.0), (2, 3.5))
    assert earlier.fit_answers == ()
    assert timeline.up_to(99) == timeline


def test_an_empty_timeline_has_no_latest_session() -> None:
    assert Timeline("nobody").latest_session is None


def test_score_subscales_cannot_be_changed_after_the_fact() -> None:
    source = {"bond": 4.0}
    point = ScorePoint(1, date(2024, 1, 1), "wai_sr", 4.0, source)
    source["bond"] = 1.0
    assert point.subscales["bond"] == 4.0
    with pytest.raises(TypeError):
        point.subscales["bond"] = 2.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ScorePoint(0, date(2024, 1, 1), "phq9", 3.0), "session_number must be 1"),
        (lambda: Attendance(1, date(2024, 1, 1), "late"), "attendance status"),  # type: ignore[arg-type]
        (lambda: FitAnswer(1, date(2024, 1, 1), "maybe"), "fit answer"),  # type: ignore[arg-type]
    ],
)
def test_it_rejects_impossible_records(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]
