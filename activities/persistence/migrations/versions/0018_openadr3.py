"""utilities' OAuth2 clients and tokens, OpenADR 3 programs, events, reports, opt-outs

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 18:30:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "utility_clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_utility_clients"),
    )
    op.create_table(
        "utility_tokens",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["utility_clients.client_id"],
            name="fk_utility_tokens_client_id_utility_clients",
        ),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_utility_tokens"),
    )
    op.create_index("ix_utility_tokens_client_id", "utility_tokens", ["client_id"])
    op.create_table(
        "dr_programs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("program_name", sa.String(128), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["utility_clients.client_id"],
            name="fk_dr_programs_client_id_utility_clients",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dr_programs"),
        sa.UniqueConstraint("client_id", "program_name", name="uq_dr_programs_client_id"),
    )
    op.create_index("ix_dr_programs_client_id", "dr_programs", ["client_id"])
    op.create_table(
        "dr_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("program_id", sa.String(36), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["utility_clients.client_id"],
            name="fk_dr_events_client_id_utility_clients",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["dr_programs.id"], name="fk_dr_events_program_id_dr_programs"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dr_events"),
    )
    op.create_index("ix_dr_events_client_id", "dr_events", ["client_id"])
    op.create_index("ix_dr_events_program_id", "dr_events", ["program_id"])
    op.create_table(
        "dr_reports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("program_id", sa.String(36), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["utility_clients.client_id"],
            name="fk_dr_reports_client_id_utility_clients",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dr_reports"),
    )
    op.create_index("ix_dr_reports_client_id", "dr_reports", ["client_id"])
    op.create_index("ix_dr_reports_event_id", "dr_reports", ["event_id"])

    op.create_table(
        "dr_opt_outs",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "site_id", name="pk_dr_opt_outs"),
    )


def downgrade() -> None:
    op.drop_table("dr_opt_outs")
    op.drop_table("dr_reports")
    op.drop_table("dr_events")
    op.drop_table("dr_programs")
    op.drop_table("utility_tokens")
    op.drop_table("utility_clients")
