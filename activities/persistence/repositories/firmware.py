"""Firmware: the image catalogue, per-station updates, campaigns' rows, and the
versions stations reported at boot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import (
    FirmwareImage,
    FirmwareUpdateRow,
    FirmwareVersionSeen,
    Site,
    Station,
    Transaction,
)

FINAL = frozenset({"succeeded", "failed", "deferred", "cancelled"})
"""Statuses of an update that is over."""


def fits(image: FirmwareImage, vendor: str | None, model: str | None) -> bool:
    """Whether ``image`` is made for a station of this vendor and model."""
    return (
        vendor is not None
        and vendor.casefold() == image.vendor.casefold()
        and (model is not None and model.casefold() in {m.casefold() for m in image.models})
    )


async def images(session: AsyncSession) -> Sequence[FirmwareImage]:
    """The catalogue, newest first."""
    found = await session.scalars(
        select(FirmwareImage).order_by(FirmwareImage.created_at.desc(), FirmwareImage.id)
    )
    return found.all()


@dataclass(frozen=True)
class ModelStanding:
    """One vendor's model: its recommended image and the stations not on its version."""

    vendor: str
    model: str
    recommended: FirmwareImage | None
    stations: int
    outdated: list[tuple[str, str | None]]
    """(station, its version) of each station not on the recommended version."""


async def standings(session: AsyncSession) -> list[ModelStanding]:
    """Per vendor and model among the stations: which are not on the recommended
    version (the newest recommended image that fits the model)."""
    catalogue = [image for image in await images(session) if image.recommended]
    rows = await session.execute(
        select(Station.id, Station.vendor, Station.model, Station.firmware_version)
        .where(Station.vendor.is_not(None), Station.model.is_not(None))
        .order_by(Station.vendor, Station.model, Station.id)
    )
    by_model: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for station_id, vendor, model, version in rows:
        if vendor is not None and model is not None:
            by_model.setdefault((vendor, model), []).append((station_id, version))
    result = []
    for (vendor, model), members in by_model.items():
        recommended = next((i for i in catalogue if fits(i, vendor, model)), None)
        outdated = (
            [] if recommended is None else [(s, v) for s, v in members if v != recommended.version]
        )
        result.append(ModelStanding(vendor, model, recommended, len(members), outdated))
    return result


@dataclass(frozen=True)
class Candidate:
    """A station a campaign may target, with what targeting and pacing need."""

    station_id: str
    site_id: str | None
    vendor: str | None
    model: str | None
    firmware_version: str | None
    ocpp_version: str | None
    time_zone: str


async def candidates(
    session: AsyncSession,
    *,
    station_ids: Iterable[str] | None = None,
    site_ids: Iterable[str] | None = None,
    vendor: str | None = None,
    model: str | None = None,
    current_version: str | None = None,
) -> list[Candidate]:
    """Stations matching every filter given (none given: every station)."""
    query = (
        select(
            Station.id,
            Station.site_id,
            Station.vendor,
            Station.model,
            Station.firmware_version,
            Station.ocpp_version,
            func.coalesce(Site.time_zone, "UTC"),
        )
        .outerjoin(Site, Site.id == Station.site_id)
        .order_by(Station.id)
    )
    if station_ids is not None:
        query = query.where(Station.id.in_(list(station_ids)))
    if site_ids is not None:
        query = query.where(Station.site_id.in_(list(site_ids)))
    if vendor is not None:
        query = query.where(func.lower(Station.vendor) == vendor.lower())
    if model is not None:
        query = query.where(func.lower(Station.model) == model.lower())
    if current_version is not None:
        query = query.where(Station.firmware_version == current_version)
    return [Candidate(*row) for row in await session.execute(query)]


async def site_sizes(session: AsyncSession, site_ids: Iterable[str]) -> dict[str, int]:
    """How many chargers each site has (all of them, targeted or not)."""
    rows = await session.execute(
        select(Station.site_id, func.count())
        .where(Station.site_id.in_(list(site_ids)))
        .group_by(Station.site_id)
    )
    return {site: count for site, count in rows if site is not None}


async def busy(session: AsyncSession, station_id: str) -> bool:
    """Whether a transaction is open on the station."""
    found = await session.scalar(
        select(Transaction.id)
        .where(Transaction.station_id == station_id, Transaction.status == "active")
        .limit(1)
    )
    return found is not None


async def open_update_of_workflow(
    session: AsyncSession, workflow_id: str
) -> FirmwareUpdateRow | None:
    """The unfinished update a workflow follows. Only an unfinished one: a station's
    own updates share one workflow id (``firmware:{station}``), run after run, and a
    new run's update is not its predecessor's."""
    return await session.scalar(
        select(FirmwareUpdateRow)
        .where(
            FirmwareUpdateRow.workflow_id == workflow_id, FirmwareUpdateRow.finished_at.is_(None)
        )
        .order_by(FirmwareUpdateRow.id.desc())
        .limit(1)
    )


async def open_update(
    session: AsyncSession, station_id: str, request_id: int | None
) -> FirmwareUpdateRow | None:
    """The station's own unfinished update with ``request_id`` (None: its latest one,
    as 1.6 FirmwareStatusNotification names none)."""
    if request_id is not None and not 0 <= request_id < 2**63:
        return None  # no row has such an id (and it would overflow the column)
    query = select(FirmwareUpdateRow).where(
        FirmwareUpdateRow.station_id == station_id, FirmwareUpdateRow.finished_at.is_(None)
    )
    if request_id is not None:
        query = query.where(FirmwareUpdateRow.id == request_id)
    return await session.scalar(query.order_by(FirmwareUpdateRow.id.desc()).limit(1))


async def charger_status(
    session: AsyncSession,
    station_id: str,
    request_id: int | None,
    status: str,
    at: datetime,
) -> FirmwareUpdateRow | None:
    """Keep what the charger reported on its own open update; the update, or None if
    the station has no such update (a status nobody asked for is only kept as a
    notice)."""
    found = await open_update(session, station_id, request_id)
    if found is not None:
        found.charger_status = status[:40]
        found.updated_at = at
    return found


async def open_updates_of(session: AsyncSession, station_ids: Iterable[str]) -> dict[str, str]:
    """The workflow of each station's unfinished update that was sent (a boot wakes it)."""
    rows = await session.execute(
        select(FirmwareUpdateRow.station_id, FirmwareUpdateRow.workflow_id)
        .where(
            FirmwareUpdateRow.station_id.in_(list(station_ids)),
            FirmwareUpdateRow.finished_at.is_(None),
        )
        .order_by(FirmwareUpdateRow.id)
    )
    return {station: workflow_id for station, workflow_id in rows}


async def history(session: AsyncSession, station_id: str, limit: int = 100) -> dict[str, list]:
    """A station's firmware history: its updates and the versions it booted with."""
    updates = await session.scalars(
        select(FirmwareUpdateRow)
        .where(FirmwareUpdateRow.station_id == station_id)
        .order_by(FirmwareUpdateRow.id.desc())
        .limit(limit)
    )
    seen = await session.scalars(
        select(FirmwareVersionSeen)
        .where(FirmwareVersionSeen.station_id == station_id)
        .order_by(FirmwareVersionSeen.at.desc(), FirmwareVersionSeen.id.desc())
        .limit(limit)
    )
    return {"updates": list(updates.all()), "versions": list(seen.all())}


async def rollout_counts(session: AsyncSession, rollout_id: str) -> dict[str, int]:
    """How many of a campaign's updates are in each status (stored view)."""
    rows = await session.execute(
        select(FirmwareUpdateRow.status, func.count())
        .where(FirmwareUpdateRow.rollout_id == rollout_id)
        .group_by(FirmwareUpdateRow.status)
    )
    return {status: count for status, count in rows}
