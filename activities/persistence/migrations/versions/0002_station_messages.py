"""per-station message log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:05:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_messages")),
    )
    with op.batch_alter_table("station_messages", schema=None) as batch_op:
        batch_op.create_index("ix_station_messages_station_at", ["station_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_station_messages_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("station_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_station_messages_at"))
        batch_op.drop_index("ix_station_messages_station_at")
    op.drop_table("station_messages")
