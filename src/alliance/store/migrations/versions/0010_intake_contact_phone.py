"""An intake may give a phone number as well as an e-mail address (encrypted, optional).

``intake_requests.contact_phone_enc`` holds it under the field name
``intake_requests.contact_phone``. A plain nullable ``ADD COLUMN``: no table copy on SQLite.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intake_requests", sa.Column("contact_phone_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("intake_requests", "contact_phone_enc")
