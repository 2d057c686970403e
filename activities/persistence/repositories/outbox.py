"""Transactional outbox: lifecycle events committed with their cause, delivered later.

A row lives only until Temporal has accepted its event; then it is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import OutboxEvent


def enqueue(
    session: AsyncSession, *, node_id: str, kind: str, workflow_id: str, payload: dict[str, Any]
) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction."""
    event = OutboxEvent(node_id=node_id, kind=kind, workflow_id=workflow_id, payload=payload)
    session.add(event)
    return event


async def pending(
    session: AsyncSession, *, created_before: datetime | None = None, limit: int = 200
) -> Sequence[OutboxEvent]:
    """Undelivered events, oldest first (optionally only those older than a moment)."""
    query = select(OutboxEvent).order_by(OutboxEvent.id).limit(limit)
    if created_before is not None:
        query = query.where(OutboxEvent.created_at < created_before)
    return (await session.scalars(query)).all()


async def remove_delivered(session: AsyncSession, ids: Sequence[int]) -> None:
    """Forget events Temporal has accepted."""
    if ids:
        await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))


async def mark_failed(session: AsyncSession, event_id: int, error: str) -> None:
    """Count a failed delivery attempt and keep the reason."""
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .values(attempts=OutboxEvent.attempts + 1, last_error=error[:2000])
    )
