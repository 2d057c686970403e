"""Starts the webhook deliveries nobody started: the API queues a delivery with the
change it reports and starts its workflow after the commit; when Temporal was
unreachable then, or the API stopped in between, this starts it (every
:data:`EVERY_S`, deliveries older than :data:`GRACE_S`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from activities.persistence.database import Database
from activities.persistence.repositories import webhooks
from workflows.webhooks import start_deliveries

log = logging.getLogger(__name__)

EVERY_S = 15.0
GRACE_S = 10.0


async def sweep_once(client: Client, db: Database, task_queue: str) -> int:
    """Start every unstarted delivery older than the grace period; how many."""
    async with db.sessions() as session:
        ids = await webhooks.unstarted(session, datetime.now(UTC) - timedelta(seconds=GRACE_S))
    if not ids:
        return 0
    started = await start_deliveries(client, task_queue, ids)
    async with db.sessions.begin() as session:
        await webhooks.mark_started(session, started, datetime.now(UTC))
    return len(started)


async def sweep_forever(client: Client, db: Database, task_queue: str) -> None:
    """:func:`sweep_once` every :data:`EVERY_S` until cancelled; errors are logged
    and the next round tries again."""
    while True:
        try:
            count = await sweep_once(client, db, task_queue)
            if count:
                log.info("started %d webhook deliveries left unstarted", count)
        except Exception as error:  # the database or Temporal may be restarting
            log.warning("webhook sweep failed: %s", error)
        await asyncio.sleep(EVERY_S)
