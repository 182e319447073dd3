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


def test_the_plain_dict_spec_draws_what_the_same_chart_built_with_altair_draws() -> None:
    import altair as alt

    points = [charts.Point(1, 3.5), charts.Point(2, 2.2), charts.Point(3, 3.6)]
    ours = charts.alliance_chart(points, threshold=3.0, y_min=1, y_max=5, flagged=[2])
    data = [{"x": p.x, "y": p.y} for p in points]
    x = alt.X(
        "x:Q",
        title="Session",
        scale=alt.Scale(domain=[0.5, 3.5], nice=False),
        axis=alt.Axis(values=[1, 2, 3], format="d", grid=False),
    )
    y = alt.Y("y:Q", title="Alliance score", scale=alt.Scale(domain=[1, 5]))
    rule = [{"t": 3.0, "label": "threshold 3"}]
    layers = [
        alt.Chart(alt.Data(values=data))
        .mark_line(point=alt.OverlayMarkDef(size=60, filled=True), color="#1f5fa8", strokeWidth=2)
        .encode(x=x, y=y),
        alt.Chart(alt.Data(values=rule))
        .mark_rule(color="#c0561b", strokeDash=[6, 4], strokeWidth=1.5)
        .encode(y=alt.Y("t:Q", scale=alt.Scale(domain=[1, 5]))),
        alt.Chart(alt.Data(values=rule))
        .mark_text(align="left", dx=4, dy=-6, color="#c0561b", fontSize=11)
        .encode(y=alt.Y("t:Q"), x=alt.value(2), text="label:N"),
        alt.Chart(alt.Data(values=[data[1]]))
        .mark_point(shape="circle", size=260, filled=False, color="#b3261e", strokeWidth=2.5)
        .encode(x=x, y=y),
    ]
    spec = alt.layer(*layers).properties(width=charts.WIDTH, height=charts.HEIGHT).to_dict()
    spec["config"] = {
        "font": "system-ui, sans-serif",
        "axis": {"labelFontSize": 11, "titleFontSize": 12, "gridColor": "#e6e6e6"},
        "view": {"stroke": None},
        "background": "white",
    }
    assert ours == charts.render(spec)


def test_charts_render_from_several_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    charts.clear_caches()
    inputs = [[charts.Point(1, 2.0 + i / 10), charts.Point(2, 3.0)] for i in range(8)]
    alone = [charts.alliance_chart(p, threshold=3.0, y_min=1, y_max=5) for p in inputs]
    charts.clear_caches()
    with ThreadPoolExecutor(4) as pool:
        together = list(
            pool.map(lambda p: charts.alliance_chart(p, threshold=3.0, y_min=1, y_max=5), inputs)
        )
    assert together == alone
