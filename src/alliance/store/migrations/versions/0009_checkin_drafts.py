"""Check-in drafts: answers a client saved to finish later, within the link's life.

``checkins.draft_enc`` (encrypted JSON, nullable) and ``checkins.draft_saved_at``. Plain
``ADD COLUMN``s, done in place on SQLite (see 0007 for why no batch copy).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checkins", sa.Column("draft_enc", sa.Text(), nullable=True))
    op.add_column(
        "checkins", sa.Column("draft_saved_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("checkins", "draft_saved_at")
    op.drop_column("checkins", "draft_enc")
