"""upload tokens expire and are used once

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_expires_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("token_used_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("log_uploads", schema=None) as batch_op:
        batch_op.drop_column("token_used_at")
        batch_op.drop_column("token_expires_at")
