"""Transactional outbox: lifecycle events committed with their cause, delivered later."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import OutboxEvent


def enqueue(
    session: AsyncSession, *, node_id: str, kind: str, workflow_id: str, payload: dict[str, Any]
) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction."""
    event = OutboxEvent(node_id=node_id, kind=kind, workflow_id=workflow_id, payload=payload)
    session.add(event)
    return event


async def pending(session: AsyncSession, *, limit: int = 200) -> Sequence[OutboxEvent]:
    """Undelivered events, oldest first."""
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.delivered_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def mark_delivered(session: AsyncSession, ids: Sequence[int], at: datetime) -> None:
    """Mark events delivered."""
    if ids:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(ids))
            .values(delivered_at=at, attempts=OutboxEvent.attempts + 1)
        )


async def mark_failed(session: AsyncSession, event_id: int, error: str) -> None:
    """Count a failed delivery attempt and keep the reason."""
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .values(attempts=OutboxEvent.attempts + 1, last_error=error[:2000])
    )
