"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.persistence.models import Base


async def test_models_and_migrations_agree(db: Database) -> None:
    """No difference between the migrated database and the models (both engines)."""

    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


async def test_a_station_updated_under_0027_can_be_updated_again_after_0028(tmp_path: Path) -> None:
    """0027 made an update's workflow id unique, though a station's own updates share
    ``firmware:{station}``; 0028 lifts that and keeps the rows."""
    url = f"sqlite:///{tmp_path / 'csms.db'}"
    await upgrade_async(url, "0027")
    row = (
        "INSERT INTO firmware_updates (station_id, image_id, workflow_id, target_version,"
        " status, requested_at, updated_at, finished_at)"
        " VALUES ('ST-1', 'img-1', 'firmware:ST-1', '2.0', :status, :at, :at, :done)"
    )
    at = datetime(2026, 12, 1, tzinfo=UTC)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO stations (id, registration_status, security_profile, created_at)"
                " VALUES ('ST-1', 'accepted', 0, :at)"
            ),
            {"at": at},
        )
        connection.execute(
            text(
                "INSERT INTO firmware_images (id, vendor, models, version, location, sha256,"
                " recommended, created_at) VALUES ('img-1', 'Acme', '[\"AC-22\"]', '2.0',"
                " 'https://firmware.example/1.bin', :sha, 0, :at)"
            ),
            {"sha": "0" * 64, "at": at},
        )
        connection.execute(text(row), {"status": "succeeded", "at": at, "done": at})
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(text(row), {"status": "requested", "at": at, "done": None})
    await upgrade_async(url)
    with engine.begin() as connection:
        connection.execute(text(row), {"status": "requested", "at": at, "done": None})
        statuses = connection.execute(
            text("SELECT status FROM firmware_updates ORDER BY id")
        ).scalars()
        assert list(statuses) == ["succeeded", "requested"]
    engine.dispose()
