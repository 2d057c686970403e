"""Connection registry: which gateway node holds each station's socket."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import StationConnection


@dataclass(frozen=True, slots=True)
class Registration:
    """That ``node_id`` now holds the station's socket, as connection ``connection_id``."""

    station_id: str
    node_id: str
    connection_id: str
    ocpp_version: str
    remote_address: str | None
    connected_at: datetime


@dataclass(frozen=True, slots=True)
class Departure:
    """That connection ``connection_id`` of the station closed."""

    station_id: str
    connection_id: str


async def register(session: AsyncSession, registrations: Sequence[Registration]) -> list[None]:
    """Record each registration, replacing the station's older entry.

    One executemany upsert for all: thousands of stations connect at once after
    an outage. Of two registrations of one station, the later wins.
    """
    latest = {r.station_id: r for r in registrations}
    table = cast(Table, StationConnection.__table__)
    statement = dialect_insert(session)(table)
    statement = statement.on_conflict_do_update(
        index_elements=["station_id"],
        set_={name: statement.excluded[name] for name in _REGISTRATION_COLUMNS},
    )
    connection = await session.connection()
    await connection.execute(statement, [asdict(r) for r in latest.values()])
    return [None] * len(registrations)


_REGISTRATION_COLUMNS = (
    "node_id",
    "connection_id",
    "ocpp_version",
    "remote_address",
    "connected_at",
)


async def unregister(session: AsyncSession, departures: Sequence[Departure]) -> list[None]:
    """Forget each connection, unless a newer connection of the station replaced it."""
    table = cast(Table, StationConnection.__table__)
    connection = await session.connection()
    await connection.execute(
        delete(table).where(
            table.c.station_id == bindparam("d_station"),
            table.c.connection_id == bindparam("d_connection"),
        ),
        [{"d_station": d.station_id, "d_connection": d.connection_id} for d in departures],
    )
    return [None] * len(departures)


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
