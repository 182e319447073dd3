"""FHIR Bundles of stored responses: each response built with
:func:`alliance.measures.fhir.response_to_fhir`, then gathered with the clients' Patients, the
instruments' Questionnaires and the StructureDefinitions of our extensions into one
self-contained ``collection`` Bundle (:func:`alliance.measures.fhir.collection_bundle`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.measures.fhir import (
    RelativeTime,
    collection_bundle,
    patient_reference,
    patient_to_fhir,
    response_to_fhir,
)
from alliance.measures.instrument import Instrument
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
    """Every response of ``clients`` as QuestionnaireResponse + score Observations, with a
    Patient per client and the Questionnaire of every instrument answered.

    With ``pseudo`` (de-identified) each Patient is its pseudonym and nothing else (labelled
    ``PSEUDED``), free-text answers are left out and no resource holds a date: each response
    carries its pseudonymous episode, the days since the episode began
    (``days_since(at, started)``) and its session number. Without, the Patient has the
    client's id and display name and each response the time it was given."""
    patient_ids = {c.id: str(c.id) if pseudo is None else pseudo("client", c.id) for c in clients}
    patients = [
        patient_to_fhir(
            patient_ids[c.id],
            pseudonymous=pseudo is not None,
            name=c.display_name if pseudo is None else None,
        )
        for c in clients
    ]
    # (order, bundle) per response: a de-identified Bundle is ordered by pseudonym, so its
    # order does not tell which client came first either.
    parts: list[tuple[tuple[str, str, float], dict[str, Any]]] = []
    used: dict[str, Instrument] = {}
    if clients:
        rows = session.execute(
            select(Response, Episode, Score.session_number)
            .join(CheckIn, CheckIn.id == Response.checkin_id)
            .join(Episode, Episode.id == CheckIn.episode_id)
            .outerjoin(Score, Score.response_id == Response.id)
            .where(Episode.client_id.in_(list(patient_ids)))
            .order_by(Episode.client_id, Response.created_at, Response.id)
        ).all()
        for response, episode, session_number in rows:
            inst = used.setdefault(response.instrument_id, instrument(ctx, response.instrument_id))
            answers = decrypt_answers(ctx, inst.id, response.answers)
            authored: datetime | RelativeTime = response.created_at
            subject = patient_reference(patient_ids[episode.client_id])
            order = ("", "", float(len(parts)))
            if pseudo is not None:
                text_items = {item.link_id for item in inst.items if item.type == "text"}
                answers = {k: v for k, v in answers.items() if k not in text_items}
                authored = RelativeTime(
                    response_key=pseudo("response", response.id),
                    episode=pseudo("episode", episode.id),
                    days_since_start=days_since(response.created_at, episode.started_at),
                    session_number=session_number,
                )
                order = (patient_ids[episode.client_id], authored.episode, float(len(parts)))
            part = response_to_fhir(inst, answers, score(inst, answers), subject, authored)
            parts.append((order, part))
    if pseudo is not None:
        patients.sort(key=lambda p: str(p["id"]))
    return collection_bundle(
        patients, list(used.values()), [part for _, part in sorted(parts, key=lambda p: p[0])]
    )
