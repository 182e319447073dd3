"""Research exports requested in the app (issue 13): ``export_jobs``, one row per request, the
background worker's claim and lease, and the encrypted file's name under the data directory.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("deidentified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_export_jobs_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["staff_users.id"],
            name=op.f("fk_export_jobs_requested_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["removed_by"], ["staff_users.id"], name=op.f("fk_export_jobs_removed_by_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_jobs_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index("ix_export_jobs_status", ["status", "requested_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_export_jobs_status")
        batch_op.drop_index(batch_op.f("ix_export_jobs_clinic_id"))
    op.drop_table("export_jobs")
