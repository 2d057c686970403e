"""Sites and their energy price."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import Site


async def create_site(
    session: AsyncSession,
    site_id: str,
    name: str,
    price_per_kwh: Decimal,
    currency: str,
    time_zone: str = "UTC",
) -> Site:
    """Add a site; the caller commits (a duplicate id fails on commit)."""
    site = Site(
        id=site_id,
        name=name,
        price_per_kwh=price_per_kwh,
        currency=currency.upper(),
        time_zone=time_zone,
    )
    session.add(site)
    await session.flush()
    return site


async def get_site(session: AsyncSession, site_id: str) -> Site | None:
    """The site with ``site_id``, or None."""
    return await session.get(Site, site_id)


async def get_sites(session: AsyncSession, site_ids: Iterable[str]) -> dict[str, Site]:
    """The sites with these ids, by id (missing ones are absent)."""
    wanted = set(site_ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(Site).where(Site.id.in_(wanted)))
    return {site.id: site for site in rows}


async def list_sites(session: AsyncSession) -> Sequence[Site]:
    """All sites ordered by id."""
    return (await session.scalars(select(Site).order_by(Site.id))).all()
