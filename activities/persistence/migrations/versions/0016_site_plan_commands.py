"""site plans' commands stored per station, numbered by plan

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("site_charging", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan_number", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "site_plan_commands",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("plan", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_plan_commands_site_id_sites"
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "plan", "station_id", "seq", name="pk_site_plan_commands"
        ),
    )


def downgrade() -> None:
    op.drop_table("site_plan_commands")
    with op.batch_alter_table("site_charging", schema=None) as batch_op:
        batch_op.drop_column("plan_number")
