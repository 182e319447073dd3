"""One therapist profile store: ``therapist_profiles`` folds into ``matching_profiles``.

Two tables held a therapist's profile: ``therapist_profiles`` (free strings for modalities,
styles and languages, plus an ``extra`` dict; written only by the demo seed and tests, read by
the team page) and ``matching_profiles`` (validated against the matching vocabulary, edited
in the app). The app now reads and writes only ``matching_profiles``.

For each old row this revision:

* keeps the matching profile where the therapist already has one (it is the one they edit);
* otherwise copies what maps onto the matching vocabulary: a modality or style given by its
  key or its label (case, spaces and hyphens aside; "person-centred" is ``person_centred``,
  "CBT" is ``cbt``), each style named with weight 1, and the languages as words. Such a
  profile is incomplete (no availability, capacity or fee), so the matching queue lists the
  therapist as needing a profile until they save it; the profile page starts from it;
* records in the audit trail (one ``write`` event of the system per old row, entity
  ``matching_profile``) what happened and the values that mapped onto nothing, with the keys
  of ``extra`` (no feature ever used them), so nothing is lost silently.

It then drops ``therapist_profiles``. Downgrade recreates it and fills it from the matching
profiles (modality labels, styles strongest first, languages), as the older team page read it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from alliance.matching import vocabulary

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_old = sa.table(
    "therapist_profiles",
    sa.column("user_id", sa.Integer()),
    sa.column("modalities", sa.JSON()),
    sa.column("styles", sa.JSON()),
    sa.column("languages", sa.JSON()),
    sa.column("extra", sa.JSON()),
)
_profiles = sa.table(
    "matching_profiles",
    sa.column("user_id", sa.Integer()),
    sa.column("clinic_id", sa.Integer()),
    sa.column("profile", sa.JSON()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_users = sa.table(
    "staff_users", sa.column("id", sa.Integer()), sa.column("clinic_id", sa.Integer())
)
_audit = sa.table(
    "audit_events",
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor_type", sa.String()),
    sa.column("actor_id", sa.Integer()),
    sa.column("clinic_id", sa.Integer()),
    sa.column("action", sa.String()),
    sa.column("entity_type", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("detail", sa.JSON()),
)


def _key(text: str) -> str:
    # How the matching models compare vocabulary words (alliance.matching.profiles._norm).
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _lookup(labels: Mapping[str, str]) -> dict[str, str]:
    """Every way an old free string may have named a vocabulary entry: its key, its label
    and each part of a label such as "person-centred / humanistic"."""
    found: dict[str, str] = {}
    for key, label in labels.items():
        for name in (key, label, *label.split("/")):
            if name.strip():
                found.setdefault(_key(name), key)
    return found


def _strings(values: Any) -> list[str]:
    items: Iterable[Any] = values if isinstance(values, list) else ()
    return [str(v).strip() for v in items if str(v).strip()]


def _map(values: list[str], lookup: Mapping[str, str]) -> tuple[list[str], list[str]]:
    mapped: list[str] = []
    unmapped: list[str] = []
    for value in values:
        key = lookup.get(_key(value))
        if key is None:
            unmapped.append(value)
        elif key not in mapped:
            mapped.append(key)
    return mapped, unmapped


def carry_over(row: Mapping[Any, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An old row as a (partial) matching profile, and what of it mapped onto nothing."""
    voc = vocabulary()
    modalities, odd_modalities = _map(_strings(row["modalities"]), _lookup(voc.modalities))
    style_labels = {key: words.label for key, words in voc.styles.items()}
    styles, odd_styles = _map(_strings(row["styles"]), _lookup(style_labels))
    languages: list[str] = []
    odd_languages: list[str] = []
    for value in _strings(row["languages"]):
        word = " ".join(value.lower().split())
        if len(word) > 80:
            odd_languages.append(value)
        elif word not in languages:
            languages.append(word)
    profile: dict[str, Any] = {}
    if modalities:
        profile["modalities"] = modalities
    if styles:
        profile["styles"] = dict.fromkeys(styles, 1.0)
    if languages:
        profile["languages"] = languages
    unmapped = {
        name: values
        for name, values in (
            ("modalities", odd_modalities),
            ("styles", odd_styles),
            ("languages", odd_languages),
        )
        if values
    }
    extra = row["extra"]
    if isinstance(extra, dict) and extra:
        unmapped["extra_keys"] = sorted(str(k) for k in extra)
    return profile, unmapped


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    clinic_of = {row.id: row.clinic_id for row in bind.execute(sa.select(_users)).all()}
    have = set(bind.execute(sa.select(_profiles.c.user_id)).scalars())
    copies: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for row in bind.execute(sa.select(_old).order_by(_old.c.user_id)).mappings().all():
        profile, unmapped = carry_over(row)
        if row["user_id"] in have:
            outcome = "kept"  # the validated profile they edit stays as it is
        elif profile:
            outcome = "copied"
            copies.append(
                {
                    "user_id": row["user_id"],
                    "clinic_id": clinic_of[row["user_id"]],
                    "profile": profile,
                    "updated_at": now,
                }
            )
        else:
            outcome = "empty"
        events.append(
            {
                "at": now,
                "actor_type": "system",
                "actor_id": None,
                "clinic_id": clinic_of[row["user_id"]],
                "action": "write",
                "entity_type": "matching_profile",
                "entity_id": str(row["user_id"]),
                "detail": {
                    "op": "migrate",
                    "from": "therapist_profiles",
                    "revision": revision,
                    "outcome": outcome,
                    "unmapped": unmapped,
                },
            }
        )
    if copies:
        op.bulk_insert(_profiles, copies)
    if events:
        op.bulk_insert(_audit, events)
    op.drop_table("therapist_profiles")


def _old_row(user_id: int, profile: Any) -> dict[str, Any]:
    stored = profile if isinstance(profile, dict) else {}
    voc = vocabulary()
    modalities = [voc.modalities.get(str(m), str(m)) for m in stored.get("modalities") or ()]
    raw = stored.get("styles")
    weights = {
        str(k): float(v)
        for k, v in (raw.items() if isinstance(raw, dict) else ())
        if isinstance(v, int | float) and v > 0
    }
    return {
        "user_id": user_id,
        "modalities": modalities,
        "styles": sorted(weights, key=lambda k: (-weights[k], k)),
        "languages": [str(v) for v in stored.get("languages") or ()],
        "extra": {},
    }


def downgrade() -> None:
    op.create_table(
        "therapist_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("modalities", sa.JSON(), nullable=False),
        sa.Column("styles", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_therapist_profiles_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_therapist_profiles")),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(_profiles.c.user_id, _profiles.c.profile)).all()
    if rows:
        op.bulk_insert(_old, [_old_row(row.user_id, row.profile) for row in rows])
