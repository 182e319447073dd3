"""Server-side charts: SVG out, offline, values traceable to the input."""

from __future__ import annotations

import re

from alliance.web import charts


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_the_alliance_chart_draws_the_threshold_line_and_its_label() -> None:
    svg = charts.alliance_chart(
        [charts.Point(1, 3.5), charts.Point(2, 4.0), charts.Point(3, 2.4)],
        threshold=3.0,
        y_min=1,
        y_max=5,
    )
    assert svg.startswith('<svg aria-hidden="true"')
    assert "threshold 3" in _texts(svg)
    assert 'stroke-dasharray="6,4"' in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    )


def test_without_a_threshold_no_threshold_is_drawn() -> None:
    svg = charts.alliance_chart([charts.Point(1, 3.5)], threshold=None, y_min=1, y_max=5)
    assert not any(t.startswith("threshold") for t in _texts(svg))


def test_session_ticks_are_whole_sessions_without_repeats() -> None:
    svg = charts.alliance_chart(
        [charts.Point(x, 3.0) for x in range(1, 6)], threshold=None, y_min=1, y_max=5
    )
    labels = [t for t in _texts(svg) if t.isdigit()]
    session_labels = labels[: labels.index("5") + 1] if "5" in labels else labels
    assert len(session_labels) == len(set(session_labels))


def test_the_outcome_chart_draws_the_expected_band_when_given() -> None:
    points = [charts.Point(1, 18), charts.Point(2, 15)]
    band = [charts.BandPoint(1, 14, 22, 18), charts.BandPoint(2, 12, 20, 16)]
    with_band = charts.outcome_chart(points, band=band, y_min=0, y_max=27, title="PHQ-9")
    without = charts.outcome_chart(points, y_min=0, y_max=27, title="PHQ-9")
    assert 'opacity="0.45"' in with_band
    assert 'opacity="0.45"' not in without
    assert "PHQ-9 (lower is better)" in _texts(with_band)


def test_goal_and_attendance_charts_name_their_categories() -> None:
    goals = charts.goals_chart([charts.GoalSeries("Sleep better", [charts.Point(1, 2)])])
    assert "Sleep better" in _texts(goals)
    attendance = charts.attendance_chart(
        [charts.AttendanceMark(1, "attended"), charts.AttendanceMark(2, "missed")]
    )
    assert {"attended", "missed"} <= set(_texts(attendance))


def test_the_same_inputs_are_rendered_once() -> None:
    charts.clear_caches()
    svgs = {
        charts.alliance_chart([charts.Point(1, 2.0)], threshold=None, y_min=1, y_max=5)
        for _ in range(3)
    }
    assert len(svgs) == 1
    assert charts._render_cached.cache_info().misses == 1
    charts.alliance_chart([charts.Point(1, 2.5)], threshold=None, y_min=1, y_max=5)
    assert charts._render_cached.cache_info().misses == 2


def test_every_chart_spec_is_valid_vega_lite(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(charts, "VALIDATE_SPECS", True)
    charts.clear_caches()
    charts.alliance_chart([charts.Point(1, 2.0)], threshold=3.0, y_min=1, y_max=5)
    charts.outcome_chart(
        [charts.Point(1, 9)], band=[charts.BandPoint(1, 5, 12, 8)], y_min=0, y_max=27
    )
    charts.goals_chart([charts.GoalSeries("g", [charts.Point(1, 3)])])
    charts.attendance_chart([charts.AttendanceMark(1, "missed")])
    charts.clear_caches()


def test_flagged_sessions_get_a_ring_on_the_alliance_chart() -> None:
    points = [charts.Point(1, 3.5), charts.Point(2, 2.2), charts.Point(3, 3.6)]
    plain = charts.alliance_chart(points, threshold=3.0, y_min=1, y_max=5)
    ringed = charts.alliance_chart(points, threshold=3.0, y_min=1, y_max=5, flagged=[2])
    ring_stroke = 'stroke="#b3261e"'
    assert ring_stroke not in plain
    assert ringed.count(ring_stroke) == 1
