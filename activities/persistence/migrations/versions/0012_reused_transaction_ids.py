"""a 2.x station may reuse a transaction id once the transaction ended: the id is unique
among a station's open transactions only

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'active'")


def upgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_transactions_station_id", type_="unique")
    op.create_index(
        "uq_transactions_open_ref",
        "transactions",
        ["station_id", "transaction_ref"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_transactions_station_ref", "transactions", ["station_id", "transaction_ref"]
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_station_ref", table_name="transactions")
    op.drop_index("uq_transactions_open_ref", table_name="transactions")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_transactions_station_id", ["station_id", "transaction_ref"]
        )
