"""Connection registry: which gateway node holds each station's socket."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import StationConnection


async def register(
    session: AsyncSession,
    *,
    station_id: str,
    node_id: str,
    connection_id: str,
    ocpp_version: str,
    remote_address: str | None,
    at: datetime,
) -> None:
    """Record that ``node_id`` now holds the station (replacing any older entry).

    One upsert statement: thousands of stations connect at once after an outage.
    """
    values = {
        "node_id": node_id,
        "connection_id": connection_id,
        "ocpp_version": ocpp_version,
        "remote_address": remote_address,
        "connected_at": at,
    }
    statement = dialect_insert(session)(StationConnection).values(station_id=station_id, **values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["station_id"], set_=values)
    )


async def unregister(session: AsyncSession, station_id: str, connection_id: str) -> None:
    """Forget a connection, unless a newer connection of the station already replaced it."""
    await session.execute(
        delete(StationConnection).where(
            StationConnection.station_id == station_id,
            StationConnection.connection_id == connection_id,
        )
    )


async def clear_node(session: AsyncSession, node_id: str) -> None:
    """Forget every connection of a node (on its start and clean shutdown)."""
    await session.execute(delete(StationConnection).where(StationConnection.node_id == node_id))


async def connections(
    session: AsyncSession, station_ids: Sequence[str] | None = None
) -> dict[str, StationConnection]:
    """Live connections by station id (all, or of the given stations)."""
    query = select(StationConnection)
    if station_ids is not None:
        query = query.where(StationConnection.station_id.in_(station_ids))
    return {row.station_id: row for row in (await session.scalars(query)).all()}
