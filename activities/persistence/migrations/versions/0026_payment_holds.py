"""card holds waiting for the ad-hoc session they pay for

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02 06:30:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import ExactDecimal, UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_holds",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("id_token", sa.String(255), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        # held (waiting for its session) | closed (captured, released or expired)
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column(
            "cdr_id", BigId, sa.ForeignKey("charge_detail_records.id"), nullable=True, unique=True
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_payment_holds_waiting", "payment_holds", ["station_id", "id_token", "state"]
    )


def downgrade() -> None:
    op.drop_index("ix_payment_holds_waiting", "payment_holds")
    op.drop_table("payment_holds")
