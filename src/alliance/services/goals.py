"""Client goals: agree up to three goals with the client (text encrypted), list them.

Agreeing a new set replaces the episode's active goals (old goals stay, inactive, with their
ratings, so the history is not lost). Clients rate progress on each active goal 0–10 in their
check-ins (:func:`alliance.services.checkins.record_check_in`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from alliance.services.authz import Actor, require_episode, require_staff
from alliance.services.checkins import GOAL_FIELD, goal_view
from alliance.services.context import ServiceContext
from alliance.services.episodes import resolve_episode
from alliance.services.errors import Conflict, InvalidInput
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import GoalView
from alliance.store.models import Goal

MAX_GOALS = 3
MAX_GOAL_TEXT = 500


@denials_audited
def agree_goals(
    ctx: ServiceContext,
    *,
    actor: Actor,
    goals: Sequence[str],
    episode_id: int | None = None,
    client_id: int | None = None,
) -> list[GoalView]:
    """Record the goals agreed with the client (1–3, in the client's words).

    Name the episode by ``client_id`` (the client's current episode) or by ``episode_id``.
    """
    require_staff(actor)
    texts = [text.strip() for text in goals if text and text.strip()]
    if not texts:
        raise InvalidInput("goals", "agree at least one goal")
    if len(texts) > MAX_GOALS:
        raise InvalidInput("goals", f"at most {MAX_GOALS} goals")
    for index, text in enumerate(texts, start=1):
        if len(text) > MAX_GOAL_TEXT:
            raise InvalidInput(f"goal_{index}", f"at most {MAX_GOAL_TEXT} characters")
    with unit_of_work(ctx) as session:
        episode = resolve_episode(session, actor, client_id=client_id, episode_id=episode_id)
        if episode.ended_at is not None:
            raise Conflict(f"episode {episode.id} has ended")
        for old in session.scalars(
            select(Goal).where(Goal.episode_id == episode.id, Goal.active.is_(True))
        ):
            old.active = False
        now = ctx.now()
        rows = [
            Goal(
                episode_id=episode.id,
                position=index,
                text_enc=ctx.cipher.encrypt(text, field=GOAL_FIELD),
                agreed_at=now,
                active=True,
            )
            for index, text in enumerate(texts, start=1)
        ]
        session.add_all(rows)
        session.flush()
        record(
            session,
            ctx,
            actor,
            "write",
            "episode",
            episode.id,
            {"op": "agree goals", "goal_ids": [g.id for g in rows]},
        )
        return [goal_view(goal, ctx) for goal in rows]


@denials_audited
def list_goals(
    ctx: ServiceContext, *, actor: Actor, episode_id: int, include_inactive: bool = False
) -> list[GoalView]:
    with unit_of_work(ctx) as session:
        episode = require_episode(session, actor, episode_id)
        query = select(Goal).where(Goal.episode_id == episode.id)
        if not include_inactive:
            query = query.where(Goal.active.is_(True))
        rows = session.scalars(query.order_by(Goal.agreed_at, Goal.position))
        views = [goal_view(goal, ctx) for goal in rows]
        record(session, ctx, actor, "read", "episode", episode.id, {"what": "goals"})
        return views
