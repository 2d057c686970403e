"""CDRs priced by tariffs: cost lines, charging periods and the tariff version that
priced them; connector status history (what a session was doing when); a site's time
zone; CDRs immutable

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 02:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import ExactDecimal, UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_IMMUTABLE = "CDRs are immutable: correct one with a credit or debit note"


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )
    with op.batch_alter_table("charge_detail_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_token", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("customer_group", sa.String(20), nullable=True))
        batch_op.add_column(sa.Column("tariff_id", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("tariff_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("total_excl_vat", ExactDecimal(), nullable=True))
        batch_op.add_column(sa.Column("total_vat", ExactDecimal(), nullable=True))
        batch_op.add_column(sa.Column("cost_lines", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("charging_periods", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("totals", sa.JSON(), nullable=True))
    op.create_table(
        "connector_status_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_index(
        "ix_connector_status_history_station_evse_at",
        "connector_status_history",
        ["station_id", "evse_id", "at"],
    )
    # A CDR is written once; the database itself refuses to change one.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION cdr_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_IMMUTABLE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER cdr_immutable BEFORE UPDATE ON charge_detail_records "
            "FOR EACH ROW EXECUTE FUNCTION cdr_immutable()"
        )
    else:
        op.execute(
            "CREATE TRIGGER cdr_immutable BEFORE UPDATE ON charge_detail_records "
            f"BEGIN SELECT RAISE(ABORT, '{_IMMUTABLE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER cdr_immutable ON charge_detail_records")
        op.execute("DROP FUNCTION cdr_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS cdr_immutable")
    op.drop_table("connector_status_history")
    with op.batch_alter_table("charge_detail_records", schema=None) as batch_op:
        for column in (
            "totals",
            "charging_periods",
            "cost_lines",
            "total_vat",
            "total_excl_vat",
            "tariff_version",
            "tariff_id",
            "customer_group",
            "id_token",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
