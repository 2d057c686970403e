"""firmware updates: a workflow id names a station's updates run after run

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-02 16:30:00

``firmware:{station}`` is the workflow id of every update of a station made on its
own, one run after the other, so the id cannot be unique to a row (0027 made it so:
a station's second update failed). An index on it and the end of the row stays: an
update's row is found by its workflow at the workflow's start.
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# SQLite keeps 0027's constraint unnamed: batch mode names it to drop it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_on_workflow_id() -> str | None:
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("firmware_updates"):
        if constraint["column_names"] == ["workflow_id"]:
            return constraint["name"] or "uq_firmware_updates_workflow_id"
    return None


def upgrade() -> None:
    name = _unique_on_workflow_id()
    if name is not None:
        if op.get_bind().dialect.name == "sqlite":
            with op.batch_alter_table("firmware_updates", naming_convention=NAMING) as batch:
                batch.drop_constraint(name, type_="unique")
        else:
            op.drop_constraint(name, "firmware_updates", type_="unique")
    op.create_index(
        "ix_firmware_updates_workflow", "firmware_updates", ["workflow_id", "finished_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_firmware_updates_workflow", "firmware_updates")
    # The constraint is not restored: rows made since may share a workflow id.
