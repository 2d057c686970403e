"""OpenADR 3 subscriptions, their webhook deliveries, utilities' webhook signing keys

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 19:00:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("utility_clients", sa.Column("webhook_secret", sa.String(64), nullable=True))
    # Clients made before webhooks get a key of their own (the operator reads it with
    # POST /utilities/{client_id}/webhook-secret, which replaces it).
    clients = sa.table(
        "utility_clients", sa.column("client_id", sa.String), sa.column("webhook_secret")
    )
    bind = op.get_bind()
    for (client_id,) in bind.execute(sa.select(clients.c.client_id)).all():
        bind.execute(
            clients.update()
            .where(clients.c.client_id == client_id)
            .values(webhook_secret=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("utility_clients") as batch:
        batch.alter_column("webhook_secret", existing_type=sa.String(64), nullable=False)
    op.create_table(
        "dr_subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("program_id", sa.String(36), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["utility_clients.client_id"],
            name="fk_dr_subscriptions_client_id_utility_clients",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dr_subscriptions"),
    )
    op.create_index("ix_dr_subscriptions_client_id", "dr_subscriptions", ["client_id"])
    op.create_table(
        "dr_deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("object_id", sa.String(36), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dr_deliveries"),
    )
    op.create_index("ix_dr_deliveries_subscription_id", "dr_deliveries", ["subscription_id"])
    op.create_index("ix_dr_deliveries_client_id", "dr_deliveries", ["client_id"])
    op.create_index("ix_dr_deliveries_pending", "dr_deliveries", ["status", "started_at"])


def downgrade() -> None:
    op.drop_table("dr_deliveries")
    op.drop_table("dr_subscriptions")
    with op.batch_alter_table("utility_clients") as batch:
        batch.drop_column("webhook_secret")
