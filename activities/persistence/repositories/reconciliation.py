"""Reconciliation inbox: messages that could not be matched, kept for an operator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import ReconciliationItem


def add_item(
    session: AsyncSession, *, station_id: str, kind: str, payload: dict[str, Any], note: str
) -> ReconciliationItem:
    """Record an unmatched message in the caller's transaction."""
    item = ReconciliationItem(station_id=station_id, kind=kind, payload=payload, note=note)
    session.add(item)
    return item


async def open_items(
    session: AsyncSession, *, station_id: str | None = None, limit: int = 100
) -> Sequence[ReconciliationItem]:
    """Unresolved items, oldest first."""
    query = select(ReconciliationItem).where(ReconciliationItem.resolved_at.is_(None))
    if station_id is not None:
        query = query.where(ReconciliationItem.station_id == station_id)
    return (await session.scalars(query.order_by(ReconciliationItem.id).limit(limit))).all()
