"""Monitoring an episode: run the rules on its stored data and keep its alerts up to date.

:func:`refresh_alerts` reads what the rules need of the episode with narrow column selects
(:func:`rules_timeline`; :func:`build_timeline` turns the whole loaded episode into the same
:class:`~alliance.monitoring.timeline.Timeline` for everything else), runs
:func:`alliance.monitoring.alerts.evaluate_alerts` with the clinic's expected trajectories (from
the context's :class:`~alliance.services.trajectories.TrajectoryCache`) and stores what the
rules raise as one alert per concern (:mod:`alliance.monitoring.concerns`): the signals of one
concern — a rupture, a low alliance and a "not a good fit" answer are one alliance concern — are
the reasons of one alert; later evidence updates the unresolved alert of its concern instead of
adding a second, and a resolved alert re-opens only on evidence from a later session.
:func:`refresh_open_episodes` is the daily sweep over every open episode.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from alliance.measures.instrument import Instrument
from alliance.measures.scoring import RiskFlag, stored_risk_flags
from alliance.monitoring.alerts import Alert as RaisedAlert
from alliance.monitoring.alerts import evaluate_alerts
from alliance.monitoring.concerns import (
    AlertChange,
    Signal,
    StoredAlert,
    concern_of,
    group_signals,
    plan_alerts,
)
from alliance.monitoring.timeline import (
    Attendance,
    AttendanceStatus,
    FitAnswer,
    FitAnswerValue,
    ScorePoint,
    Timeline,
)
from alliance.services.alerts import alert_view
from alliance.services.authz import Actor, system_actor
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.episodes import EpisodeData, decrypt_answers, instrument
from alliance.services.unit import record_many, unit_of_work
from alliance.services.views import AlertView
from alliance.store.models import (
    Alert,
    Client,
    Clinic,
    Episode,
    Response,
    Score,
    TherapySession,
)

# -- alerts ---------------------------------------------------------------------------------

# The statements of every refresh, built once: a statement object is immutable, and reusing
# it spares building the expression and its cache key on each check-in.
_OWNER = (
    select(Client.id, Client.clinic_id, Clinic.settings)
    .join(Clinic, Clinic.id == Client.clinic_id)
    .where(Client.id == bindparam("client_id"))
)
_ALERTS = select(Alert).where(Alert.episode_id == bindparam("episode_id"))
_SCORES = Score.__table__.c
_RESPONSES = Response.__table__.c
_SESSIONS = TherapySession.__table__.c
# Core statements on the tables (run on the unit of work's connection): the rows are read as
# plain tuples, without the ORM's per-statement bookkeeping.
_SCORE_ROWS = (
    select(
        _SCORES.instrument_id,
        _SCORES.session_number,
        _SCORES.scored_at,
        _SCORES.total,
        _SCORES.valid,
        _SCORES.response_id,
        _RESPONSES.checkin_id,
    )
    .select_from(Score.__table__)
    .join(Response.__table__, _RESPONSES.id == _SCORES.response_id)
    .where(_SCORES.episode_id == bindparam("episode_id"))
    .order_by(_SCORES.scored_at, _SCORES.id)
)
_ANSWERS = select(_RESPONSES.id, _RESPONSES.answers).where(
    _RESPONSES.id.in_(bindparam("ids", expanding=True))
)
_ATTENDANCE = (
    select(_SESSIONS.number, _SESSIONS.scheduled_at, _SESSIONS.status)
    .where(
        _SESSIONS.episode_id == bindparam("episode_id"),
        _SESSIONS.status.in_(("attended", "missed", "cancelled")),
    )
    .order_by(_SESSIONS.number)
)


@dataclass(frozen=True)
class EpisodeRef:
    """What :func:`refresh_episode_alerts` needs to know of an episode besides its stored
    data: a caller that has read these already (a check-in) passes them instead of the
    refresh reading them again."""

    id: int
    client_id: int
    clinic_id: int
    instruments: tuple[str, ...]
    settings: ClinicSettings


def refresh_alerts(
    session: Session, ctx: ServiceContext, actor: Actor, episode: Episode
) -> list[AlertView]:
    """Evaluate the monitoring rules on the episode and store what they raise, one alert per
    concern (:mod:`alliance.monitoring.concerns` decides what to raise, update or re-open).

    Returns the alerts raised, updated or re-opened now. Runs inside the caller's transaction.
    """
    owner = session.execute(_OWNER, {"client_id": episode.client_id}).one()
    ref = EpisodeRef(
        id=episode.id,
        client_id=owner.id,
        clinic_id=owner.clinic_id,
        instruments=tuple(str(i) for i in episode.instruments),
        settings=ClinicSettings.from_json(owner.settings),
    )
    return refresh_episode_alerts(session, ctx, actor, ref)


def refresh_episode_alerts(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    episode: EpisodeRef,
    written: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[AlertView]:
    """:func:`refresh_alerts` for an episode whose owner and settings the caller has read.

    ``written`` maps response id → the answers as the caller has just stored them in this
    transaction (a check-in): the rules read those from it rather than from the database."""
    client_id, clinic_id = episode.client_id, episode.clinic_id
    instrument_ids = list(episode.instruments)
    raised = evaluate_rules(
        session,
        ctx,
        rules_timeline(session, ctx, episode.id, client_id, written),
        clinic_id,
        instrument_ids,
        episode.settings,
    )
    kinds = {i: instrument(ctx, i).kind for i in instrument_ids}
    existing = {a.id: a for a in session.scalars(_ALERTS, {"episode_id": episode.id})}
    stored = [stored_alert(a, kinds) for a in existing.values()]
    plan = plan_alerts(group_signals(raised, kinds), stored)
    now = ctx.now()
    changed: list[tuple[Alert, str]] = []
    for change in plan:
        items = _signal_items(change, existing.get(change.target or -1))
        evidence = _jsonable(
            {
                "concern": change.concern.concern,
                "instrument_id": change.signals[0].instrument_id,
                "items": _distinct(
                    [item for signal in change.signals for item in items[signal.key]]
                ),
                "signals": [
                    {
                        "kind": s.kind,
                        "severity": s.severity,
                        "session_number": s.session_number,
                        "reason": s.reason,
                        "next_step": s.next_step,
                        "instrument_id": s.instrument_id,
                        "items": items[s.key],
                    }
                    for s in change.signals
                ],
            }
        )
        if change.target is None:
            target = Alert(
                clinic_id=clinic_id,
                client_id=client_id,
                episode_id=episode.id,
                created_at=now,
            )
            session.add(target)
        else:
            target = existing[change.target]
        target.kind = change.kind
        target.severity = change.severity
        target.session_number = change.session_number
        target.reason = change.reason
        target.next_step = change.next_step
        target.evidence = evidence
        if change.status == "open" and target.status != "open":
            # Open again (new evidence): it may be escalated again if it waits too long.
            target.escalated_at = None
        target.status = change.status
        target.updated_at = now
        changed.append((target, change.op))
    if changed:
        session.flush()  # once for all of them: new alerts get their ids for the audit trail
    record_many(
        session,
        ctx,
        actor,
        [
            (
                "write",
                "alert",
                target.id,
                {"op": op, "kind": target.kind, "client_id": client_id},
                clinic_id,
            )
            for target, op in changed
        ],
    )
    return [alert_view(a, ctx.cipher) for a, _op in changed]


def stored_alert(alert: Alert, instrument_kinds: Mapping[str, str]) -> StoredAlert:
    """A stored alert as :func:`~alliance.monitoring.concerns.plan_alerts` reads it; an alert
    stored before concerns existed (no ``signals`` in its evidence) counts as one signal of
    the concern its kind belongs to."""
    evidence = alert.evidence or {}
    source = evidence.get("instrument_id")
    concern = evidence.get("concern") or concern_of(
        alert.kind, instrument_kinds.get(str(source)) if source else None
    )
    listed = evidence.get("signals")
    if isinstance(listed, list) and listed:
        signals = tuple(
            Signal(
                str(s.get("kind")),
                str(s.get("severity")),
                int(s.get("session_number") or 0),
                str(s.get("reason") or ""),
                str(s.get("next_step") or ""),
                s.get("instrument_id"),
            )
            for s in listed
            if isinstance(s, Mapping)
        )
    else:
        signals = (
            Signal(
                alert.kind,
                alert.severity,
                alert.session_number or 0,
                alert.reason,
                alert.next_step,
                source,
            ),
        )
    return StoredAlert(alert.id, str(concern), alert.status, signals)


def _distinct(items: list[Any]) -> list[Any]:
    """The evidence records once each (two reasons often rest on the same score)."""
    seen: dict[str, Any] = {}
    for item in items:
        # The records are JSON-ready already (stored evidence, or converted by _signal_items).
        seen.setdefault(json.dumps(item, sort_keys=True), item)
    return sorted(
        seen.values(),
        key=lambda i: (
            (i.get("session_number") or 0, str(i.get("instrument_id")))
            if isinstance(i, Mapping)
            else (0, "")
        ),
    )


def _signal_items(change: AlertChange, target: Alert | None) -> dict[tuple[str, str | None], Any]:
    """The evidence records of each of the change's signals: the raised alert's for a signal
    raised now, the stored ones for a signal kept from before."""
    items: dict[tuple[str, str | None], Any] = {}
    if target is not None:
        listed = (target.evidence or {}).get("signals")
        if isinstance(listed, list):
            for s in listed:
                if isinstance(s, Mapping):
                    items[(str(s.get("kind")), s.get("instrument_id"))] = s.get("items", [])
        else:
            key = (target.kind, (target.evidence or {}).get("instrument_id"))
            items[key] = (target.evidence or {}).get("items", [])
    for found in change.concern.alerts:
        items[(str(found.kind), found.instrument_id)] = _jsonable({"e": found.evidence})["e"]
    return {s.key: items.get(s.key, []) for s in change.signals}


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> dict[str, Any]:
    """Evidence as JSON-ready data (dataclasses, tuples and numpy scalars flattened)."""

    def convert(obj: Any) -> Any:
        if type(obj) in _JSON_SCALARS:  # most values: checked first, as they are
            return obj
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return {f.name: convert(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, Mapping):
            return {str(k): convert(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple, set, frozenset)):
            return [convert(v) for v in obj]
        if isinstance(obj, (datetime, date)):
            return obj.isoformat()
        if hasattr(obj, "model_dump"):
            return convert(obj.model_dump(mode="json"))
        if hasattr(obj, "item") and callable(obj.item):
            return obj.item()
        return obj

    converted = convert(value)
    if not isinstance(converted, dict):
        converted = {"items": converted}
    json.dumps(converted)  # fail here, inside the transaction, rather than at flush
    return converted


def refresh_open_episodes(ctx: ServiceContext, *, clinic_id: int | None = None) -> int:
    """Re-evaluate the rules on every open episode (one transaction each) and return how many
    alerts were raised or updated.

    Check-ins and attendance re-evaluate their own episode; this daily sweep (``alliance
    clinic refresh-alerts``, e.g. from cron) catches what only the passing of time reveals —
    a client who has simply stopped coming.
    """
    with unit_of_work(ctx) as session:
        query = select(Episode.id).where(Episode.ended_at.is_(None))
        if clinic_id is not None:
            query = query.join(Client, Client.id == Episode.client_id).where(
                Client.clinic_id == clinic_id
            )
        episode_ids = list(session.scalars(query.order_by(Episode.id)))
    changed = 0
    # A batch job: refit stale trajectories here, not in the background.
    with ctx.trajectories.refits_inline():
        for episode_id in episode_ids:
            with unit_of_work(ctx) as session:
                episode = session.get(Episode, episode_id)
                if episode is None or episode.ended_at is not None:
                    continue
                client = session.get(Client, episode.client_id)
                actor = system_actor(client.clinic_id if client else None)
                changed += len(refresh_alerts(session, ctx, actor, episode))
    return changed


# -- from stored data to the rules' timeline ---------------------------------------------

FIT_VALUES = {
    "yes": "yes",
    "no": "no",
    "not_sure": "not_sure",
    "unsure": "not_sure",
    "true": "yes",
    "false": "no",
    "1": "yes",
    "0": "no",
}


def session_numbers(data: EpisodeData) -> dict[int, int]:
    """check-in id → session number; check-ins without a session get their order number."""
    numbers: dict[int, int] = {}
    ordinal = 0
    for score in data.scores:
        if score.checkin_id in numbers:
            continue
        ordinal += 1
        numbers[score.checkin_id] = score.session_number or ordinal
    return numbers


@dataclass(frozen=True)
class _Reading:
    """What the timeline reads from one instrument's stored answers: its risk items and its
    "is this a good fit?" item (the first whose linkId says fit), looked up once per refresh
    rather than once per stored response."""

    instrument: Instrument
    risk_ids: tuple[str, ...]
    fit_id: str | None


def _reading(ctx: ServiceContext, instrument_id: str) -> _Reading:
    inst = instrument(ctx, instrument_id)
    fit = next((item.link_id for item in inst.items if _is_fit_item(item.link_id)), None)
    return _Reading(inst, tuple(risk.link_id for risk in inst.risk_items), fit)


def _answers(
    ctx: ServiceContext, instrument_id: str, raw: Mapping[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """The stored answers to ``keys`` only, decrypted where encrypted: the rules read no other
    answer, so the rest of a response (a free-text comment) is not decrypted here."""
    return decrypt_answers(ctx, instrument_id, {k: raw[k] for k in keys if k in raw})


def build_timeline(ctx: ServiceContext, data: EpisodeData) -> Timeline:
    numbers = session_numbers(data)
    readings: dict[str, _Reading] = {}
    points: list[ScorePoint] = []
    fits: list[FitAnswer] = []
    for s, (number, at, instrument_id, raw) in zip(data.scores, data.answers, strict=True):
        reading = readings.get(instrument_id)
        if reading is None:
            reading = readings[instrument_id] = _reading(ctx, instrument_id)
        risk: tuple[RiskFlag, ...] = ()
        if reading.risk_ids:
            risk = stored_risk_flags(
                reading.instrument, _answers(ctx, instrument_id, raw, reading.risk_ids)
            )
        points.append(
            ScorePoint(
                session_number=numbers[s.checkin_id],
                date=s.at.date(),
                instrument_id=s.instrument_id,
                total=s.total if s.valid else None,
                subscales=s.subscales,
                score_id=None,
                risk=risk,
            )
        )
        if reading.fit_id is None:
            continue
        value = _answers(ctx, instrument_id, raw, (reading.fit_id,)).get(reading.fit_id)
        mapped = FIT_VALUES.get(str(value).strip().lower()) if value is not None else None
        if mapped is not None:
            fits.append(
                FitAnswer(
                    session_number=number or numbers[s.checkin_id],
                    date=at.date(),
                    answer=cast(FitAnswerValue, mapped),
                )
            )
    attendance = [
        Attendance(
            session_number=t.number,
            date=t.scheduled_at.date(),
            status=cast(AttendanceStatus, t.status),
        )
        for t in data.sessions
        if t.status in ("attended", "missed", "cancelled")
    ]
    return Timeline(str(data.client.id), points, attendance, fits)


def _is_fit_item(link_id: str) -> bool:
    return "fit" in link_id.lower()


def evaluate(session: Session, ctx: ServiceContext, data: EpisodeData) -> list[RaisedAlert]:
    """Run the monitoring rules on the episode's whole timeline (:func:`build_timeline`)."""
    return evaluate_rules(
        session,
        ctx,
        build_timeline(ctx, data),
        data.client.clinic_id,
        [str(i) for i in data.episode.instruments],
        data.clinic_settings,
    )


def evaluate_rules(
    session: Session,
    ctx: ServiceContext,
    timeline: Timeline,
    clinic_id: int,
    instrument_ids: Sequence[str],
    settings: ClinicSettings,
) -> list[RaisedAlert]:
    """Run the monitoring rules on ``timeline`` with the clinic's settings and trajectories."""
    instruments = {i: instrument(ctx, i) for i in instrument_ids}
    trajectories = {
        inst.id: ctx.trajectories.model(session, clinic_id, inst)
        for inst in instruments.values()
        if inst.kind == "outcome" and inst.reliable_change is not None
    }
    return evaluate_alerts(
        timeline, instruments, settings.alert_settings, trajectories, today=ctx.now().date()
    )


def rules_timeline(
    session: Session,
    ctx: ServiceContext,
    episode_id: int,
    client_id: int,
    written: Mapping[int, Mapping[str, Any]] | None = None,
) -> Timeline:
    """The episode's timeline as the rules read it, from narrow column selects.

    It equals :func:`build_timeline` in everything :func:`evaluate_alerts` reads, and is
    cheaper because it reads less (this runs on every check-in and attendance change):

    * the scores without their subscales (no rule reads them; ``subscales`` is empty);
    * stored answers only where a rule reads them: the risk items of each instrument's latest
      point (``risk_reported`` looks at nothing earlier, so earlier points carry no
      ``risk``) and the fit item of the latest response whose fit answer is readable (only
      the last fit answer counts) — not the JSON answers of every response of the episode.

    A test checks that the rules raise the same alerts from both timelines. ``written``
    (response id → stored answers) holds responses this transaction has just written, which
    need not be read back.
    """
    connection = session.connection()
    # Plain tuples, unpacked once: attribute access on result rows, repeated for every score
    # of the episode, was a good part of a check-in's cost.
    rows = [tuple(row) for row in connection.execute(_SCORE_ROWS, {"episode_id": episode_id})]
    numbers: dict[int, int] = {}
    for row in rows:  # as session_numbers(): check-ins without a session get their order
        if row[6] not in numbers:
            numbers[row[6]] = row[1] or len(numbers) + 1
    readings: dict[str, _Reading] = {}
    keys: list[tuple[int, date]] = []
    latest: dict[str, int] = {}  # instrument → index of its latest point in timeline order
    fit_rows: list[int] = []
    for index, (instrument_id, _number, scored_at, _t, _v, _r, checkin_id) in enumerate(rows):
        key = (numbers[checkin_id], scored_at.date())
        keys.append(key)
        reading = readings.get(instrument_id)
        if reading is None:
            reading = readings[instrument_id] = _reading(ctx, instrument_id)
        # The timeline sorts stably by (session, date): a later row with an equal key is later.
        last = latest.get(instrument_id)
        if last is None or keys[last] <= key:
            latest[instrument_id] = index
        if reading.fit_id is not None:
            fit_rows.append(index)
    risky = [i for instrument_id, i in latest.items() if readings[instrument_id].risk_ids]

    def fit_key(i: int) -> tuple[int, date]:  # as build_timeline numbers a fit answer
        return (rows[i][1] or numbers[rows[i][6]], keys[i][1])

    fit_rows.sort(key=fit_key)  # stable: the timeline's order of fit answers
    answers = _stored_answers(session, [rows[i][5] for i in risky + fit_rows[-1:]], written)
    risk: dict[int, tuple[RiskFlag, ...]] = {}
    for index in risky:
        instrument_id, response_id = rows[index][0], rows[index][5]
        reading = readings[instrument_id]
        raw = answers.get(response_id, {})
        risk[index] = tuple(
            stored_risk_flags(
                reading.instrument, _answers(ctx, instrument_id, raw, reading.risk_ids)
            )
        )
    fits: list[FitAnswer] = []
    for position, index in enumerate(reversed(fit_rows)):
        if position == 1:  # the latest was unreadable: read the earlier ones too
            answers.update(_stored_answers(session, [rows[i][5] for i in fit_rows], written))
        instrument_id, response_id = rows[index][0], rows[index][5]
        fit_id = readings[instrument_id].fit_id
        assert fit_id is not None
        raw = answers.get(response_id, {})
        value = _answers(ctx, instrument_id, raw, (fit_id,)).get(fit_id)
        mapped = FIT_VALUES.get(str(value).strip().lower()) if value is not None else None
        if mapped is not None:
            number, at = fit_key(index)
            fits.append(FitAnswer(number, at, cast(FitAnswerValue, mapped)))
            break
    points = [
        ScorePoint(number, on, row[0], row[3] if row[4] else None, risk=risk.get(index, ()))
        for index, (row, (number, on)) in enumerate(zip(rows, keys, strict=True))
    ]
    attendance = [
        Attendance(number, scheduled_at.date(), cast(AttendanceStatus, status))
        for number, scheduled_at, status in connection.execute(
            _ATTENDANCE, {"episode_id": episode_id}
        )
    ]
    return Timeline(str(client_id), points, attendance, fits)


def _stored_answers(
    session: Session,
    response_ids: Sequence[int],
    written: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[int, dict[str, Any]]:
    known = written or {}
    found = {i: dict(known[i]) for i in response_ids if i in known}
    missing = sorted(set(response_ids) - found.keys())
    if missing:
        found.update(
            (row.id, dict(row.answers))
            for row in session.connection().execute(_ANSWERS, {"ids": missing})
        )
    return found
