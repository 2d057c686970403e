"""A station's liveness: its current state on the station row and every change kept
with its cause (what uptime and incident timelines are computed from)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import LivenessChange, Station, StationConnection


@dataclass(frozen=True)
class Change:
    """One transition as a gateway node saw it on one of its connections."""

    station_id: str
    state: str
    previous: str | None
    cause: str | None
    at: datetime
    node_id: str
    connection_id: str


async def record(session: AsyncSession, change: Change) -> bool:
    """Keep a transition; False (nothing kept) if it is stale: an ``offline`` of a
    connection another one has replaced (the station reconnected, maybe elsewhere)."""
    if change.state == "offline":
        holder = await session.get(StationConnection, change.station_id)
        if holder is not None and holder.connection_id != change.connection_id:
            return False
    station = await session.get(Station, change.station_id)
    if station is None:
        return False
    station.liveness, station.liveness_at = change.state, change.at
    session.add(
        LivenessChange(
            station_id=change.station_id,
            at=change.at,
            state=change.state,
            previous=change.previous,
            cause=(change.cause or "")[:200] or None,
            node_id=change.node_id,
        )
    )
    return True


async def changes(
    session: AsyncSession,
    station_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> Sequence[LivenessChange]:
    """A station's transitions in time order (within the window, if given)."""
    query = select(LivenessChange).where(LivenessChange.station_id == station_id)
    if since is not None:
        query = query.where(LivenessChange.at >= since)
    if until is not None:
        query = query.where(LivenessChange.at <= until)
    query = query.order_by(LivenessChange.at, LivenessChange.id).limit(limit)
    return (await session.scalars(query)).all()


async def state_at(session: AsyncSession, station_id: str, at: datetime) -> str | None:
    """The station's liveness at ``at`` (the last change before it)."""
    return await session.scalar(
        select(LivenessChange.state)
        .where(LivenessChange.station_id == station_id, LivenessChange.at < at)
        .order_by(LivenessChange.at.desc(), LivenessChange.id.desc())
        .limit(1)
    )
