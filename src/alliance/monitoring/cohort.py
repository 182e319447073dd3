"""Alerts for many clients at once: one instrument's scores in long form, kinds per client.

:func:`latest_alert_kinds` gives, for every client, the kinds that
:func:`~alliance.monitoring.alerts.evaluate_alerts` raises on that client's score-only
timeline (no attendance, no fit answers) — the same kinds in the same order — without building
a timeline per client. It rests on two facts about the rules:

* the score rules read only a few numbers of the valid series: an outcome (or any
  non-relationship) instrument only the first valid score and the latest
  ``not_on_track_consecutive`` ones (not on track: each of those against the expected course;
  reliable deterioration: the first and the latest); a relationship instrument also the
  earlier totals (rupture, low alliance) and every session number (the fit check replays
  its window: whether an earlier low score fell inside it decides whether the latest one
  may fire);
* ``risk_reported`` reads only the latest administration's risk answers.

So each client is reduced to those keys, each *distinct* key is evaluated once by the real
rules (on a small timeline that carries exactly that key), and the verdict is shared by every
client with the same key. Scores are few distinct numbers (a PHQ-9 total is one of 28), so a
million rows need thousands of rule evaluations, not a hundred thousand; and since the rules
themselves decide, the result is the per-client result by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from alliance.measures.scoring import risk_flags
from alliance.monitoring.alerts import (
    RELATIONSHIP_KINDS,
    Alert,
    AlertKind,
    AlertSettings,
    TrajectoryArg,
    alert_rank,
    evaluate_alerts,
)
from alliance.monitoring.timeline import ScorePoint, Timeline

if TYPE_CHECKING:
    from alliance.measures.instrument import Instrument

__all__ = ["latest_alert_kinds"]

_DAY = date(2000, 1, 1)  # no score rule reads dates; sessions alone order a client's scores
SeriesKey = tuple[object, ...]


def latest_alert_kinds(
    instrument: Instrument,
    client: npt.NDArray[np.intp],
    session: npt.NDArray[np.int64],
    total: npt.NDArray[np.float64],
    risk_answers: Mapping[str, Sequence[object]],
    *,
    settings: AlertSettings | None = None,
    trajectory: TrajectoryArg = None,
) -> list[tuple[AlertKind, ...]]:
    """Alert kinds per client, most severe first, as :func:`evaluate_alerts` orders them.

    One row per administration: ``client`` numbers clients ``0 … k−1`` (each must have a row),
    ``session`` is the session number (unique within a client), ``total`` the valid total or
    NaN, and ``risk_answers`` maps each risk item's linkId to its answers, row by row (an
    absent risk item is simply left out). Element ``i`` of the result belongs to client ``i``.
    """
    n_rows = len(client)
    if not (len(session) == len(total) == n_rows) or any(
        len(v) != n_rows for v in risk_answers.values()
    ):
        raise ValueError("client, session, total and every risk answer column need one value a row")
    if n_rows == 0:
        return []
    n_clients = int(client.max()) + 1
    order = np.lexsort((session, client))
    by_client = client[order]
    numbers = np.arange(n_clients)
    ends = np.searchsorted(by_client, numbers, side="right")
    if np.any(ends - np.searchsorted(by_client, numbers, side="left") == 0):
        raise ValueError("every client number from 0 to the highest needs at least one row")
    instruments = {instrument.id: instrument}

    # risk_reported: the risk answers of each client's latest administration.
    latest_rows = order[ends - 1]
    columns = list(risk_answers)
    risk_cache: dict[tuple[object, ...], list[Alert]] = {}
    risk_alerts: list[list[Alert]] = []
    for row in latest_rows.tolist():
        answers = tuple(risk_answers[c][row] for c in columns)
        found = risk_cache.get(answers)
        if found is None:
            flags = risk_flags(instrument, dict(zip(columns, answers, strict=True)))
            found = []
            if flags:
                point = ScorePoint(1, _DAY, instrument.id, None, risk=flags)
                found = evaluate_alerts(Timeline("", [point]), instruments, settings)
            risk_cache[answers] = found
        risk_alerts.append(found)

    # The score rules: each client's valid series reduced to what the rules read.
    valid = ~np.isnan(total[order])
    kept = order[valid]
    valid_client = client[kept]
    valid_session = session[kept]
    valid_total = total[kept]
    v_ends = np.searchsorted(valid_client, numbers, side="right")
    v_starts = np.searchsorted(valid_client, numbers, side="left")
    relationship = instrument.kind in RELATIONSHIP_KINDS
    # The latest scores "not on track" reads; a longer series is its first score and these.
    recent = (settings or AlertSettings()).not_on_track_consecutive
    series_cache: dict[SeriesKey, list[Alert]] = {}
    out: list[tuple[AlertKind, ...]] = []
    for number, (start, end) in enumerate(zip(v_starts.tolist(), v_ends.tolist(), strict=True)):
        alerts = list(risk_alerts[number])
        if end > start:
            key: SeriesKey
            if relationship:
                # Session numbers too: the fit check replays its window (sessions 3-5 by
                # default), so the same scores at other sessions can raise other alerts.
                key = (
                    tuple(valid_total[start:end].tolist()),
                    tuple(valid_session[start:end].tolist()),
                )
            else:
                tail = range(max(start + 1, end - recent), end)
                key = (
                    int(valid_session[start]),
                    float(valid_total[start]),
                    tuple((int(valid_session[i]), float(valid_total[i])) for i in tail),
                )
            found = series_cache.get(key)
            if found is None:
                timeline = Timeline("", _points(instrument, key, relationship=relationship))
                found = evaluate_alerts(timeline, instruments, settings, trajectory)
                series_cache[key] = found
            alerts.extend(found)
        alerts.sort(key=lambda a: alert_rank(a.severity, a.kind))
        out.append(tuple(dict.fromkeys(a.kind for a in alerts)))
    return out


def _points(instrument: Instrument, key: SeriesKey, *, relationship: bool) -> list[ScorePoint]:
    """A valid series that shows the rules exactly what ``key`` holds."""
    if relationship:
        totals, sessions = key
        assert isinstance(totals, tuple)
        assert isinstance(sessions, tuple)
        return [
            ScorePoint(s, _DAY, instrument.id, float(t))
            for s, t in zip(sessions, totals, strict=True)
        ]
    first_session, first, tail = key
    assert isinstance(first_session, int)
    assert isinstance(first, float)
    assert isinstance(tail, tuple)
    # The first score and the latest ones: a series of at most recent + 1 scores is whole;
    # a longer one drops only middle scores, which no outcome rule reads (and its length
    # stays above what "not on track" needs, as the whole series' does).
    head = ScorePoint(first_session, _DAY, instrument.id, first)
    return [head, *(ScorePoint(s, _DAY, instrument.id, t) for s, t in tail)]
