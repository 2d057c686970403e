"""demand-response baselines: each event's counterfactual plan per site

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 19:10:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dr_baselines",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("kw", sa.JSON(), nullable=False),
        sa.Column("quality", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "site_id", name="pk_dr_baselines"),
    )


def downgrade() -> None:
    op.drop_table("dr_baselines")
