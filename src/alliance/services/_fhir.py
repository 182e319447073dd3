"""FHIR Bundles of stored responses, built response by response with
:func:`alliance.measures.fhir.response_to_fhir` and gathered into one ``collection`` Bundle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.measures.fhir import response_to_fhir
from alliance.services.context import ServiceContext
from alliance.services.episodes import decrypt_answers, instrument, score
from alliance.store.models import CheckIn, Client, Episode, Response


def bundle(
    session: Session,
    ctx: ServiceContext,
    clients: list[Client],
    *,
    pseudo: Callable[[int], str],
    deidentified: bool,
) -> dict[str, Any]:
    """Every response of ``clients`` as QuestionnaireResponse + score Observations.

    The subject is ``Patient/<id>`` (a keyed pseudonym when de-identified, whose free-text
    answers are left out)."""
    entries: list[dict[str, Any]] = []
    ids = [c.id for c in clients]
    if ids:
        rows = session.execute(
            select(Response, Episode.client_id)
            .join(CheckIn, CheckIn.id == Response.checkin_id)
            .join(Episode, Episode.id == CheckIn.episode_id)
            .where(Episode.client_id.in_(ids))
            .order_by(Episode.client_id, Response.created_at, Response.id)
        ).all()
        for response, client_id in rows:
            inst = instrument(ctx, response.instrument_id)
            answers = decrypt_answers(ctx, inst.id, response.answers)
            if deidentified:
                text_items = {item.link_id for item in inst.items if item.type == "text"}
                answers = {k: v for k, v in answers.items() if k not in text_items}
            result = score(inst, answers)
            part = response_to_fhir(
                inst, answers, result, f"Patient/{pseudo(client_id)}", response.created_at
            )
            entries.extend(part.get("entry", []))
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
