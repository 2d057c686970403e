"""versioned OCPI tariffs and their assignments to sites, stations and EVSEs

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 23:30:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tariff_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("tariff_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("parking_grace_s", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("tariff_id", "version"),
    )
    op.create_index("ix_tariff_versions_tariff_id", "tariff_versions", ["tariff_id"])
    op.create_table(
        "tariff_assignments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("tariff_id", sa.String(36), nullable=False),
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("customer_group", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("site_id", "station_id", "evse_id", "customer_group"),
    )
    op.create_index("ix_tariff_assignments_tariff_id", "tariff_assignments", ["tariff_id"])
    op.create_index("ix_tariff_assignments_site_id", "tariff_assignments", ["site_id"])


def downgrade() -> None:
    op.drop_table("tariff_assignments")
    op.drop_table("tariff_versions")
