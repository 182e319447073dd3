"""Session transcripts and their analyses (issue 4), text and analysis encrypted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_transcripts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("backend", sa.String(length=10), nullable=False),
        sa.Column("schema_version", sa.String(length=10), nullable=False),
        sa.Column("transcript_enc", sa.Text(), nullable=False),
        sa.Column("analysis_enc", sa.Text(), nullable=False),
        sa.Column("indicators", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_session_transcripts_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["therapy_sessions.id"],
            name=op.f("fk_session_transcripts_session_id_therapy_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_session_transcripts_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff_users.id"],
            name=op.f("fk_session_transcripts_therapist_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["staff_users.id"],
            name=op.f("fk_session_transcripts_uploaded_by_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_transcripts")),
    )
    with op.batch_alter_table("session_transcripts", schema=None) as batch_op:
        for column in ("clinic_id", "session_id", "episode_id", "therapist_id"):
            batch_op.create_index(
                batch_op.f(f"ix_session_transcripts_{column}"), [column], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("session_transcripts", schema=None) as batch_op:
        for column in ("clinic_id", "session_id", "episode_id", "therapist_id"):
            batch_op.drop_index(batch_op.f(f"ix_session_transcripts_{column}"))
    op.drop_table("session_transcripts")
