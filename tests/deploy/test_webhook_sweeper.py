"""The worker's sweeper starts the webhook deliveries the API queued but could not
start (Temporal unreachable, or the API stopped between its commit and the start)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.persistence.models import DrDelivery
from deploy.webhook_sweeper import sweep_once
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import WebhookReceiver
from tests.workflows.test_webhooks import _queued, _row
from workflows.webhooks import webhook_workflow_id


@pytest.fixture
async def own_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database of this test's own: the sweeper starts every unstarted delivery,
    and the shared one holds other tests' (for callbacks that do not exist)."""
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    await upgrade_async(url)
    database = Database(url)
    yield database
    await database.dispose()


async def test_the_sweeper_starts_what_nobody_started_and_only_once(
    time_skipping: WorkflowEnvironment, own_db: Database
) -> None:
    client, queue, sqlite_db = time_skipping.client, unique("sweep-q"), own_db
    with WebhookReceiver() as receiver:
        ident = await _queued(sqlite_db, receiver.url)
        fresh = await _queued(sqlite_db, receiver.url)
        async with sqlite_db.sessions.begin() as session:
            # Queued a minute ago; the other just now (the API may still start it).
            await session.execute(
                update(DrDelivery)
                .where(DrDelivery.id == ident)
                .values(created_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        async with build_worker(client, sqlite_db, queue):
            assert await sweep_once(client, sqlite_db, queue) == 1
            assert await sweep_once(client, sqlite_db, queue) == 0  # marked started
            result = await client.get_workflow_handle(webhook_workflow_id(ident)).result()
            assert result == "delivered"
    assert len(receiver.calls) == 1
    row = await _row(sqlite_db, ident)
    assert row.started_at is not None and row.status == "delivered"
    untouched = await _row(sqlite_db, fresh)
    assert untouched.started_at is None and untouched.status == "pending"
