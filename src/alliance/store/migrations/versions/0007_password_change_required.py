"""Staff accounts can be made to choose a new password at their next sign-in.

``staff_users.must_change_password`` is set when an admin forces a password reset and cleared
when the user sets a new password. A plain ``ADD COLUMN`` with a server default, which SQLite
does in place: no table copy, so the foreign keys that point at ``staff_users`` from a dozen
tables are never dropped and re-created (a batch "move and copy" of a referenced table fails
their check on SQLite).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "staff_users",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place too; batch mode would copy the table.
    op.drop_column("staff_users", "must_change_password")
