"""Helpers for the tests about encrypted values at rest (importable from every test folder).

:func:`stored_encrypted_values` reads every column of every table straight from the database
(not through the services) and finds each field-encrypted value, however deep in JSON it sits,
together with the registered field name of its place, if the registry has one.
:func:`seed_every_kind_of_encrypted_value` writes, through the services, at least one value
of every kind the app encrypts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from alliance.services import alerts, auth, checkins, matching, sessions, transcripts
from alliance.services.authz import Actor
from alliance.services.context import ServiceContext
from alliance.store.crypto import is_encrypted
from alliance.store.encrypted import EncryptedJson, EncryptedText
from alliance.store.models import Alert, Base, encrypted_columns


@dataclass(frozen=True)
class Found:
    """One encrypted value: where (``table.column`` and any JSON path after it), the value,
    and the field name registered for that place (None when the place is not registered)."""

    place: str
    value: str
    field: str | None


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if is_encrypted(value):
            yield path, value
        elif value[:1] in "{[":  # JSON kept in a text column
            try:
                decoded = json.loads(value)
            except ValueError:
                return
            yield from _walk(decoded, path + "<json>")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def stored_encrypted_values(engine: Engine) -> list[Found]:
    places = {location.name: location.spec for location in encrypted_columns()}
    found: list[Found] = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column in table.columns:
                    name = f"{table.name}.{column.name}"
                    spec = places.get(name)
                    for place, value in _walk(row[column], name):
                        field: str | None = None
                        if isinstance(spec, EncryptedText) and place == name:
                            field = spec.field
                        elif isinstance(spec, EncryptedJson):
                            key = place.removeprefix(name + ".")
                            if place != key and "." not in key and "[" not in key:
                                field = spec.field(key, {c.name: row[c] for c in table.columns})
                        found.append(Found(place, value, field))
    return found


TRANSCRIPT = b"Therapist: How has the week been?\nClient: Up and down, honestly.\n"
INTAKE = {"concerns": ["anxiety"], "languages": ["english"], "consent": True}
PROFILE = {
    "modalities": ["cbt"],
    "styles": {"collaborative": 3},
    "languages": ["english"],
    "age_groups": ["adult"],
    "modes": ["video"],
    "availability": ["mon 09:00-17:00"],
    "capacity": {"new_per_week": 1, "caseload_limit": 20},
    "fee": 60,
}


def seed_every_kind_of_encrypted_value(
    ctx: ServiceContext,
    *,
    admin: Actor,
    therapist: Actor,
    colleague: Actor,
    newcomer: Actor,
    client_id: int,
    episode_id: int,
) -> None:
    """Through the services: a client's contact e-mail, goals (by the caller), a check-in with
    a free-text answer, a saved draft of another, acknowledged and resolved alert notes, an
    analysed transcript, a half-enrolled second factor (``newcomer``), intakes placed and held
    with notes, and a hand-over for fit with a note (the therapist's episode ``episode_id``
    ends)."""
    assert admin.clinic_id is not None
    assert colleague.user_id is not None
    link = checkins.create_checkin_link(
        ctx, actor=therapist, episode_id=episode_id, instruments=("session_feedback",)
    )
    checkins.record_check_in(
        ctx,
        link.token,
        {
            "session_feedback": {
                "sf_heard": 8,
                "sf_focus": 8,
                "sf_approach": 8,
                "sf_fit": "yes",
                "sf_comment": "It helped to slow down.",
            }
        },
    )
    # A second link left half answered and saved for later: an encrypted draft.
    pending = checkins.create_checkin_link(
        ctx, actor=therapist, episode_id=episode_id, instruments=("session_feedback",)
    )
    checkins.save_checkin_draft(
        ctx, pending.token, {"session_feedback": {"sf_comment": "Still thinking about it."}}
    )
    now = ctx.now()
    with ctx.session_factory.begin() as session:
        alert = Alert(
            clinic_id=admin.clinic_id,
            client_id=client_id,
            episode_id=episode_id,
            kind="rupture",
            severity="urgent",
            session_number=1,
            reason="Alliance fell.",
            next_step="Talk it through.",
            evidence={},
            status="open",
            created_at=now,
            updated_at=now,
        )
        session.add(alert)
        session.flush()
        alert_id = alert.id
    alerts.acknowledge_alert(ctx, actor=therapist, alert_id=alert_id, note="Raised it.")
    alerts.resolve_alert(ctx, actor=therapist, alert_id=alert_id, note="Repaired.")
    therapy = sessions.schedule_session(
        ctx, actor=therapist, episode_id=episode_id, scheduled_at=now - timedelta(days=1)
    )
    transcripts.attach_transcript(
        ctx, actor=therapist, session_id=therapy.id, filename="session.txt", data=TRANSCRIPT
    )
    auth.start_totp_enrolment(ctx, actor=newcomer)
    matching.save_profile(ctx, actor=colleague, profile=PROFILE)
    held = matching.submit_intake(
        ctx,
        clinic_id=admin.clinic_id,
        intake=INTAKE,
        contact_name="Robin",
        contact_email="robin@mail.example",
        contact_phone="+44 20 7946 0958",
    )
    matching.decide(ctx, actor=admin, intake_id=held, therapist_id=None, note="waiting list")
    placed = matching.submit_intake(
        ctx, clinic_id=admin.clinic_id, intake=INTAKE, contact_name="Sky", contact_email=None
    )
    matching.decide(
        ctx,
        actor=admin,
        intake_id=placed,
        therapist_id=colleague.user_id,
        note="asked for this therapist",
        force=True,
    )
    matching.submit_intake(ctx, clinic_id=admin.clinic_id, intake=INTAKE, contact_name="Ash")
    matching.hand_over(
        ctx,
        actor=therapist,
        episode_id=episode_id,
        therapist_id=colleague.user_id,
        client_consented=True,
        note="Agreed with the client on Monday.",
    )
