"""Alerts: discussed in supervision, risk escalation, the risk protocol's checklist.

``alerts.supervised_by`` / ``supervised_at`` / ``supervision_note_enc`` (a supervisor marked the
alert "discussed in supervision", with an encrypted note), ``alerts.escalated_at`` (a risk alert
not acknowledged in time was escalated to the supervisor and the admins) and
``alerts.protocol_checks`` (the risk protocol's steps ticked when it was closed). Plain
``ADD COLUMN``s, done in place on SQLite (see 0007 for why no batch copy); the foreign key of
``supervised_by`` is declared inline on SQLite, which accepts it for a column added as NULL.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Alembic would need a batch copy to add the constraint; SQLite itself accepts an
        # inline REFERENCES on a column added as NULL.
        op.execute(
            "ALTER TABLE alerts ADD COLUMN supervised_by INTEGER "
            "CONSTRAINT fk_alerts_supervised_by_staff_users REFERENCES staff_users (id)"
        )
    else:
        op.add_column("alerts", sa.Column("supervised_by", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_alerts_supervised_by_staff_users"),
            "alerts",
            "staff_users",
            ["supervised_by"],
            ["id"],
        )
    op.add_column("alerts", sa.Column("supervised_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("alerts", sa.Column("supervision_note_enc", sa.Text(), nullable=True))
    op.add_column("alerts", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("alerts", sa.Column("protocol_checks", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "protocol_checks")
    op.drop_column("alerts", "escalated_at")
    op.drop_column("alerts", "supervision_note_enc")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_alerts_supervised_by_staff_users"), "alerts", "foreignkey")
    op.drop_column("alerts", "supervised_at")
    op.drop_column("alerts", "supervised_by")
