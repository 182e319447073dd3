"""Monitoring an episode: run the rules on its stored data and keep its alerts up to date.

:func:`refresh_alerts` loads the episode (:mod:`alliance.services.episodes`), translates it to
the pure rules' :class:`~alliance.monitoring.timeline.Timeline`, runs
:func:`alliance.monitoring.alerts.evaluate_alerts` with the clinic's expected trajectories (from
the context's :class:`~alliance.services.trajectories.TrajectoryCache`) and stores what the
rules raise: one alert per kind stays open per episode — a new firing of a kind that is already
open (for the same instrument) updates that alert instead of adding a second, and an alert for a
session that has already been raised (even if since resolved) is not raised again.
:func:`refresh_open_episodes` is the daily sweep over every open episode.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.measures.instrument import Instrument
from alliance.measures.scoring import RiskFlag, stored_risk_flags
from alliance.monitoring.alerts import Alert as RaisedAlert
from alliance.monitoring.alerts import evaluate_alerts
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
from alliance.services.context import ServiceContext
from alliance.services.episodes import EpisodeData, decrypt_answers, instrument, load_episode
from alliance.services.unit import record, unit_of_work
from alliance.services.views import AlertView
from alliance.store.models import Alert, Client, Episode

# -- alerts ---------------------------------------------------------------------------------


def refresh_alerts(
    session: Session, ctx: ServiceContext, actor: Actor, episode: Episode
) -> list[AlertView]:
    """Evaluate the monitoring rules on the episode and upsert what they raise.

    Returns the alerts raised or updated now. Runs inside the caller's transaction.
    """
    data = load_episode(session, episode)
    raised = evaluate(session, ctx, data)
    now = ctx.now()
    existing = list(session.scalars(select(Alert).where(Alert.episode_id == episode.id)))
    changed: list[tuple[Alert, str, str]] = []
    for found in raised:
        kind = str(found.kind)
        number = found.session_number
        source = found.instrument_id
        # One alert per kind and instrument (a rupture on WAI-SR and one on session feedback
        # are two findings); per session, it is raised once.
        same_kind = [
            a for a in existing if a.kind == kind and a.evidence.get("instrument_id") == source
        ]
        same_session = [a for a in same_kind if a.session_number == number]
        open_same_kind = [a for a in same_kind if a.status == "open"]
        if same_session and not any(a.status == "open" for a in same_session):
            continue  # already raised for this session and handled since: do not nag
        candidates = same_session or open_same_kind
        target: Alert | None = candidates[0] if candidates else None
        evidence = _jsonable({"instrument_id": found.instrument_id, "items": found.evidence})
        if target is None:
            target = Alert(
                clinic_id=data.client.clinic_id,
                client_id=data.client.id,
                episode_id=episode.id,
                kind=kind,
                severity=str(found.severity),
                session_number=number,
                reason=found.reason,
                next_step=found.next_step,
                evidence=evidence,
                status="open",
                created_at=now,
                updated_at=now,
            )
            session.add(target)
            existing.append(target)
            op = "raise"
        else:
            if (target.severity, target.session_number, target.reason, target.evidence) == (
                str(found.severity),
                number,
                found.reason,
                evidence,
            ):
                continue
            target.severity = str(found.severity)
            target.session_number = number
            target.reason = found.reason
            target.next_step = found.next_step
            target.evidence = evidence
            target.updated_at = now
            op = "update"
        changed.append((target, op, kind))
    if changed:
        session.flush()  # once for all of them: new alerts get their ids for the audit trail
    for target, op, kind in changed:
        record(
            session,
            ctx,
            actor,
            "write",
            "alert",
            target.id,
            {"op": op, "kind": kind, "client_id": data.client.id},
            clinic_id=data.client.clinic_id,
        )
    return [alert_view(a, ctx.cipher) for a, _op, _kind in changed]


def _jsonable(value: Any) -> dict[str, Any]:
    """Evidence as JSON-ready data (dataclasses, tuples and numpy scalars flattened)."""

    def convert(obj: Any) -> Any:
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
    """Run the monitoring rules on the episode's timeline."""
    timeline = build_timeline(ctx, data)
    instruments = {str(i): instrument(ctx, str(i)) for i in data.episode.instruments}
    trajectories = {
        inst.id: ctx.trajectories.model(session, data.client.clinic_id, inst)
        for inst in instruments.values()
        if inst.kind == "outcome" and inst.reliable_change is not None
    }
    return evaluate_alerts(
        timeline,
        instruments,
        data.clinic_settings.alert_settings,
        trajectories,
        today=ctx.now().date(),
    )
