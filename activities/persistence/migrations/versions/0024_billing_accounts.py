"""billing accounts, the id tokens they own, and the account each CDR bills

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 03:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import ExactDecimal, UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer_group", sa.String(20), nullable=False),
        sa.Column("operator", sa.String(48), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("vat_id", sa.String(20), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("grouping", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("payment_provider", sa.String(16), nullable=False),
        sa.Column("credit_limit", ExactDecimal(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
    )
    with op.batch_alter_table("id_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.String(48), nullable=True))
        batch_op.create_index("ix_id_tokens_account_id", ["account_id"])
        batch_op.create_foreign_key(
            "fk_id_tokens_account_id_billing_accounts", "billing_accounts", ["account_id"], ["id"]
        )
    # Added in place (no table copy on SQLite: the CDR trigger stays).
    op.add_column("charge_detail_records", sa.Column("account_id", sa.String(48), nullable=True))
    op.create_index(
        "ix_charge_detail_records_account_stopped",
        "charge_detail_records",
        ["account_id", "stopped_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_charge_detail_records_account_stopped", "charge_detail_records")
    with op.batch_alter_table("charge_detail_records", schema=None) as batch_op:
        batch_op.drop_column("account_id")
    if op.get_bind().dialect.name == "sqlite":  # the table's copy lost its trigger
        op.execute(
            "CREATE TRIGGER cdr_immutable BEFORE UPDATE ON charge_detail_records "
            "BEGIN SELECT RAISE(ABORT, 'CDRs are immutable: correct one with a credit or "
            "debit note'); END"
        )
    with op.batch_alter_table("id_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_id_tokens_account_id_billing_accounts", type_="foreignkey")
        batch_op.drop_index("ix_id_tokens_account_id")
        batch_op.drop_column("account_id")
    op.drop_table("billing_accounts")
