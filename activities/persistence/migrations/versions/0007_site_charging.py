"""site smart-charging configuration and latest plan

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 13:30:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_charging",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_plan", sa.JSON(), nullable=True),
        sa.Column("planned_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_charging_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_charging")),
    )


def downgrade() -> None:
    op.drop_table("site_charging")
