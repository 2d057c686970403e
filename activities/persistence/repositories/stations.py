"""Stations, their connectors, and what their BootNotification told us."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from activities.persistence.models import Connector, Station


async def get_station(session: AsyncSession, station_id: str) -> Station | None:
    """The station with ``station_id`` (connectors loaded), or None."""
    return await session.get(Station, station_id, options=[selectinload(Station.connectors)])


async def list_stations(
    session: AsyncSession, *, site_id: str | None = None, limit: int = 100, offset: int = 0
) -> Sequence[Station]:
    """Stations ordered by id, optionally of one site."""
    query = select(Station).options(selectinload(Station.connectors)).order_by(Station.id)
    if site_id is not None:
        query = query.where(Station.site_id == site_id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def record_boot(
    session: AsyncSession,
    station: Station,
    *,
    vendor: str,
    model: str,
    serial_number: str | None,
    firmware_version: str | None,
    ocpp_version: str,
    at: datetime,
) -> None:
    """Store what a BootNotification reported."""
    station.vendor = vendor
    station.model = model
    station.serial_number = serial_number
    station.firmware_version = firmware_version
    station.ocpp_version = ocpp_version
    station.last_boot_at = at
    station.last_seen_at = at
    await session.flush()


async def touch(session: AsyncSession, station_id: str, at: datetime) -> None:
    """Record that the station was heard from at ``at``."""
    await session.execute(update(Station).where(Station.id == station_id).values(last_seen_at=at))


async def set_connector_status(
    session: AsyncSession,
    station_id: str,
    connector_id: int,
    *,
    status: str,
    error_code: str | None,
    info: str | None,
    vendor_error_code: str | None,
    at: datetime,
) -> Connector:
    """Upsert the status of one connector (0 = the whole station)."""
    connector = await session.get(Connector, (station_id, connector_id))
    if connector is None:
        connector = Connector(
            station_id=station_id, connector_id=connector_id, status=status, status_at=at
        )
        session.add(connector)
    elif connector.status_at > at:
        # A delayed, older notification must not overwrite a newer status.
        return connector
    connector.status = status
    connector.error_code = error_code
    connector.info = info
    connector.vendor_error_code = vendor_error_code
    connector.status_at = at
    await session.flush()
    return connector
