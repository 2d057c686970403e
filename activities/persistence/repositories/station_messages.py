"""The per-station message log: every OCPP frame in and out, kept for a while."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import StationMessage


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert logged exchanges: one Core executemany (no ORM bookkeeping per row)."""
    if rows:
        connection = await session.connection()
        await connection.execute(insert(StationMessage), list(rows))


async def messages_of(
    session: AsyncSession,
    station_id: str,
    *,
    action: str | None = None,
    direction: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[StationMessage]:
    """A station's exchanges, newest first, optionally filtered."""
    query = select(StationMessage).where(StationMessage.station_id == station_id)
    if action is not None:
        query = query.where(StationMessage.action == action)
    if direction is not None:
        query = query.where(StationMessage.direction == direction)
    if since is not None:
        query = query.where(StationMessage.at >= since)
    if before_id is not None:
        query = query.where(StationMessage.id < before_id)
    query = query.order_by(StationMessage.at.desc(), StationMessage.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def purge_before(session: AsyncSession, cutoff: datetime, *, limit: int = 10_000) -> int:
    """Delete up to ``limit`` frames older than ``cutoff``; how many went."""
    old = select(StationMessage.id).where(StationMessage.at < cutoff).limit(limit)
    result = await session.execute(delete(StationMessage).where(StationMessage.id.in_(old)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
