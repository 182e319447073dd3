"""Measurement plans: an episode's own cadences, and whether a check-in asks for goal ratings.

``episodes.plan`` (JSON, nullable: none = the clinic's plan) and ``checkins.rate_goals``
(true for every check-in made before plans existed, which always asked for goals). Plain
``ADD COLUMN``s, done in place on SQLite (see 0007 for why no batch copy).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("episodes", sa.Column("plan", sa.JSON(), nullable=True))
    op.add_column(
        "checkins",
        sa.Column("rate_goals", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("checkins", "rate_goals")
    op.drop_column("episodes", "plan")
