"""Matching and fit (issue 5): therapists' matching profiles, intake requests (encrypted) and
the admin's decisions on them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:37:50.718180
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matching_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_matching_profiles_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_matching_profiles_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_matching_profiles")),
    )
    with op.batch_alter_table("matching_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matching_profiles_clinic_id"), ["clinic_id"], unique=False
        )

    op.create_table(
        "intake_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("intake_enc", sa.Text(), nullable=False),
        sa.Column("contact_name_enc", sa.Text(), nullable=False),
        sa.Column("contact_email_enc", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_intake_requests_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_intake_requests_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_intake_requests_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_requests")),
    )
    with op.batch_alter_table("intake_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_intake_requests_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_intake_requests_clinic_id"), ["clinic_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_intake_requests_episode_id"), ["episode_id"], unique=False
        )

    op.create_table(
        "match_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("intake_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("proposed_therapist_id", sa.Integer(), nullable=True),
        sa.Column("therapist_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.Column("reasons_enc", sa.Text(), nullable=True),
        sa.Column("note_enc", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_match_decisions_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["staff_users.id"],
            name=op.f("fk_match_decisions_decided_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"],
            ["intake_requests.id"],
            name=op.f("fk_match_decisions_intake_id_intake_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_therapist_id"],
            ["staff_users.id"],
            name=op.f("fk_match_decisions_proposed_therapist_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff_users.id"],
            name=op.f("fk_match_decisions_therapist_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_decisions")),
    )
    with op.batch_alter_table("match_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_match_decisions_clinic_id"), ["clinic_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_match_decisions_intake_id"), ["intake_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("match_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_decisions_intake_id"))
        batch_op.drop_index(batch_op.f("ix_match_decisions_clinic_id"))

    op.drop_table("match_decisions")
    with op.batch_alter_table("intake_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_requests_episode_id"))
        batch_op.drop_index(batch_op.f("ix_intake_requests_clinic_id"))
        batch_op.drop_index(batch_op.f("ix_intake_requests_client_id"))

    op.drop_table("intake_requests")
    with op.batch_alter_table("matching_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_profiles_clinic_id"))

    op.drop_table("matching_profiles")
