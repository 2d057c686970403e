"""Subscribers hear of the changes they asked for: deliveries queued in the change's
transaction, their workflows started after it commits (best effort, bounded;
the worker's sweeper starts any left over)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.repositories import webhooks
from workflows.webhooks import start_deliveries

log = logging.getLogger(__name__)

START_TIMEOUT_S = 3.0


async def queue(
    session: AsyncSession,
    client_id: str,
    object_type: str,
    operation: str,
    obj: dict[str, Any],
    program_id: str | None,
    targets: Iterable[str] | None = None,
) -> list[str]:
    """Queue the notification of a change in the caller's transaction; the ids."""
    added = await webhooks.queue(
        session,
        client_id=client_id,
        object_type=object_type,
        operation=operation,
        obj=obj,
        program_id=program_id,
        targets=targets,
    )
    return [d.id for d in added]


async def send(request: Request, ids: list[str]) -> None:
    """After the commit: start the deliveries' workflows and mark them started."""
    if not ids:
        return

    async def go() -> None:
        client = await request.app.state.temporal.client()
        started = await start_deliveries(client, request.app.state.task_queue, ids)
        async with request.app.state.db.sessions.begin() as session:
            await webhooks.mark_started(session, started, datetime.now(UTC))

    try:
        await asyncio.wait_for(go(), START_TIMEOUT_S)
    except Exception as error:
        log.warning("webhook deliveries %s wait for the sweeper: %s", ids, error)
