"""FHIR Bundles of stored responses, built response by response with
:func:`alliance.measures.fhir.response_to_fhir` and gathered into one ``collection`` Bundle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.measures.fhir import RelativeTime, response_to_fhir
from alliance.services.context import ServiceContext
from alliance.services.episodes import decrypt_answers, instrument, score
from alliance.store.models import CheckIn, Client, Episode, Response, Score

#: ``pseudo(kind, id)`` → the pseudonym of a client, episode or response in one export.
Pseudonymise = Callable[[str, int], str]


def bundle(
    session: Session,
    ctx: ServiceContext,
    clients: list[Client],
    *,
    pseudo: Pseudonymise | None,
    days_since: Callable[[datetime, datetime], float],
) -> dict[str, Any]:
    """Every response of ``clients`` as QuestionnaireResponse + score Observations.

    With ``pseudo`` (de-identified) the subject is ``Patient/<pseudonym>``, free-text answers
    are left out and no resource holds a date: each carries its pseudonymous episode, the
    days since the episode began (``days_since(at, started)``) and its session number.
    Without, the subject is ``Patient/<id>`` and each resource has the time it was given."""
    # (order, entries) per response: a de-identified Bundle is ordered by pseudonym, so its
    # order does not tell which client came first either.
    parts: list[tuple[tuple[str, str, float], list[dict[str, Any]]]] = []
    ids = [c.id for c in clients]
    if ids:
        rows = session.execute(
            select(Response, Episode, Score.session_number)
            .join(CheckIn, CheckIn.id == Response.checkin_id)
            .join(Episode, Episode.id == CheckIn.episode_id)
            .outerjoin(Score, Score.response_id == Response.id)
            .where(Episode.client_id.in_(ids))
            .order_by(Episode.client_id, Response.created_at, Response.id)
        ).all()
        for response, episode, session_number in rows:
            inst = instrument(ctx, response.instrument_id)
            answers = decrypt_answers(ctx, inst.id, response.answers)
            authored: datetime | RelativeTime = response.created_at
            subject = f"Patient/{episode.client_id}"
            order = ("", "", float(len(parts)))
            if pseudo is not None:
                text_items = {item.link_id for item in inst.items if item.type == "text"}
                answers = {k: v for k, v in answers.items() if k not in text_items}
                subject = f"Patient/{pseudo('client', episode.client_id)}"
                authored = RelativeTime(
                    response_key=pseudo("response", response.id),
                    episode=pseudo("episode", episode.id),
                    days_since_start=days_since(response.created_at, episode.started_at),
                    session_number=session_number,
                )
                order = (subject, authored.episode, float(len(parts)))
            part = response_to_fhir(inst, answers, score(inst, answers), subject, authored)
            parts.append((order, part.get("entry", [])))
    entries = [
        entry for _, part_entries in sorted(parts, key=lambda p: p[0]) for entry in part_entries
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
