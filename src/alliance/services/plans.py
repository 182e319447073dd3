"""An episode's measurement plan: read it, and give the episode cadences of its own.

The clinic's plan lives in its settings (:mod:`alliance.services.clinic_settings`); an episode
may overlay its own (e.g. a client for whom the WAI-SR every 4th session is too much, or one
whose therapist wants GAD-7 every session). Both uses act on the client's current episode.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from alliance.measures.plan import GOALS, MeasurementPlan
from alliance.services.authz import Actor, require_staff
from alliance.services.context import ServiceContext
from alliance.services.episodes import clinic_plan, own_plan, require_current_episode
from alliance.services.errors import InvalidInput
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import EpisodePlanView
from alliance.store.models import Episode


def _view(session: Session, client_id: int, episode: Episode) -> EpisodePlanView:
    own = own_plan(episode)
    return EpisodePlanView(
        client_id=client_id,
        episode_id=episode.id,
        instruments=tuple(str(i) for i in episode.instruments),
        plan=clinic_plan(session, episode).overlay(own),
        own=own,
    )


@denials_audited
def get_episode_plan(ctx: ServiceContext, *, actor: Actor, client_id: int) -> EpisodePlanView:
    """The plan the client's current episode follows (audited read)."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        episode = require_current_episode(session, actor, client_id)
        view = _view(session, client_id, episode)
        record(session, ctx, actor, "read", "episode", episode.id, {"what": "plan"})
        return view


def _parse(plan: MeasurementPlan | dict[str, Any]) -> MeasurementPlan:
    if isinstance(plan, MeasurementPlan):
        return plan
    try:
        return MeasurementPlan.model_validate(plan)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "plan"
        raise InvalidInput(f"plan.{where}", first["msg"]) from exc


@denials_audited
def set_episode_plan(
    ctx: ServiceContext,
    *,
    actor: Actor,
    client_id: int,
    plan: MeasurementPlan | dict[str, Any] | None,
) -> EpisodePlanView:
    """Give the client's current episode its own cadences (``None``: follow the clinic's plan
    again). Only the episode's instruments and goals may be planned."""
    require_staff(actor)
    own = None if plan is None else _parse(plan)
    with unit_of_work(ctx) as session:
        episode = require_current_episode(session, actor, client_id)
        if own is not None:
            allowed = {*(str(i) for i in episode.instruments), GOALS}
            stray = sorted(set(own.cadences) - allowed)
            if stray:
                raise InvalidInput("plan", f"not used in this episode: {', '.join(stray)}")
        if own is not None:
            # Keep only what differs from the clinic's plan, so the episode goes on following
            # the clinic for the rest (a form posts every row, changed or not).
            clinic = clinic_plan(session, episode)
            own = MeasurementPlan(
                cadences={k: c for k, c in own.cadences.items() if c != clinic.cadence(k)}
            )
        episode.plan = own.model_dump(mode="json") if own is not None and own.cadences else None
        session.flush()
        record(
            session,
            ctx,
            actor,
            "write",
            "episode",
            episode.id,
            {"op": "plan", "own": sorted(own.cadences) if own is not None else []},
        )
        return _view(session, client_id, episode)
