"""invoices and credit notes, the CDRs on them, gap-free number counters, documents,
prepaid balances

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 04:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import ExactDecimal, UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("number", sa.String(64), nullable=False, unique=True),
        sa.Column("operator", sa.String(48), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "account_id", sa.String(48), sa.ForeignKey("billing_accounts.id"), nullable=False
        ),
        sa.Column("period", sa.String(7), nullable=True),
        sa.Column("period_start", UTCDateTime(), nullable=True),
        sa.Column("period_end", UTCDateTime(), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_excl_vat", ExactDecimal(), nullable=False),
        sa.Column("total_vat", ExactDecimal(), nullable=False),
        sa.Column("total_incl_vat", ExactDecimal(), nullable=False),
        sa.Column("vat_breakdown", sa.JSON(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("account", sa.JSON(), nullable=False),
        sa.Column("cdr_count", sa.Integer(), nullable=False),
        sa.Column("corrects_id", BigId, sa.ForeignKey("invoices.id"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("payment_status", sa.String(16), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("payment_reference", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "period", "kind"),
        sa.UniqueConstraint("operator", "kind", "year", "seq"),
    )
    op.create_index("ix_invoices_account_id", "invoices", ["account_id"])
    op.create_table(
        "invoice_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("invoice_id", BigId, sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("cdr_id", BigId, sa.ForeignKey("charge_detail_records.id"), nullable=False),
        sa.Column("credit", sa.Boolean(), nullable=False),
        sa.Column("excl_vat", ExactDecimal(), nullable=False),
        sa.Column("vat", ExactDecimal(), nullable=False),
    )
    op.create_index("ix_invoice_items_invoice_id", "invoice_items", ["invoice_id"])
    op.create_index("ix_invoice_items_cdr_id", "invoice_items", ["cdr_id"])
    op.create_index(
        "uq_invoice_items_billed_cdr",
        "invoice_items",
        ["cdr_id"],
        unique=True,
        sqlite_where=sa.text("credit = 0"),
        postgresql_where=sa.text("credit = false"),
    )
    op.create_table(
        "invoice_counters",
        sa.Column("operator", sa.String(48), primary_key=True),
        sa.Column("kind", sa.String(12), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    op.create_table(
        "invoice_documents",
        sa.Column("invoice_id", BigId, sa.ForeignKey("invoices.id"), primary_key=True),
        sa.Column("format", sa.String(8), primary_key=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "balance_entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "account_id", sa.String(48), sa.ForeignKey("billing_accounts.id"), nullable=False
        ),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("invoice_id", BigId, sa.ForeignKey("invoices.id"), nullable=True),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_balance_entries_account_id", "balance_entries", ["account_id"])
    op.create_index(
        "uq_balance_entries_invoice",
        "balance_entries",
        ["invoice_id"],
        unique=True,
        sqlite_where=sa.text("invoice_id IS NOT NULL"),
        postgresql_where=sa.text("invoice_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("balance_entries")
    op.drop_table("invoice_documents")
    op.drop_table("invoice_counters")
    op.drop_table("invoice_items")
    op.drop_table("invoices")
