"""remote starts expired by their workflow (one expiry both the gateway and the workflow keep)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:30:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("remote_starts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expired_at", UTCDateTime(), nullable=True))
    # Requests whose window has passed were given up on by their workflows already.
    op.execute(
        sa.text(
            "UPDATE remote_starts SET expired_at = expires_at "
            "WHERE transaction_pk IS NULL AND expires_at < CURRENT_TIMESTAMP"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("remote_starts", schema=None) as batch_op:
        batch_op.drop_column("expired_at")
