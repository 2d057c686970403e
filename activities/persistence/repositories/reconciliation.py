"""Reconciliation inbox: messages that could not be matched, kept for an operator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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


async def list_items(
    session: AsyncSession,
    *,
    state: str = "open",
    station_id: str | None = None,
    kind: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[ReconciliationItem]:
    """Items oldest first: ``open``, ``resolved`` or ``all``, after ``after_id``."""
    query = select(ReconciliationItem).where(ReconciliationItem.id > after_id)
    if state == "open":
        query = query.where(ReconciliationItem.resolved_at.is_(None))
    elif state == "resolved":
        query = query.where(ReconciliationItem.resolved_at.is_not(None))
    if station_id is not None:
        query = query.where(ReconciliationItem.station_id == station_id)
    if kind is not None:
        query = query.where(ReconciliationItem.kind == kind)
    return (await session.scalars(query.order_by(ReconciliationItem.id).limit(limit))).all()


async def resolve(
    session: AsyncSession, item_id: int, resolution: str, at: datetime
) -> ReconciliationItem | None:
    """Mark an open item resolved with what was done; None if unknown. An item resolved
    before keeps its first resolution (the caller sees ``resolved_at`` set)."""
    item = await session.get(ReconciliationItem, item_id)
    if item is not None and item.resolved_at is None:
        item.resolved_at, item.resolution = at, resolution
    return item
