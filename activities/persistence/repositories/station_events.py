"""Notifications stations send that operators read later (firmware, logs, security, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import StationEvent


def add_event(
    session: AsyncSession, *, station_id: str, kind: str, payload: dict[str, Any]
) -> StationEvent:
    """Record a notification in the caller's transaction."""
    event = StationEvent(station_id=station_id, kind=kind, payload=payload)
    session.add(event)
    return event


async def events_of(
    session: AsyncSession, station_id: str, *, kind: str | None = None, limit: int = 100
) -> Sequence[StationEvent]:
    """A station's notifications, newest first."""
    query = select(StationEvent).where(StationEvent.station_id == station_id)
    if kind is not None:
        query = query.where(StationEvent.kind == kind)
    query = query.order_by(StationEvent.received_at.desc(), StationEvent.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
