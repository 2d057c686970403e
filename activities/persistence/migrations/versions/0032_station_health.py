"""station health: liveness and health on stations, liveness changes, fault rules,
incidents with their timelines, alert rules and deliveries

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

from activities.persistence.types import UTCDateTime

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("liveness", sa.String(16)))
        batch.add_column(sa.Column("liveness_at", UTCDateTime()))
        batch.add_column(sa.Column("health", sa.String(16)))
        batch.add_column(sa.Column("health_at", UTCDateTime()))
        batch.add_column(sa.Column("health_reason", sa.Text()))
    op.create_table(
        "liveness_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16)),
        sa.Column("cause", sa.String(200)),
        sa.Column("node_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_liveness_changes_station_at", "liveness_changes", ["station_id", "at"])
    op.create_table(
        "fault_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16)),
        sa.Column("state", sa.String(100)),
        sa.Column("error_code", sa.String(50)),
        sa.Column("vendor_error_code", sa.String(50)),
        sa.Column("tech_code", sa.String(50)),
        sa.Column("vendor", sa.String(50)),
        sa.Column("model", sa.String(50)),
        sa.Column("fault_class", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("playbook", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200)),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(64)),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("fault_class", sa.String(16), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("fault_since", UTCDateTime(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
    )
    op.create_index("ix_incidents_station_key", "incidents", ["station_id", "key", "state"])
    op.create_index("ix_incidents_site_id", "incidents", ["site_id"])
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_table(
        "incident_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.String(36),
            sa.ForeignKey("incidents.id", name="fk_incident_events_incident_id_incidents"),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
    )
    op.create_index("ix_incident_events_incident_at", "incident_events", ["incident_id", "at"])
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(1000), nullable=False),
        sa.Column("secret", sa.String(200)),
        sa.Column("min_severity", sa.String(16), nullable=False),
        sa.Column("site_id", sa.String(64)),
        sa.Column("repeat_after_s", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "rule_id",
            sa.String(36),
            sa.ForeignKey("alert_rules.id", name="fk_alert_deliveries_rule_id_alert_rules"),
            nullable=False,
        ),
        sa.Column(
            "incident_id",
            sa.String(36),
            sa.ForeignKey("incidents.id", name="fk_alert_deliveries_incident_id_incidents"),
            nullable=False,
        ),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime()),
        sa.UniqueConstraint("rule_id", "incident_id", "event", name="uq_alert_deliveries_once"),
    )
    op.create_index(
        "ix_alert_deliveries_rule_station",
        "alert_deliveries",
        ["rule_id", "station_id", "key", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alert_rules")
    op.drop_table("incident_events")
    op.drop_table("incidents")
    op.drop_table("fault_rules")
    op.drop_table("liveness_changes")
    with op.batch_alter_table("stations") as batch:
        for column in ("health_reason", "health_at", "health", "liveness_at", "liveness"):
            batch.drop_column(column)
