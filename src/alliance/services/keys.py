"""Key rotation: re-encrypt every encrypted field with the active (first) key.

After putting a new key first in ``ALLIANCE_ENCRYPTION_KEYS`` (keeping the old ones after it),
new writes already use the new key and old values still decrypt. Running
:func:`rotate_encryption` (``alliance db rotate-keys``) rewrites the old values so the old key
can then be removed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alliance.services.authz import system_actor
from alliance.services.context import ServiceContext
from alliance.services.unit import record, unit_of_work
from alliance.store.crypto import is_encrypted
from alliance.store.models import Alert, Client, Goal, Response, StaffUser

# (model, column attribute, associated-data field name)
COLUMNS: tuple[tuple[type[Any], str, str], ...] = (
    (Client, "contact_email_enc", "clients.contact_email"),
    (StaffUser, "totp_secret_enc", "staff_users.totp_secret"),
    (Goal, "text_enc", "goals.text"),
    (Alert, "acknowledge_note_enc", "alerts.acknowledge_note"),
    (Alert, "resolve_note_enc", "alerts.resolve_note"),
)


def _columns() -> tuple[tuple[type[Any], str, str], ...]:
    """Every encrypted column, including those other features add (session transcripts)."""
    from alliance.services.transcripts import ANALYSIS_FIELD, TRANSCRIPT_FIELD
    from alliance.store.models import SessionTranscript

    return (
        *COLUMNS,
        (SessionTranscript, "transcript_enc", TRANSCRIPT_FIELD),
        (SessionTranscript, "analysis_enc", ANALYSIS_FIELD),
    )


def rotate_encryption(ctx: ServiceContext) -> dict[str, int]:
    """Re-encrypt old values with the active key, in one transaction; returns counts per
    column of values rewritten."""
    from alliance.services.episodes import answer_field

    counts: dict[str, int] = {}
    active = ctx.cipher.active_key_id
    with unit_of_work(ctx) as session:
        for model, attribute, field in _columns():
            changed = 0
            column = getattr(model, attribute)
            for row in session.scalars(select(model).where(column.is_not(None))):
                value = getattr(row, attribute)
                if ctx.cipher.key_id_of(value) != active:
                    setattr(row, attribute, ctx.cipher.rotate_value(value, field=field))
                    changed += 1
            counts[f"{model.__tablename__}.{attribute}"] = changed
        changed = 0
        for response in session.scalars(select(Response)):
            updated = {
                key: _rotated(ctx, value, answer_field(response.instrument_id, key))
                for key, value in response.answers.items()
            }
            if updated != response.answers:
                response.answers = updated
                changed += 1
        counts["responses.answers"] = changed
        record(
            session,
            ctx,
            system_actor(),
            "write",
            "encryption",
            None,
            {"op": "rotate", "key_id": active, "counts": counts},
        )
    return counts


def _rotated(ctx: ServiceContext, value: Any, field: str) -> Any:
    if is_encrypted(value):
        return ctx.cipher.rotate_value(value, field=field)
    return value
