"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 00:10:17.666752
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import ExactDecimal, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "id_tokens",
        sa.Column("id_token", sa.String(length=36), nullable=False),
        sa.Column("token_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("group_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_token", name=op.f("pk_id_tokens")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_created_at"), ["created_at"], unique=False)

    op.create_table(
        "reconciliation_inbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_inbox")),
    )
    with op.batch_alter_table("reconciliation_inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_inbox_station_id"), ["station_id"], unique=False
        )

    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price_per_kwh", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_table(
        "station_connections",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("ocpp_version", sa.String(length=10), nullable=False),
        sa.Column("remote_address", sa.String(length=100), nullable=True),
        sa.Column("connected_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_connections")),
    )
    with op.batch_alter_table("station_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_station_connections_node_id"), ["node_id"], unique=False
        )

    op.create_table(
        "station_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_events")),
    )
    with op.batch_alter_table("station_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_station_events_station_time", ["station_id", "received_at"], unique=False
        )

    op.create_table(
        "stations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("vendor", sa.String(length=50), nullable=True),
        sa.Column("model", sa.String(length=50), nullable=True),
        sa.Column("serial_number", sa.String(length=50), nullable=True),
        sa.Column("firmware_version", sa.String(length=50), nullable=True),
        sa.Column("ocpp_version", sa.String(length=10), nullable=True),
        sa.Column("registration_status", sa.String(length=16), nullable=False),
        sa.Column("security_profile", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("last_boot_at", UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_stations_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
    )
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stations_site_id"), ["site_id"], unique=False)

    op.create_table(
        "connectors",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("info", sa.String(length=50), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("status_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name=op.f("fk_connectors_station_id_stations")
        ),
        sa.PrimaryKeyConstraint(
            "station_id", "evse_id", "connector_id", name=op.f("pk_connectors")
        ),
    )
    op.create_table(
        "transactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("transaction_ref", sa.String(length=64), nullable=True),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_token", sa.String(length=255), nullable=True),
        sa.Column("start_key", sa.String(length=300), nullable=True),
        sa.Column("meter_start_wh", sa.BigInteger(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("meter_stop_wh", sa.BigInteger(), nullable=True),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("stop_reason", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ocpp_version", sa.String(length=10), nullable=False),
        sa.Column("remote_start_id", sa.Integer(), nullable=True),
        sa.Column("seq_nos", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name=op.f("fk_transactions_station_id_stations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("start_key", name=op.f("uq_transactions_start_key")),
        sa.UniqueConstraint(
            "station_id", "transaction_ref", name=op.f("uq_transactions_station_id")
        ),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transactions_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transactions_started_at"), ["started_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transactions_station_id"), ["station_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transactions_status"), ["status"], unique=False)

    op.create_table(
        "charge_detail_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "transaction_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("transaction_ref", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("ocpp_version", sa.String(length=10), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=False),
        sa.Column("energy_wh", sa.Double(), nullable=False),
        sa.Column("price_per_kwh", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_cost", ExactDecimal(), nullable=False),
        sa.Column("stop_reason", sa.String(length=40), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_pk"],
            ["transactions.id"],
            name=op.f("fk_charge_detail_records_transaction_pk_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_detail_records")),
        sa.UniqueConstraint("transaction_pk", name=op.f("uq_charge_detail_records_transaction_pk")),
    )
    with op.batch_alter_table("charge_detail_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_charge_detail_records_site_id"), ["site_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_charge_detail_records_station_id"), ["station_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_charge_detail_records_stopped_at"), ["stopped_at"], unique=False
        )

    op.create_table(
        "meter_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "transaction_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("sampled_at", UTCDateTime(), nullable=False),
        sa.Column("measurand", sa.String(length=60), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=True),
        sa.Column("location", sa.String(length=10), nullable=True),
        sa.Column("context", sa.String(length=30), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_pk"],
            ["transactions.id"],
            name=op.f("fk_meter_samples_transaction_pk_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_samples")),
    )
    with op.batch_alter_table("meter_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meter_samples_tx_time", ["transaction_pk", "sampled_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("meter_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_samples_tx_time")

    op.drop_table("meter_samples")
    with op.batch_alter_table("charge_detail_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charge_detail_records_stopped_at"))
        batch_op.drop_index(batch_op.f("ix_charge_detail_records_station_id"))
        batch_op.drop_index(batch_op.f("ix_charge_detail_records_site_id"))

    op.drop_table("charge_detail_records")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transactions_status"))
        batch_op.drop_index(batch_op.f("ix_transactions_station_id"))
        batch_op.drop_index(batch_op.f("ix_transactions_started_at"))
        batch_op.drop_index(batch_op.f("ix_transactions_site_id"))

    op.drop_table("transactions")
    op.drop_table("connectors")
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stations_site_id"))

    op.drop_table("stations")
    with op.batch_alter_table("station_events", schema=None) as batch_op:
        batch_op.drop_index("ix_station_events_station_time")

    op.drop_table("station_events")
    with op.batch_alter_table("station_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_station_connections_node_id"))

    op.drop_table("station_connections")
    op.drop_table("sites")
    with op.batch_alter_table("reconciliation_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_inbox_station_id"))

    op.drop_table("reconciliation_inbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_created_at"))

    op.drop_table("outbox")
    op.drop_table("id_tokens")
