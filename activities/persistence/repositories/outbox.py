"""Transactional outbox: lifecycle events committed with their cause, delivered later.

A row lives only until Temporal has accepted its event; then it is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import OutboxEvent

TRACE = "trace"
"""Payload key: the W3C trace context of the message that caused the event."""


def enqueue(
    session: AsyncSession, *, node_id: str, kind: str, workflow_id: str, payload: dict[str, Any]
) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction, with the trace context
    of the message being handled (its trace then goes on in Temporal)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        payload = {**payload, TRACE: carrier}
    event = OutboxEvent(node_id=node_id, kind=kind, workflow_id=workflow_id, payload=payload)
    session.add(event)
    return event


async def pending(
    session: AsyncSession,
    *,
    node_id: str | None = None,
    orphaned_before: datetime | None = None,
    created_before: datetime | None = None,
    after_id: int = 0,
    limit: int = 200,
) -> Sequence[OutboxEvent]:
    """Undelivered, live events after ``after_id``, oldest first.

    With ``node_id``: that node's events, and other nodes' created before
    ``orphaned_before`` (their node may be gone). Filtered in SQL, so the rows of
    other nodes never fill a page.
    """
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.dead_at.is_(None), OutboxEvent.id > after_id)
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if created_before is not None:
        query = query.where(OutboxEvent.created_at < created_before)
    if node_id is not None:
        mine = OutboxEvent.node_id == node_id
        query = query.where(
            mine if orphaned_before is None else mine | (OutboxEvent.created_at < orphaned_before)
        )
    return (await session.scalars(query)).all()


async def depth(session: AsyncSession, node_id: str) -> int:
    """How many live events of a node wait for delivery."""
    found = await session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.node_id == node_id, OutboxEvent.dead_at.is_(None))
    )
    return int(found or 0)


async def dead_letters(
    session: AsyncSession, *, after_id: int = 0, limit: int = 100
) -> Sequence[OutboxEvent]:
    """Events that can never be delivered as they are, oldest first."""
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.dead_at.is_not(None), OutboxEvent.id > after_id)
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def mark_dead(session: AsyncSession, event_id: int, error: str, at: datetime) -> None:
    """Take an event out of delivery for good, with the reason."""
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .values(attempts=OutboxEvent.attempts + 1, last_error=error[:2000], dead_at=at)
    )


async def revive(session: AsyncSession, event_id: int) -> bool:
    """Put a dead letter back into delivery (after the cause was fixed); True if it was dead."""
    result = await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.dead_at.is_not(None))
        .values(dead_at=None, attempts=0)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove_delivered(session: AsyncSession, ids: Sequence[int]) -> None:
    """Forget events Temporal has accepted (in chunks: old SQLite builds bind 999
    parameters at most)."""
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(chunk)))


async def mark_failed(session: AsyncSession, event_id: int, error: str) -> None:
    """Count a failed delivery attempt and keep the reason."""
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .values(attempts=OutboxEvent.attempts + 1, last_error=error[:2000])
    )
