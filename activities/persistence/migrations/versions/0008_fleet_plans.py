"""fleet plans; applied fleet needs on the site

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 14:10:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_fleet_plans_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_plans")),
    )
    with op.batch_alter_table("fleet_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleet_plans_site_id"), ["site_id"], unique=False)
    with op.batch_alter_table("site_charging", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fleet_needs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site_charging", schema=None) as batch_op:
        batch_op.drop_column("fleet_needs")
    with op.batch_alter_table("fleet_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_plans_site_id"))
    op.drop_table("fleet_plans")
