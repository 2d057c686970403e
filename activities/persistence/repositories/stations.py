"""Stations, their connectors, and what their BootNotification told us."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from activities.persistence.models import Connector, Station
from workflows.domain import ConnectorStatus, StationIdentity


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
    session: AsyncSession, station_id: str, identity: StationIdentity, at: datetime
) -> tuple[str, str | None] | None:
    """Store what a BootNotification reported; the station's registration status and
    site, or None if it does not exist. One statement."""
    statement = (
        update(Station)
        .where(Station.id == station_id)
        .values(
            vendor=identity.vendor,
            model=identity.model,
            serial_number=identity.serial_number,
            firmware_version=identity.firmware_version,
            ocpp_version=identity.ocpp_version,
            last_boot_at=at,
            last_seen_at=at,
        )
        .returning(Station.registration_status, Station.site_id)
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else (row[0], row[1])


async def set_connector_status(
    session: AsyncSession, station_id: str, status: ConnectorStatus
) -> Connector:
    """Upsert the status of one connector (EVSE 0 = the whole station)."""
    key = (station_id, status.evse_id, status.connector_id)
    connector = await session.get(Connector, key)
    if connector is None:
        connector = Connector(
            station_id=station_id,
            evse_id=status.evse_id,
            connector_id=status.connector_id,
            status=status.status,
            status_at=status.at,
        )
        session.add(connector)
    elif connector.status_at > status.at:
        # A delayed, older notification must not overwrite a newer status.
        return connector
    connector.status = status.status
    connector.error_code = status.error_code
    connector.info = status.info
    connector.vendor_error_code = status.vendor_error_code
    connector.status_at = status.at
    await session.flush()
    return connector


async def existing_ids(
    session: AsyncSession, *, station_ids: Sequence[str] | None = None, site_id: str | None = None
) -> list[str]:
    """Ids of registered stations among ``station_ids`` and/or of ``site_id``, sorted."""
    query = select(Station.id).order_by(Station.id)
    if station_ids is not None:
        query = query.where(Station.id.in_(station_ids))
    if site_id is not None:
        query = query.where(Station.site_id == site_id)
    return list((await session.scalars(query)).all())
