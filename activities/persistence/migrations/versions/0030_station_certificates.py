"""station certificates: signing requests and what the CSMS's CA issued

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "station_certificates",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("csr", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("serial_number", sa.String(64)),
        sa.Column("not_after", UTCDateTime()),
        sa.Column("certificate", sa.Text()),
        sa.Column("workflow_id", sa.String(200)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_station_certificates_station", "station_certificates", ["station_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_station_certificates_station", "station_certificates")
    op.drop_table("station_certificates")
