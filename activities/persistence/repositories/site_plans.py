"""The commands of a site's plans, stored per station in the order they are sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import SitePlanCommand


async def store_commands(
    session: AsyncSession,
    site_id: str,
    plan: int,
    by_station: Mapping[str, Sequence[dict[str, Any]]],
) -> None:
    """Keep ``plan``'s commands and forget the site's earlier plans (a delivery of an
    older plan still under way then finds nothing left to send; the newer one does)."""
    await session.execute(
        delete(SitePlanCommand).where(
            SitePlanCommand.site_id == site_id, SitePlanCommand.plan < plan
        )
    )
    rows = [
        {"site_id": site_id, "plan": plan, "station_id": station, "seq": n, "request": request}
        for station, requests in by_station.items()
        for n, request in enumerate(requests)
    ]
    if rows:
        await session.execute(insert(SitePlanCommand), rows)


async def commands_for(
    session: AsyncSession, site_id: str, plan: int, station_ids: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """``plan``'s commands for these stations, each station's in order."""
    wanted = list(station_ids)
    found: dict[str, list[dict[str, Any]]] = {}
    # In chunks: a node may hold thousands of a site's stations.
    for first in range(0, len(wanted), 500):
        rows = await session.scalars(
            select(SitePlanCommand)
            .where(
                SitePlanCommand.site_id == site_id,
                SitePlanCommand.plan == plan,
                SitePlanCommand.station_id.in_(wanted[first : first + 500]),
            )
            .order_by(SitePlanCommand.station_id, SitePlanCommand.seq)
        )
        for row in rows:
            found.setdefault(row.station_id, []).append(row.request)
    return found
