"""Server-side charts: Vega-Lite specs (plain dicts) rendered to inline SVG with vl-convert.

Every function here takes plain data (frozen dataclasses of numbers and labels) and returns an
SVG string ready to be placed in a template; nothing here knows about the database or HTTP.
Rendering is offline (vl-convert bundles the Vega engine) and cached by spec, because the
same client page is looked at many times between check-ins. The first render in a process
starts the JavaScript engine (about a second), so the app calls :func:`warm_up` in a
background thread at start-up.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ParamSpec

WIDTH = 520
HEIGHT = 200
_FONT = "system-ui, sans-serif"
# Colours chosen to stay distinguishable for the common colour-vision deficiencies.
_BLUE = "#1f5fa8"
_ORANGE = "#c0561b"
_GREY = "#6b6b6b"
_BAND = "#9cc3e6"
_RED = "#b3261e"


@dataclass(frozen=True)
class Point:
    """One measurement: ``x`` is the session number, ``y`` the score."""

    x: float
    y: float


@dataclass(frozen=True)
class BandPoint:
    """The expected-trajectory band at one session: ``low``..``high`` around ``mid``."""

    x: float
    low: float
    high: float
    mid: float | None = None


@dataclass(frozen=True)
class GoalSeries:
    """A client-defined goal and its progress ratings (0-10) by session."""

    label: str
    points: Sequence[Point]


@dataclass(frozen=True)
class AttendanceMark:
    """One scheduled session: its number, date label and status (attended/missed/cancelled)."""

    x: float
    status: str
    date: str = ""


# The Vega-Lite schema the specs are written against (the version Altair would stamp; vl-convert
# picks its Vega-Lite by it). Specs are plain dicts: building them through Altair's schema
# classes cost as much as rendering them. The tests switch validation on (through Altair).
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
VALIDATE_SPECS = False


def _freeze(value: Any) -> Any:
    if isinstance(value, GoalSeries):
        return GoalSeries(value.label, tuple(value.points))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


_P = ParamSpec("_P")
# How to empty each chart's cache (kept here rather than as attributes on the wrappers, so the
# wrappers keep their chart's exact signature for the type checker).
_CACHE_CLEARS: list[Callable[[], None]] = []


def _memoized(func: Callable[_P, str]) -> Callable[_P, str]:
    """Cache a chart by its inputs: a client page is viewed far more often than its data
    changes, and this skips both building the spec and rendering it."""
    cached = lru_cache(maxsize=1024)(func)
    _CACHE_CLEARS.append(cached.cache_clear)

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> str:
        return cached(*(_freeze(a) for a in args), **{k: _freeze(v) for k, v in kwargs.items()})

    return wrapper


def clear_caches() -> None:
    for clear in _CACHE_CLEARS:
        clear()
    _render_cached.cache_clear()


def _config(spec: dict[str, Any]) -> dict[str, Any]:
    spec["config"] = {
        "font": _FONT,
        "axis": {"labelFontSize": 11, "titleFontSize": 12, "gridColor": "#e6e6e6"},
        "view": {"stroke": None},
        "background": "white",
    }
    spec["$schema"] = VEGA_LITE_SCHEMA
    if VALIDATE_SPECS:
        import altair as alt

        # from_dict validates against the schema and raises naming the offending part.
        (alt.LayerChart if "layer" in spec else alt.Chart).from_dict(spec)
    return spec


def _q(field: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """A quantitative encoding channel."""
    channel: dict[str, Any] = {"field": field, "type": "quantitative", **extra}
    if title is not None:
        channel["title"] = title
    return channel


def _scale(y_min: float, y_max: float) -> dict[str, Any]:
    return {"domain": [y_min, y_max]}


def _x_axis(points_x: Sequence[float], title: str = "Session") -> dict[str, Any]:
    top = int(max([1.0, *points_x]))
    # Whole sessions only: explicit tick values (thinned on long timelines) avoid the
    # repeated labels a "d" format gives to fractional ticks.
    step = max(1, (top + 11) // 12)
    ticks = list(range(1, top + 1, step))
    return _q(
        "x",
        title,
        scale={"domain": [0.5, top + 0.5], "nice": False},
        axis={"values": ticks, "format": "d", "grid": False},
    )


def _line(color: str, *, point_size: int | None, stroke_width: float, **extra: Any) -> Any:
    mark: dict[str, Any] = {"type": "line", "strokeWidth": stroke_width, **extra}
    if color:
        mark["color"] = color
    if point_size is not None:
        mark["point"] = {"filled": True, "size": point_size}
    return mark


@_memoized
def alliance_chart(
    points: Sequence[Point],
    *,
    threshold: float | None,
    y_min: float,
    y_max: float,
    title: str = "Alliance score",
    flagged: Sequence[float] = (),
) -> str:
    """Alliance score over sessions, with the instrument's alert threshold as a dashed line.

    ``flagged`` session numbers (where an alert was raised) get a red ring round their point,
    so a rupture is visible where it happened.
    """
    data = [{"x": p.x, "y": p.y} for p in points]
    x = _x_axis([p.x for p in points])
    y = _q("y", title, scale=_scale(y_min, y_max))
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": data},
            "mark": _line(_BLUE, point_size=60, stroke_width=2),
            "encoding": {"x": x, "y": y},
        }
    ]
    if threshold is not None:
        rule_data = {"values": [{"t": threshold, "label": f"threshold {threshold:g}"}]}
        layers.append(
            {
                "data": rule_data,
                "mark": {
                    "type": "rule",
                    "color": _ORANGE,
                    "strokeDash": [6, 4],
                    "strokeWidth": 1.5,
                },
                "encoding": {"y": _q("t", scale=_scale(y_min, y_max))},
            }
        )
        layers.append(
            {
                "data": rule_data,
                "mark": {
                    "type": "text",
                    "align": "left",
                    "dx": 4,
                    "dy": -6,
                    "color": _ORANGE,
                    "fontSize": 11,
                },
                "encoding": {
                    "y": _q("t"),
                    "x": {"value": 2},
                    "text": {"field": "label", "type": "nominal"},
                },
            }
        )
    rings = [{"x": p.x, "y": p.y} for p in points if p.x in set(flagged)]
    if rings:
        layers.append(
            {
                "data": {"values": rings},
                "mark": {
                    "type": "point",
                    "shape": "circle",
                    "size": 260,
                    "filled": False,
                    "color": _RED,
                    "strokeWidth": 2.5,
                },
                "encoding": {"x": x, "y": y},
            }
        )
    return render(_config({"layer": layers, "width": WIDTH, "height": HEIGHT}))


@_memoized
def outcome_chart(
    points: Sequence[Point],
    *,
    band: Sequence[BandPoint] = (),
    y_min: float,
    y_max: float,
    title: str = "Score",
    higher_is_better: bool = False,
    axis_titles: tuple[str, str] | None = None,
) -> str:
    """Outcome score over sessions, drawn over the expected-trajectory band when there is one.

    ``axis_titles`` (x, y) replaces the English ones ("Session", "PHQ-9 (lower is better)")
    on a client page in another language."""
    x_title, y_title = axis_titles or (
        "Session",
        f"{title} ({'higher' if higher_is_better else 'lower'} is better)",
    )
    x = _x_axis([p.x for p in points] + [b.x for b in band], x_title)
    y = _q("y", y_title, scale=_scale(y_min, y_max))
    layers: list[dict[str, Any]] = []
    if band:
        band_data = [{"x": b.x, "low": b.low, "high": b.high} for b in band]
        layers.append(
            {
                "data": {"values": band_data},
                "mark": {"type": "area", "color": _BAND, "opacity": 0.45},
                "encoding": {
                    "x": x,
                    "y": _q("low", y_title, scale=_scale(y_min, y_max)),
                    "y2": {"field": "high"},
                },
            }
        )
        mids = [{"x": b.x, "y": b.mid} for b in band if b.mid is not None]
        if mids:
            layers.append(
                {
                    "data": {"values": mids},
                    "mark": _line(_GREY, point_size=None, stroke_width=1, strokeDash=[3, 3]),
                    "encoding": {"x": x, "y": y},
                }
            )
    data = [{"x": p.x, "y": p.y} for p in points]
    layers.append(
        {
            "data": {"values": data},
            "mark": _line(_BLUE, point_size=60, stroke_width=2),
            "encoding": {"x": x, "y": y},
        }
    )
    return render(_config({"layer": layers, "width": WIDTH, "height": HEIGHT}))


@_memoized
def goals_chart(goals: Sequence[GoalSeries]) -> str:
    """Progress ratings (0-10) for each agreed goal, one coloured line per goal."""
    data = [{"x": p.x, "y": p.y, "goal": g.label} for g in goals for p in g.points]
    x = _x_axis([p.x for g in goals for p in g.points])
    spec: dict[str, Any] = {
        "data": {"values": data},
        "mark": _line("", point_size=50, stroke_width=2),
        "encoding": {
            "x": x,
            "y": _q("y", "Goal progress (0-10)", scale={"domain": [0, 10]}),
            "color": {
                "field": "goal",
                "type": "nominal",
                "title": None,
                "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 400},
                "scale": {"range": [_BLUE, _ORANGE, "#2e7d32"]},
            },
        },
        "width": WIDTH,
        "height": HEIGHT,
    }
    return render(_config(spec))


_STATUS_ORDER = ["attended", "missed", "cancelled", "scheduled"]


@_memoized
def attendance_chart(marks: Sequence[AttendanceMark]) -> str:
    """One mark per scheduled session: filled for attended, hollow orange for missed."""
    data = [{"x": m.x, "status": m.status, "date": m.date} for m in marks]
    x = _x_axis([m.x for m in marks])
    spec: dict[str, Any] = {
        "data": {"values": data},
        "mark": {"type": "point", "size": 140, "filled": True},
        "encoding": {
            "x": x,
            "y": {
                "field": "status",
                "type": "nominal",
                "title": None,
                "sort": _STATUS_ORDER,
                "scale": {"domain": _STATUS_ORDER},
            },
            "color": {
                "field": "status",
                "type": "nominal",
                "legend": None,
                "scale": {"domain": _STATUS_ORDER, "range": [_BLUE, _ORANGE, _GREY, "#999999"]},
            },
            "shape": {
                "field": "status",
                "type": "nominal",
                "legend": None,
                "scale": {
                    "domain": _STATUS_ORDER,
                    "range": ["circle", "cross", "triangle-down", "square"],
                },
            },
        },
        "width": WIDTH,
        "height": 90,
    }
    return render(_config(spec))


def render(spec: dict[str, Any]) -> str:
    """Render a Vega-Lite spec to an SVG string (cached by the spec's canonical JSON)."""
    return _render_cached(json.dumps(spec, sort_keys=True, default=str))


_SVG_OPEN = re.compile(r"<svg\b")


@lru_cache(maxsize=512)
def _render_cached(spec_json: str) -> str:
    import vl_convert as vlc

    # No lock of ours: vl-convert serialises calls to its one JavaScript runtime itself and
    # releases the GIL meanwhile (checked: four threads rendering 40 charts at once gave the
    # same SVGs as one thread, and a Python thread kept running throughout).
    svg: str = vlc.vegalite_to_svg(json.loads(spec_json))
    # The figure around the chart carries the accessible name and a data table; the drawing
    # itself is decorative to a screen reader, and must scale down on a phone.
    return _SVG_OPEN.sub('<svg aria-hidden="true" focusable="false"', svg, count=1)


def warm_up() -> None:
    """Start the rendering engine once so the first real page does not pay for it."""
    alliance_chart([Point(1, 1.0)], threshold=None, y_min=0, y_max=2)


def warm_up_in_background() -> threading.Thread:
    """Run :func:`warm_up` in a daemon thread (app start must not wait for it)."""
    thread = threading.Thread(target=warm_up, name="alliance-chart-warmup", daemon=True)
    thread.start()
    return thread
