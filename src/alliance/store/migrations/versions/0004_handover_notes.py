"""Hand-over notes get their own table, out of the audit trail.

A hand-over for fit used to put its (encrypted) note into the detail of its audit event. The
audit trail is append-only, so ``alliance db rotate-keys`` could never re-encrypt that note and
it was lost once the old key was dropped; nor could erasing the client remove it, and audit
detail is meant to hold no clinical content at all. This revision creates ``handover_notes``,
moves every such note there (the ciphertext as it is: it stays bound to the same field name)
and removes it from the audit detail, leaving ``"handover_note": true`` in its place (a note of an
erased client's episode is dropped, as erasure would have done). That one rewrite
of the audit trail lifts the append-only triggers for the length of this transaction only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_audit = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor_id", sa.Integer()),
    sa.column("clinic_id", sa.Integer()),
    sa.column("entity_type", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("detail", sa.JSON()),
)
_notes = sa.table(
    "handover_notes",
    sa.column("episode_id", sa.Integer()),
    sa.column("clinic_id", sa.Integer()),
    sa.column("written_by", sa.Integer()),
    sa.column("written_at", sa.DateTime(timezone=True)),
    sa.column("note_enc", sa.Text()),
)


def upgrade() -> None:
    op.create_table(
        "handover_notes",
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("written_by", sa.Integer(), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note_enc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_handover_notes_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_handover_notes_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["written_by"],
            ["staff_users.id"],
            name=op.f("fk_handover_notes_written_by_staff_users"),
        ),
        sa.PrimaryKeyConstraint("episode_id", name=op.f("pk_handover_notes")),
    )
    with op.batch_alter_table("handover_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_handover_notes_clinic_id"), ["clinic_id"], unique=False
        )
    _move_notes_out_of_the_audit_trail()


def _move_notes_out_of_the_audit_trail() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_audit).where(_audit.c.entity_type == "episode").order_by(_audit.c.id)
    ).all()
    moving = [row for row in rows if isinstance(row.detail, dict) and "note_enc" in row.detail]
    if not moving:
        return
    # A note whose episode is gone belonged to an erased client: it goes, as the rest did.
    episodes = sa.table("episodes", sa.column("id", sa.Integer()))
    alive = set(bind.execute(sa.select(episodes.c.id)).scalars())
    notes: list[dict[str, Any]] = []
    for row in moving:
        note = row.detail["note_enc"]
        if note is not None and row.entity_id is not None and int(row.entity_id) in alive:
            notes.append(
                {
                    "episode_id": int(row.entity_id),
                    "clinic_id": row.clinic_id,
                    "written_by": row.actor_id,
                    "written_at": row.at,
                    "note_enc": note,
                }
            )
    if notes:
        op.bulk_insert(_notes, notes)
    _lift_append_only(bind.dialect.name)
    for row in moving:
        detail = {key: value for key, value in row.detail.items() if key != "note_enc"}
        detail["handover_note"] = row.detail["note_enc"] is not None
        bind.execute(sa.update(_audit).where(_audit.c.id == row.id).values(detail=detail))
    _restore_append_only(bind.dialect.name)


def _lift_append_only(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_update")
    else:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")


def _restore_append_only(dialect: str) -> None:
    # The same trigger revision 0001 created.
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )
    else:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


def downgrade() -> None:
    # Back where the older code kept them, so that a downgrade loses no note.
    bind = op.get_bind()
    notes = {row.episode_id: row.note_enc for row in bind.execute(sa.select(_notes)).all()}
    rows = bind.execute(
        sa.select(_audit).where(_audit.c.entity_type == "episode").order_by(_audit.c.id)
    ).all()
    marked = [row for row in rows if isinstance(row.detail, dict) and "handover_note" in row.detail]
    if marked:
        _lift_append_only(bind.dialect.name)
        for row in marked:
            detail = {key: value for key, value in row.detail.items() if key != "handover_note"}
            had_note = row.detail["handover_note"]
            detail["note_enc"] = notes.get(int(row.entity_id)) if had_note else None
            bind.execute(sa.update(_audit).where(_audit.c.id == row.id).values(detail=detail))
        _restore_append_only(bind.dialect.name)
    with op.batch_alter_table("handover_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handover_notes_clinic_id"))
    op.drop_table("handover_notes")
