"""a site's measured import peak of the billing month, and where its measurement stands

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("site_charging", schema=None) as batch_op:
        batch_op.add_column(sa.Column("month_peak_kw", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("peak_month", sa.String(7), nullable=True))
        batch_op.add_column(sa.Column("load_mark", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site_charging", schema=None) as batch_op:
        batch_op.drop_column("load_mark")
        batch_op.drop_column("peak_month")
        batch_op.drop_column("month_peak_kw")
