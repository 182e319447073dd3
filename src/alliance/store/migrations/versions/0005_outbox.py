"""Check-in delivery (issue 10): the outbox of messages to clients, and a client's opt-out of
check-in e-mails.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (a batch copy of ``clients`` would trip the foreign keys on SQLite);
    # existing clients have not opted out.
    op.add_column(
        "clients",
        sa.Column(
            "checkin_emails_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("checkin_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("link_token_enc", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkin_id"], ["checkins.id"], name=op.f("fk_outbox_messages_checkin_id_checkins")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_outbox_messages_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_outbox_messages_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_outbox_messages_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["therapy_sessions.id"],
            name=op.f("fk_outbox_messages_session_id_therapy_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_messages_dedupe_key")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_checkin_id"), ["checkin_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_clinic_id"), ["clinic_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_episode_id"), ["episode_id"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_messages_status_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_status_due")
        batch_op.drop_index(batch_op.f("ix_outbox_messages_episode_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_clinic_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_client_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_checkin_id"))
    op.drop_table("outbox_messages")
    op.drop_column("clients", "checkin_emails_opt_out")
