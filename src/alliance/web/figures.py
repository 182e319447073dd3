"""From a client's timeline (a services view) to the figures on the client page.

Each :class:`Figure` carries the SVG, a one-line summary a screen reader announces, and the
numbers behind the drawing as table rows, so every plotted value can be read and traced.
"""

from __future__ import annotations

from dataclasses import dataclass

from alliance.measures.instrument import short_name_of
from alliance.monitoring.alerts import RELATIONSHIP_ALERT_KINDS
from alliance.services.views import InstrumentSeries, TimelineView
from alliance.web import charts


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    summary: str
    svg: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _points(series: InstrumentSeries) -> list[charts.Point]:
    points: list[charts.Point] = []
    for index, p in enumerate(series.points, start=1):
        if p.value is None or not p.valid:
            continue
        points.append(charts.Point(float(p.session_number or index), float(p.value)))
    return points


def alliance_threshold(series: InstrumentSeries) -> float | None:
    """The threshold line to draw: the instrument's low-alliance threshold when it has one."""
    if not series.thresholds:
        return None
    for name, value in series.thresholds.items():
        if "low" in name:
            return float(value)
    return float(next(iter(series.thresholds.values())))


def _flagged_sessions(timeline: TimelineView) -> tuple[float, ...]:
    return tuple(
        sorted(
            {
                float(a.session_number)
                for a in timeline.alerts
                if a.kind in RELATIONSHIP_ALERT_KINDS
                and a.status != "resolved"
                and a.session_number is not None
            }
        )
    )


def _alliance_figure(series: InstrumentSeries, flagged: tuple[float, ...] = ()) -> Figure:
    points = _points(series)
    threshold = alliance_threshold(series)
    svg = charts.alliance_chart(
        points,
        threshold=threshold,
        y_min=series.score_min,
        y_max=series.score_max,
        title=f"{short_name_of(series.title)} score",
        flagged=flagged,
    )
    latest = points[-1].y if points else None
    summary = f"{_count(len(points), 'score')}, latest {_fmt(latest)}" + (
        f"; alert threshold {_fmt(threshold)}" if threshold is not None else ""
    )
    if flagged:
        shown = ", ".join(_fmt(f) for f in flagged)
        summary += f"; ringed: open alert at session {shown}"
    rows = tuple(
        (
            _fmt(p.x),
            _fmt(p.y),
            "below threshold" if threshold is not None and p.y < threshold else "",
        )
        for p in points
    )
    return Figure(
        f"series-{series.instrument_id}",
        series.title,
        summary,
        svg,
        ("Session", "Score", "Note"),
        rows,
    )


def _outcome_figure(series: InstrumentSeries) -> Figure:
    points = _points(series)
    band: list[charts.BandPoint] = []
    trajectory = series.trajectory
    if trajectory is not None:
        band = [
            charts.BandPoint(float(n), lo, hi, mid)
            for n, lo, hi, mid in zip(
                trajectory.session_numbers,
                trajectory.lower,
                trajectory.upper,
                trajectory.expected,
                strict=False,
            )
        ]
    svg = charts.outcome_chart(
        points,
        band=band,
        y_min=series.score_min,
        y_max=series.score_max,
        title=f"{short_name_of(series.title)} score",
        higher_is_better=series.direction == "higher_is_better",
    )
    latest = points[-1].y if points else None
    status = ""
    if trajectory is not None and trajectory.on_track is not None:
        status = "; on track" if trajectory.on_track else "; NOT on track"
    summary = f"{_count(len(points), 'score')}, latest {_fmt(latest)}{status}"
    expected = {int(b.x): b for b in band}
    rows = tuple(
        (
            _fmt(p.x),
            _fmt(p.y),
            (
                f"{_fmt(expected[int(p.x)].low)}–{_fmt(expected[int(p.x)].high)}"
                if int(p.x) in expected
                else ""
            ),
        )
        for p in points
    )
    return Figure(
        f"series-{series.instrument_id}",
        series.title,
        summary,
        svg,
        ("Session", "Score", "Expected range"),
        rows,
    )


def timeline_figures(timeline: TimelineView) -> list[Figure]:
    """Alliance first, then outcomes, goals and attendance (the order a clinician reads)."""
    figures: list[Figure] = []
    for series in timeline.series:
        if series.kind == "alliance":
            figures.append(_alliance_figure(series, _flagged_sessions(timeline)))
    for series in timeline.series:
        if series.kind == "outcome":
            figures.append(_outcome_figure(series))
    goal_series = [
        charts.GoalSeries(
            g.goal.text,
            [
                charts.Point(float(r.session_number or i), float(r.value))
                for i, r in enumerate(g.ratings, start=1)
                if r.value is not None
            ],
        )
        for g in timeline.goals
    ]
    if any(g.points for g in goal_series):
        rows = tuple((g.label, _fmt(p.x), _fmt(p.y)) for g in goal_series for p in g.points)
        figures.append(
            Figure(
                "goals",
                "Goals",
                f"{_count(len(goal_series), 'agreed goal')} rated 0–10",
                charts.goals_chart(goal_series),
                ("Goal", "Session", "Rating"),
                rows,
            )
        )
    if timeline.sessions:
        marks = [
            charts.AttendanceMark(float(s.number), s.status, s.scheduled_at.strftime("%d %b"))
            for s in timeline.sessions
        ]
        attended = sum(1 for s in timeline.sessions if s.status == "attended")
        missed = sum(1 for s in timeline.sessions if s.status == "missed")
        figures.append(
            Figure(
                "attendance",
                "Attendance",
                f"{attended} attended, {missed} missed of {len(marks)} sessions",
                charts.attendance_chart(marks),
                ("Session", "Date", "Status"),
                tuple((_fmt(m.x), m.date, m.status) for m in marks),
            )
        )
    return figures
