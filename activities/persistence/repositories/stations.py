"""Stations, their connectors, and what their BootNotification told us."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import String, Table, bindparam, insert, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from activities.persistence.models import (
    Connector,
    ConnectorStatusHistory,
    FirmwareVersionSeen,
    Station,
)
from activities.persistence.repositories import firmware
from activities.persistence.types import UTCDateTime
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


@dataclass(frozen=True, slots=True)
class Admission:
    """What the gateway needs to admit a connection of the station."""

    id: str
    registration_status: str
    site_id: str | None
    security_profile: int
    password_hash: str | None
    ocpp_version: str | None
    pending_password_hash: str | None = None
    pending_security_profile: int | None = None


async def admissions(session: AsyncSession, station_ids: Sequence[str]) -> list[Admission | None]:
    """Each station's admission facts (None for an unknown id); one query for all."""
    rows = await session.execute(
        select(
            Station.id,
            Station.registration_status,
            Station.site_id,
            Station.security_profile,
            Station.password_hash,
            Station.ocpp_version,
            Station.pending_password_hash,
            Station.pending_security_profile,
        ).where(Station.id.in_(set(station_ids)))
    )
    found = {row[0]: Admission(*row) for row in rows}
    return [found.get(station_id) for station_id in station_ids]


async def offer_security_profile(session: AsyncSession, station_id: str, profile: int) -> None:
    """The station accepted a network profile of ``profile``: it takes effect at its
    first connection that meets it (:func:`raise_security_profile`)."""
    station = await session.get(Station, station_id, with_for_update=True)
    if station is not None and profile > station.security_profile:
        station.pending_security_profile = profile


async def raise_security_profile(session: AsyncSession, station_id: str, profile: int) -> None:
    """The station connected at the profile it was moved to: from now on, no lower."""
    station = await session.get(Station, station_id, with_for_update=True)
    if station is not None and station.pending_security_profile == profile:
        station.security_profile = max(station.security_profile, profile)
        station.pending_security_profile = None


def pending_hashes(stored: str | None) -> list[str]:
    """The unconfirmed password hashes of a station, oldest first."""
    return [h for h in (stored or "").split("\n") if h]


async def set_pending_password(session: AsyncSession, station_id: str, hashed: str) -> None:
    """A new password is about to be sent to the station: accept it at the handshake
    as well as the current one and any other unconfirmed one, until one is proven."""
    station = await session.get(Station, station_id, with_for_update=True)
    if station is not None:
        station.pending_password_hash = "\n".join(
            [*pending_hashes(station.pending_password_hash), hashed][-5:]
        )


async def confirm_password(session: AsyncSession, station_id: str, hashed: str) -> None:
    """The station holds ``hashed``'s password (it accepted it, or authenticated with
    it): that is the password now, and no other is pending."""
    await session.execute(
        update(Station)
        .where(Station.id == station_id)
        .values(password_hash=hashed, pending_password_hash=None)
    )


async def rehash_password(session: AsyncSession, station_id: str, old: str, new: str) -> None:
    """Replace an outdated hash of the current password, if it is still the current one."""
    await session.execute(
        update(Station)
        .where(Station.id == station_id, Station.password_hash == old)
        .values(password_hash=new)
    )


async def drop_pending_password(session: AsyncSession, station_id: str, hashed: str) -> None:
    """The station refused the password of ``hashed``: that one is no longer pending
    (others, from rotations whose answer was lost, still are)."""
    station = await session.get(Station, station_id, with_for_update=True)
    if station is not None:
        left = [h for h in pending_hashes(station.pending_password_hash) if h != hashed]
        station.pending_password_hash = "\n".join(left) or None


@dataclass(frozen=True, slots=True)
class Boot:
    """A BootNotification: who reported what, when."""

    station_id: str
    identity: StationIdentity
    at: datetime


async def record_boot(
    session: AsyncSession, boots: Sequence[Boot]
) -> list[tuple[str, str | None, str | None] | None]:
    """Store what each BootNotification reported; answer each station's registration
    status, site and the workflow of its firmware update under way (a boot is how
    an update ends), or None if it does not exist. Four statements for all."""
    table = cast(Table, Station.__table__)
    seen = cast(Table, FirmwareVersionSeen.__table__)
    connection = await session.connection()
    # A version different from the last one reported is the station's firmware history.
    await connection.execute(
        insert(seen).from_select(
            ["station_id", "version", "at"],
            select(
                table.c.id,
                cast_(bindparam("b_version", type_=String(50)), String(50)),
                bindparam("b_at", type_=UTCDateTime()),
            ).where(
                table.c.id == bindparam("b_id"),
                table.c.firmware_version.is_distinct_from(bindparam("b_version")),
            ),
        ),
        [
            {"b_id": b.station_id, "b_version": b.identity.firmware_version, "b_at": b.at}
            for b in boots
        ],
    )
    # Parameters named like columns fill the SET clause (the executemany idiom).
    await connection.execute(
        update(table).where(table.c.id == bindparam("b_id")),
        [
            {
                "b_id": boot.station_id,
                "vendor": boot.identity.vendor,
                "model": boot.identity.model,
                "serial_number": boot.identity.serial_number,
                "firmware_version": boot.identity.firmware_version,
                "ocpp_version": boot.identity.ocpp_version,
                "last_boot_at": boot.at,
                "last_seen_at": boot.at,
            }
            for boot in boots
        ],
    )
    ids = {boot.station_id for boot in boots}
    rows = await connection.execute(
        select(table.c.id, table.c.registration_status, table.c.site_id).where(table.c.id.in_(ids))
    )
    found = {row[0]: (row[1], row[2]) for row in rows}
    updates = await firmware.open_updates_of(session, ids)
    return [
        None
        if boot.station_id not in found
        else (*found[boot.station_id], updates.get(boot.station_id))
        for boot in boots
    ]


async def set_connector_status(
    session: AsyncSession, station_id: str, status: ConnectorStatus
) -> Connector:
    """Upsert the status of one connector (EVSE 0 = the whole station), and keep it in
    the connector's history (a delayed notification too: it happened)."""
    session.add(
        ConnectorStatusHistory(
            station_id=station_id,
            evse_id=status.evse_id,
            connector_id=status.connector_id,
            at=status.at,
            state=status.status[:32],
            source="status",
        )
    )
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


async def set_charging_state(
    session: AsyncSession,
    station_id: str,
    evse_id: int,
    connector_id: int,
    state: str,
    at: datetime,
) -> None:
    """Keep the 2.x charging state of a connector's transaction (newest wins), and
    every one in the connector's history."""
    session.add(
        ConnectorStatusHistory(
            station_id=station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            at=at,
            state=state[:32],
            source="charging_state",
        )
    )
    connector = await session.get(Connector, (station_id, evse_id, connector_id))
    if connector is None:
        connector = Connector(
            station_id=station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            status="Occupied",
            status_at=at,
        )
        session.add(connector)
    elif connector.charging_state_at is not None and connector.charging_state_at > at:
        return
    connector.charging_state, connector.charging_state_at = state[:32], at
    await session.flush()


SUSPENDED_BY_EV = "SuspendedEV"
"""The car takes nothing now (1.6 status, 2.x chargingState): full, or paused itself."""


async def suspended_by_ev(
    session: AsyncSession, points: Sequence[tuple[str, int, datetime]]
) -> set[tuple[str, int]]:
    """Which of these (station, EVSE, since) points have a car that takes nothing now,
    as said since ``since`` (the session's start: an earlier car's state is not this
    one's)."""
    if not points:
        return set()
    since = {(station, evse): at for station, evse, at in points}
    rows = await session.scalars(
        select(Connector).where(Connector.station_id.in_({station for station, _, _ in points}))
    )
    found = set()
    for c in rows:
        began = since.get((c.station_id, c.evse_id))
        if began is None:
            continue
        by_status = c.status == SUSPENDED_BY_EV and c.status_at >= began
        by_state = (
            c.charging_state == SUSPENDED_BY_EV
            and c.charging_state_at is not None
            and c.charging_state_at >= began
        )
        if by_status or by_state:
            found.add((c.station_id, c.evse_id))
    return found


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
