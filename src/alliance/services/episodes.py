"""An episode of care as the services read it: instruments, scoring, the stored scores and
answers in session order, and finding the episode a write is about.

This is the bridge between stored rows and the pure measures code that the check-in, timeline,
monitoring, export and FHIR services all use; it holds no state of its own (the instrument
registry lives on the :class:`~alliance.services.context.ServiceContext`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.measures.instrument import Instrument
from alliance.measures.plan import MeasurementPlan
from alliance.measures.registry import InstrumentError
from alliance.measures.scoring import Score as MeasuredScore
from alliance.measures.scoring import ScoringError, score_response
from alliance.services.authz import (
    Actor,
    can_see_episode,
    not_found,
    require_client,
    require_episode,
)
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.errors import Conflict, InvalidInput
from alliance.store.crypto import is_encrypted
from alliance.store.encrypted import json_field_of
from alliance.store.models import (
    CheckIn,
    Client,
    Clinic,
    Episode,
    Response,
    Score,
    TherapySession,
)


def instrument(ctx: ServiceContext, instrument_id: str) -> Instrument:
    """An instrument by id (bundled or from ``settings.instruments_dir``), through the
    context's cached registry; an unknown id is :class:`InvalidInput`."""
    try:
        return ctx.instruments.get(instrument_id)
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


def answer_field(instrument_id: str, link_id: str) -> str:
    """Associated data for an encrypted free-text answer (binds it to its item); the template
    is registered with the column in :mod:`alliance.store.encrypted`."""
    return json_field_of(Response.answers, link_id, instrument_id=instrument_id)


def decrypt_answers(
    ctx: ServiceContext, instrument_id: str, raw: Mapping[str, Any]
) -> dict[str, Any]:
    """A stored response's answers with its encrypted free-text answers decrypted."""
    return {
        key: (
            ctx.cipher.decrypt(value, field=answer_field(instrument_id, key))
            if is_encrypted(value)
            else value
        )
        for key, value in raw.items()
    }


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


class StoredAnswers(NamedTuple):
    """The raw stored answers behind one :class:`StoredScore` (free text still encrypted)."""

    session_number: int | None
    at: datetime
    instrument_id: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class EpisodeData:
    """Everything the rules and the timeline read about one episode, in session order;
    ``answers[i]`` is the response behind ``scores[i]``."""

    episode: Episode
    client: Client
    clinic_settings: ClinicSettings
    sessions: tuple[TherapySession, ...]
    scores: tuple[StoredScore, ...]
    answers: tuple[StoredAnswers, ...]

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
        StoredAnswers(row.session_number, row.scored_at, row.instrument_id, dict(row.answers))
        for row in rows
    )
    return EpisodeData(
        episode=episode,
        client=client,
        clinic_settings=ClinicSettings.from_json(clinic.settings if clinic else None),
        sessions=sessions,
        scores=scores,
        answers=answers,
    )


def require_current_episode(session: Session, actor: Actor, client_id: int) -> Episode:
    """The client's current (not ended) episode, if the actor may act on it.

    :class:`NotFound` when the actor may not see the client or the current episode is someone
    else's (after a hand-over the previous therapist still sees the history, not the new
    episode); :class:`Conflict` when the client has no current episode.
    """
    client = require_client(session, actor, client_id)
    episode = session.scalar(
        select(Episode)
        .where(Episode.client_id == client.id, Episode.ended_at.is_(None))
        .order_by(Episode.started_at.desc(), Episode.id.desc())
        .limit(1)
    )
    if episode is None:
        raise Conflict("this client has no current episode of care")
    if not can_see_episode(session, actor, episode, client):
        raise not_found(actor, "episode", episode.id, why="current episode not on caseload")
    return episode


def resolve_episode(
    session: Session, actor: Actor, *, client_id: int | None, episode_id: int | None
) -> Episode:
    """The episode a write names: by client (its current episode, what the pages and the API
    send) or by episode id (batch tools and the notebook API). Exactly one must be given."""
    if (client_id is None) == (episode_id is None):
        raise InvalidInput("episode", "name the client or the episode, not both or neither")
    if client_id is not None:
        return require_current_episode(session, actor, client_id)
    assert episode_id is not None
    return require_episode(session, actor, episode_id)


def own_plan(episode: Episode) -> MeasurementPlan | None:
    """The episode's own cadences, if it has any."""
    return MeasurementPlan.model_validate(episode.plan) if episode.plan else None


def clinic_plan(session: Session, episode: Episode) -> MeasurementPlan:
    """The measurement plan of the episode's clinic (its settings' cadences over the defaults)."""
    client = session.get(Client, episode.client_id)
    clinic = session.get(Clinic, client.clinic_id) if client else None
    return ClinicSettings.from_json(clinic.settings if clinic else None).plan()


def episode_plan(session: Session, episode: Episode) -> MeasurementPlan:
    """The plan the episode's check-ins follow: the clinic's, with the episode's own over it."""
    return clinic_plan(session, episode).overlay(own_plan(episode))


def has_completed_checkin(session: Session, episode_id: int) -> bool:
    """Whether the episode has had a check-in (so the next one is not its intake)."""
    found = session.scalar(
        select(CheckIn.id)
        .where(CheckIn.episode_id == episode_id, CheckIn.completed_at.is_not(None))
        .limit(1)
    )
    return found is not None
