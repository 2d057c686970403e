"""2.x charging state (Charging, SuspendedEV, ...) kept per connector

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 18:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charging_state", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("charging_state_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_column("charging_state_at")
        batch_op.drop_column("charging_state")
