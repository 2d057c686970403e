"""firmware catalogue, rollouts, per-station updates and the versions stations reported

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-02 10:40:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "firmware_images",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("vendor", sa.String(50), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("signature", sa.String(800), nullable=True),
        sa.Column("signing_certificate", sa.Text(), nullable=True),
        sa.Column("release_notes", sa.Text(), nullable=True),
        sa.Column("recommended", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_firmware_images_vendor", "firmware_images", ["vendor", "version"])
    op.create_table(
        "firmware_rollouts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("image_id", sa.String(64), sa.ForeignKey("firmware_images.id"), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("targets", sa.Integer(), nullable=False),
        # running | paused | aborted | cancelled | completed
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "firmware_updates",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), sa.ForeignKey("stations.id"), nullable=False),
        sa.Column("image_id", sa.String(64), sa.ForeignKey("firmware_images.id"), nullable=False),
        sa.Column(
            "rollout_id", sa.String(64), sa.ForeignKey("firmware_rollouts.id"), nullable=True
        ),
        sa.Column("workflow_id", sa.String(200), nullable=False, unique=True),
        sa.Column("from_version", sa.String(50), nullable=True),
        sa.Column("target_version", sa.String(50), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("charger_status", sa.String(40), nullable=True),
        sa.Column("failure", sa.String(24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_firmware_updates_station", "firmware_updates", ["station_id", "finished_at"]
    )
    op.create_index("ix_firmware_updates_rollout", "firmware_updates", ["rollout_id"])
    op.create_table(
        "firmware_versions_seen",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), sa.ForeignKey("stations.id"), nullable=False),
        sa.Column("version", sa.String(50), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_firmware_versions_seen_station", "firmware_versions_seen", ["station_id", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_firmware_versions_seen_station", "firmware_versions_seen")
    op.drop_table("firmware_versions_seen")
    op.drop_index("ix_firmware_updates_rollout", "firmware_updates")
    op.drop_index("ix_firmware_updates_station", "firmware_updates")
    op.drop_table("firmware_updates")
    op.drop_table("firmware_rollouts")
    op.drop_index("ix_firmware_images_vendor", "firmware_images")
    op.drop_table("firmware_images")
