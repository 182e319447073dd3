"""The bridge between stored data and the pure measures/monitoring code.

Loads an episode's scores, attendance and fit answers from the database, hands them to
:func:`alliance.monitoring.alerts.evaluate_alerts` (the rules live there, not here), and stores
what the rules raise: one alert per kind stays open per episode — a new firing of a kind that is
already open (for the same instrument) updates that alert instead of adding a second, and an
alert for a session that has already been raised (even if since resolved) is not raised again.

Expected trajectories are fitted per clinic and outcome instrument from the clinic's own data
(:func:`alliance.measures.trajectory.fit_trajectories`) and cached in the process for a while,
since a mixed-model fit costs far more than a check-in: a stale model is refitted by one
background thread after the request, never inside a check-in's transaction (see
:func:`clinic_trajectory` for the staleness bound).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.measures.instrument import Instrument
from alliance.measures.registry import InstrumentError, load_instrument
from alliance.measures.scoring import Score as MeasuredScore
from alliance.measures.scoring import ScoringError, score_response
from alliance.measures.trajectory import TrajectoryModel, fit_trajectories
from alliance.services.authz import Actor
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.errors import InvalidInput
from alliance.services.unit import record
from alliance.services.views import AlertView
from alliance.store.crypto import is_encrypted
from alliance.store.models import (
    Alert,
    CheckIn,
    Client,
    Clinic,
    Episode,
    Response,
    Score,
    TherapySession,
)

TRAJECTORY_TTL_S = 600.0
TRAJECTORY_RECOUNT = 20


@lru_cache(maxsize=256)
def _load(instrument_id: str, extra_dir: Path | None) -> Instrument:
    return load_instrument(instrument_id, extra_dir)


def instrument(ctx: ServiceContext, instrument_id: str) -> Instrument:
    """An instrument by id (bundled or from ``settings.instruments_dir``)."""
    try:
        return _load(instrument_id, ctx.settings.instruments_dir)
    except InstrumentError as exc:
        raise InvalidInput("instrument", str(exc)) from exc


def score(inst: Instrument, answers: Mapping[str, Any]) -> MeasuredScore:
    """Score one response, turning the engine's error into :class:`InvalidInput` that names the
    instrument and item."""
    try:
        return score_response(inst, answers)
    except ScoringError as exc:
        where = f"{inst.id}.{exc.item}" if exc.item else inst.id
        raise InvalidInput(where, exc.message) from exc


@dataclass(frozen=True)
class StoredScore:
    instrument_id: str
    session_number: int | None
    at: datetime
    total: float | None
    subscales: dict[str, float | None]
    band: str | None
    valid: bool
    checkin_id: int


@dataclass(frozen=True)
class EpisodeData:
    """Everything the rules and the timeline read about one episode, in session order."""

    episode: Episode
    client: Client
    clinic_settings: ClinicSettings
    sessions: tuple[TherapySession, ...]
    scores: tuple[StoredScore, ...]
    answers: tuple[
        tuple[int | None, datetime, str, dict[str, Any]], ...
    ]  # (session, at, inst, raw)

    def scores_for(self, instrument_id: str) -> list[StoredScore]:
        return [s for s in self.scores if s.instrument_id == instrument_id]


def load_episode(session: Session, episode: Episode) -> EpisodeData:
    client = session.get(Client, episode.client_id)
    assert client is not None
    clinic = session.get(Clinic, client.clinic_id)
    sessions = tuple(
        session.scalars(
            select(TherapySession)
            .where(TherapySession.episode_id == episode.id)
            .order_by(TherapySession.number)
        )
    )
    # Plain column rows, not ORM objects: this runs on every check-in.
    rows = session.execute(
        select(
            Score.instrument_id,
            Score.session_number,
            Score.scored_at,
            Score.total,
            Score.subscales,
            Score.band,
            Score.valid,
            Response.checkin_id,
            Response.answers,
        )
        .join(Response, Response.id == Score.response_id)
        .where(Score.episode_id == episode.id)
        .order_by(Score.scored_at, Score.id)
    ).all()
    scores = tuple(
        StoredScore(
            instrument_id=row.instrument_id,
            session_number=row.session_number,
            at=row.scored_at,
            total=row.total,
            subscales=dict(row.subscales),
            band=row.band,
            valid=row.valid,
            checkin_id=row.checkin_id,
        )
        for row in rows
    )
    answers = tuple(
        (row.session_number, row.scored_at, row.instrument_id, dict(row.answers)) for row in rows
    )
    return EpisodeData(
        episode=episode,
        client=client,
        clinic_settings=ClinicSettings.from_json(clinic.settings if clinic else None),
        sessions=sessions,
        scores=scores,
        answers=answers,
    )


# -- trajectories ---------------------------------------------------------------------------


@dataclass
class _CachedTrajectory:
    fitted_at: float
    count: int
    model: TrajectoryModel
    calls: int = 0
    refitting: bool = False


_trajectory_cache: dict[tuple[str, int, str], _CachedTrajectory] = {}
_trajectory_lock = threading.Lock()
# One cold fit per key at a time: concurrent first requests wait for it instead of each fitting.
_cold_fit_locks: dict[tuple[str, int, str], threading.Lock] = {}
# Background refits run one at a time (a mixed-model fit takes a core for 0.3-0.7 s).
_refit_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alliance-trajectory")
_refits_inline: ContextVar[bool] = ContextVar("alliance_refits_inline", default=False)

_log = logging.getLogger(__name__)


@contextmanager
def refits_inline() -> Iterator[None]:
    """Refit stale trajectory models in the calling thread while the block runs.

    For batch jobs that must be reproducible (the demo seed, the daily sweep): the result then
    does not depend on when a background refit happens to finish.
    """
    token = _refits_inline.set(True)
    try:
        yield
    finally:
        _refits_inline.reset(token)


def _trajectory_filters(clinic_id: int, inst: Instrument) -> tuple[Any, ...]:
    return (
        Client.clinic_id == clinic_id,
        Score.instrument_id == inst.id,
        Score.valid.is_(True),
        Score.total.is_not(None),
    )


def _count_scores(session: Session, clinic_id: int, inst: Instrument) -> int:
    scope = (
        select(func.count(Score.id))
        .join(Episode, Episode.id == Score.episode_id)
        .join(Client, Client.id == Episode.client_id)
        .where(*_trajectory_filters(clinic_id, inst))
    )
    return int(session.scalar(scope) or 0)


def _load_trajectory_frame(session: Session, clinic_id: int, inst: Instrument) -> pd.DataFrame:
    rows = session.execute(
        select(Episode.id, Score.session_number, Score.total)
        .join(Episode, Episode.id == Score.episode_id)
        .join(Client, Client.id == Episode.client_id)
        .where(*_trajectory_filters(clinic_id, inst), Score.session_number.is_not(None))
    ).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=["client_id", "session", "score"])


def _stale(cached: _CachedTrajectory, count: int | None) -> bool:
    if time.monotonic() - cached.fitted_at >= TRAJECTORY_TTL_S:
        return True
    return count is not None and count > cached.count * 1.1


def _refit(
    key: tuple[str, int, str], ctx: ServiceContext, clinic_id: int, inst: Instrument
) -> None:
    """Background refit: read the scores in a short transaction of its own, fit outside any
    transaction (no lock held while the model is fitted), then swap the model in."""
    from alliance.store.db import transaction

    try:
        with _trajectory_lock:
            cached = _trajectory_cache.get(key)
        if cached is None:
            return
        with transaction(ctx.session_factory) as session:
            count = _count_scores(session, clinic_id, inst)
            frame = (
                _load_trajectory_frame(session, clinic_id, inst) if _stale(cached, count) else None
            )
        model = fit_trajectories(frame, inst) if frame is not None else cached.model
        with _trajectory_lock:
            # Only when the entry was not cleared or replaced meanwhile (tests reuse URLs).
            if frame is not None and _trajectory_cache.get(key) is cached:
                _trajectory_cache[key] = _CachedTrajectory(time.monotonic(), count, model)
    except Exception:  # a failed refit keeps the old model; the next recount tries again
        _log.exception("refitting the %s trajectory of clinic %s failed", inst.id, clinic_id)
    finally:
        with _trajectory_lock:
            cached_now = _trajectory_cache.get(key)
            if cached_now is not None:
                cached_now.refitting = False


def clinic_trajectory(
    session: Session, ctx: ServiceContext, clinic_id: int, inst: Instrument
) -> TrajectoryModel:
    """The clinic's expected-trajectory model for an outcome instrument.

    Cached per process. The first call for a clinic and instrument fits the model (once:
    concurrent first calls wait for that one fit). After that a request never fits: every
    ``TRAJECTORY_RECOUNT`` calls, or once ``TRAJECTORY_TTL_S`` has passed, it hands a check
    to a single background thread, which counts the clinic's scores after the request and
    refits when the count has grown by a tenth or the model is older than the TTL; requests
    keep using the current model meanwhile. So the model a check-in is judged against lags
    the clinic's data by at most a tenth of its scores plus ``TRAJECTORY_RECOUNT`` calls, or
    ``TRAJECTORY_TTL_S`` seconds plus one fit. Inside :func:`refits_inline` (demo seed, daily
    sweep) a stale model is refitted in the calling thread, as before.
    """
    key = (str(session.get_bind().engine.url), clinic_id, inst.id)
    with _trajectory_lock:
        cached = _trajectory_cache.get(key)
        check = False
        if cached is not None:
            cached.calls += 1
            expired = time.monotonic() - cached.fitted_at >= TRAJECTORY_TTL_S
            if cached.calls >= TRAJECTORY_RECOUNT or expired:
                cached.calls = 0
                check = True
            if not _refits_inline.get():
                if check and not cached.refitting:
                    cached.refitting = True
                    _refit_executor.submit(_refit, key, ctx, clinic_id, inst)
                return cached.model
            if not check:
                return cached.model
        cold_lock = _cold_fit_locks.setdefault(key, threading.Lock())
    if cached is not None:  # inline refit
        count = _count_scores(session, clinic_id, inst)
        if not _stale(cached, count):
            return cached.model
    else:
        with cold_lock:
            with _trajectory_lock:
                done = _trajectory_cache.get(key)
            if done is not None:  # another request fitted it while this one waited
                return done.model
            return _fit_now(session, key, clinic_id, inst)
    return _fit_now(session, key, clinic_id, inst)


def _fit_now(
    session: Session, key: tuple[str, int, str], clinic_id: int, inst: Instrument
) -> TrajectoryModel:
    count = _count_scores(session, clinic_id, inst)
    model = fit_trajectories(_load_trajectory_frame(session, clinic_id, inst), inst)
    with _trajectory_lock:
        _trajectory_cache[key] = _CachedTrajectory(time.monotonic(), count, model)
    return model


def outcome_instruments(ctx: ServiceContext, ids: Sequence[str]) -> list[Instrument]:
    return [i for i in (instrument(ctx, str(x)) for x in ids) if i.kind == "outcome"]


# -- alerts ---------------------------------------------------------------------------------


def refresh_alerts(
    session: Session, ctx: ServiceContext, actor: Actor, episode: Episode
) -> list[AlertView]:
    """Evaluate the monitoring rules on the episode and upsert what they raise.

    Returns the alerts raised or updated now. Runs inside the caller's transaction.
    """
    from alliance.services.alerts import alert_view

    data = load_episode(session, episode)
    raised = evaluate(session, ctx, data)
    now = ctx.now()
    existing = list(session.scalars(select(Alert).where(Alert.episode_id == episode.id)))
    changed: list[Alert] = []
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
        session.flush()
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
        changed.append(target)
    return [alert_view(a, ctx.cipher) for a in changed]


def evaluate(session: Session, ctx: ServiceContext, data: EpisodeData) -> list[Any]:
    """Run :func:`alliance.monitoring.alerts.evaluate_alerts` on the episode's timeline."""
    from alliance.services import _rules

    return _rules.evaluate(session, ctx, data)


def _jsonable(value: Any) -> dict[str, Any]:
    """Evidence as JSON-ready data (dataclasses, tuples and numpy scalars flattened)."""
    import dataclasses
    import json

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


def decrypt_answers(
    ctx: ServiceContext, instrument_id: str, raw: Mapping[str, Any]
) -> dict[str, Any]:
    from alliance.services.checkins import answer_field

    return {
        key: (
            ctx.cipher.decrypt(value, field=answer_field(instrument_id, key))
            if is_encrypted(value)
            else value
        )
        for key, value in raw.items()
    }


def checkin_ids(session: Session, episode_id: int) -> list[int]:
    return list(session.scalars(select(CheckIn.id).where(CheckIn.episode_id == episode_id)))


def refresh_open_episodes(ctx: ServiceContext, *, clinic_id: int | None = None) -> int:
    """Re-evaluate the rules on every open episode (one transaction each) and return how many
    alerts were raised or updated.

    Check-ins and attendance re-evaluate their own episode; this daily sweep (``alliance
    clinic refresh-alerts``, e.g. from cron) catches what only the passing of time reveals —
    a client who has simply stopped coming.
    """
    from alliance.services.authz import system_actor
    from alliance.services.unit import unit_of_work

    with unit_of_work(ctx) as session:
        query = select(Episode.id).where(Episode.ended_at.is_(None))
        if clinic_id is not None:
            query = query.join(Client, Client.id == Episode.client_id).where(
                Client.clinic_id == clinic_id
            )
        episode_ids = list(session.scalars(query.order_by(Episode.id)))
    changed = 0
    with refits_inline():  # a batch job: refit stale trajectories here, not in the background
        for episode_id in episode_ids:
            with unit_of_work(ctx) as session:
                episode = session.get(Episode, episode_id)
                if episode is None or episode.ended_at is not None:
                    continue
                client = session.get(Client, episode.client_id)
                actor = system_actor(client.clinic_id if client else None)
                changed += len(refresh_alerts(session, ctx, actor, episode))
    return changed
