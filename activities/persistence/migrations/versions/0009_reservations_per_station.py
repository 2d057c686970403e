"""reservations keyed by (station, id): one station's id never collides with another's

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:30:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = (
    "id, station_id, evse_id, connector_id, id_token, expires_at, status, workflow_id, "
    "transaction_pk, created_at"
)


def _create(name: str, primary_key: list[str]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_token", sa.String(length=255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column(
            "transaction_pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_pk"],
            ["transactions.id"],
            name=op.f(f"fk_{name}_transaction_pk_transactions"),
        ),
        sa.PrimaryKeyConstraint(*primary_key, name=op.f(f"pk_{name}")),
    )


def _rebuild(primary_key: list[str]) -> None:
    # A new table copied over: SQLite cannot change a primary key in place.
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_station_status")
    _create("reservations_next", primary_key)
    op.execute(f"INSERT INTO reservations_next ({COLUMNS}) SELECT {COLUMNS} FROM reservations")
    op.drop_table("reservations")
    op.rename_table("reservations_next", "reservations")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reservations_station_status", ["station_id", "status"], unique=False
        )


def upgrade() -> None:
    _rebuild(["station_id", "id"])


def downgrade() -> None:
    _rebuild(["id"])
