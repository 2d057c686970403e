"""utilities' access tokens hold OpenADR 3 scopes

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 19:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# Tokens issued before scopes held everything a utility may do (they last an hour).
EVERY_SCOPE = "read_all write_events write_programs write_subscriptions"


def upgrade() -> None:
    with op.batch_alter_table("utility_tokens") as batch:
        batch.add_column(
            sa.Column("scopes", sa.String(200), nullable=False, server_default=EVERY_SCOPE)
        )
    with op.batch_alter_table("utility_tokens") as batch:
        batch.alter_column("scopes", server_default=None, existing_type=sa.String(200))


def downgrade() -> None:
    with op.batch_alter_table("utility_tokens") as batch:
        batch.drop_column("scopes")
