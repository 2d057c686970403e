"""station variables (reported configuration)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 12:40:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_variables",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("readonly", sa.Boolean(), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "key", name=op.f("pk_station_variables")),
    )


def downgrade() -> None:
    op.drop_table("station_variables")
