"""reservations: a group's token and a connector type

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 09:30:00

A reservation may be used by any token of the reserving group (1.6 parentIdTag, 2.x
groupIdToken) and, on 2.x, hold any EVSE with a connector of one type.
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("group_id_token", sa.String(36), nullable=True))
        batch.add_column(sa.Column("connector_type", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("connector_type")
        batch.drop_column("group_id_token")
