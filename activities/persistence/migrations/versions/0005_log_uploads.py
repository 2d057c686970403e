"""log uploads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_uploads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("log_type", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("stored_path", sa.String(length=500), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_uploads")),
        sa.UniqueConstraint("token", name=op.f("uq_log_uploads_token")),
    )
    with op.batch_alter_table("log_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_uploads_station_id"), ["station_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("log_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_uploads_station_id"))
    op.drop_table("log_uploads")
