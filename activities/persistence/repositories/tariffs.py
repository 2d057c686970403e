"""Tariffs: versions that never change, and where each tariff applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.billing.tariffs import Tariff, parse_tariff
from activities.persistence.models import TariffAssignment, TariffVersion, utcnow

CUSTOMER_GROUPS = ("public", "fleet", "residents", "employees")


class TariffInUse(Exception):
    """A tariff that cannot be deleted: sessions are still priced with it."""


def stored_body(tariff: Tariff) -> dict[str, Any]:
    """``tariff`` as OCPI JSON with its numbers as decimal text (stored exactly)."""

    def text(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return {key: text(item) for key, item in value.items()}
        if isinstance(value, list):
            return [text(item) for item in value]
        return value

    body: dict[str, Any] = text(tariff.to_ocpi())
    return body


def as_tariff(row: TariffVersion) -> Tariff:
    """The stored version as the pricing engine's tariff."""
    return parse_tariff(row.body, parking_grace_s=row.parking_grace_s)


async def latest(session: AsyncSession, tariff_id: str) -> TariffVersion | None:
    """The newest version of a tariff that is not deleted, or None."""
    return await session.scalar(
        select(TariffVersion)
        .where(TariffVersion.tariff_id == tariff_id, TariffVersion.deleted_at.is_(None))
        .order_by(TariffVersion.version.desc())
        .limit(1)
    )


async def get_version(session: AsyncSession, tariff_id: str, version: int) -> TariffVersion | None:
    """One version (deleted tariffs' versions too: CDRs still name them)."""
    return await session.scalar(
        select(TariffVersion).where(
            TariffVersion.tariff_id == tariff_id, TariffVersion.version == version
        )
    )


async def versions(session: AsyncSession, tariff_id: str) -> Sequence[TariffVersion]:
    """Every version of a tariff, oldest first."""
    rows = await session.scalars(
        select(TariffVersion)
        .where(TariffVersion.tariff_id == tariff_id)
        .order_by(TariffVersion.version)
    )
    return rows.all()


async def list_latest(
    session: AsyncSession, *, limit: int = 100, offset: int = 0
) -> Sequence[TariffVersion]:
    """The newest version of each tariff that is not deleted, by id."""
    newest = (
        select(TariffVersion.tariff_id, func.max(TariffVersion.version).label("version"))
        .where(TariffVersion.deleted_at.is_(None))
        .group_by(TariffVersion.tariff_id)
        .subquery()
    )
    rows = await session.scalars(
        select(TariffVersion)
        .join(
            newest,
            (TariffVersion.tariff_id == newest.c.tariff_id)
            & (TariffVersion.version == newest.c.version),
        )
        .order_by(TariffVersion.tariff_id)
        .limit(limit)
        .offset(offset)
    )
    return rows.all()


async def exists(session: AsyncSession, tariff_id: str) -> bool:
    """True when the id was ever used (a deleted tariff's id is not given out again)."""
    found = await session.scalar(
        select(TariffVersion.id).where(TariffVersion.tariff_id == tariff_id).limit(1)
    )
    return found is not None


async def add_version(session: AsyncSession, tariff: Tariff) -> TariffVersion:
    """Store ``tariff`` as its id's next version (the first when it is new)."""
    current = await session.scalar(
        select(func.max(TariffVersion.version)).where(TariffVersion.tariff_id == tariff.id)
    )
    row = TariffVersion(
        tariff_id=tariff.id,
        version=(current or 0) + 1,
        currency=tariff.currency,
        body=stored_body(tariff),
        parking_grace_s=tariff.parking_grace_s,
    )
    session.add(row)
    await session.flush()
    return row


async def delete(session: AsyncSession, tariff_id: str) -> None:
    """Mark every version deleted; refused while the tariff is assigned anywhere."""
    assigned = await assignments(session, tariff_id)
    if assigned:
        where = ", ".join(_place(a) for a in assigned[:5])
        raise TariffInUse(f"tariff {tariff_id!r} is in use: assigned to {where}")
    now = utcnow()
    for row in await versions(session, tariff_id):
        if row.deleted_at is None:
            row.deleted_at = now


def _place(assignment: TariffAssignment) -> str:
    place = f"site {assignment.site_id}"
    if assignment.station_id:
        place += f" station {assignment.station_id}"
    if assignment.evse_id:
        place += f" EVSE {assignment.evse_id}"
    return f"{place} ({assignment.customer_group})"


async def assignments(session: AsyncSession, tariff_id: str) -> Sequence[TariffAssignment]:
    """Where a tariff applies."""
    rows = await session.scalars(
        select(TariffAssignment)
        .where(TariffAssignment.tariff_id == tariff_id)
        .order_by(TariffAssignment.id)
    )
    return rows.all()


async def assign(
    session: AsyncSession,
    tariff_id: str,
    site_id: str,
    *,
    station_id: str = "",
    evse_id: int = 0,
    customer_group: str = "public",
) -> TariffAssignment:
    """Price sessions at a site (a station, an EVSE) for a customer group with a tariff."""
    row = TariffAssignment(
        tariff_id=tariff_id,
        site_id=site_id,
        station_id=station_id,
        evse_id=evse_id,
        customer_group=customer_group,
    )
    session.add(row)
    await session.flush()
    return row


async def get_assignment(session: AsyncSession, assignment_id: int) -> TariffAssignment | None:
    """One assignment, or None."""
    return await session.get(TariffAssignment, assignment_id)


def _best(
    rows: Sequence[TariffAssignment], station_id: str, evse_id: int, customer_group: str
) -> TariffAssignment | None:
    """The most specific of a site's assignments for one EVSE and customer group."""
    candidates = [
        row
        for row in rows
        if row.station_id in ("", station_id)
        and row.evse_id in (0, evse_id)
        and row.customer_group in ("public", customer_group)
        and not (row.evse_id and not row.station_id)  # an EVSE belongs to a station
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda row: (
            bool(row.station_id) + bool(row.evse_id),
            row.customer_group == customer_group,
        ),
    )


async def tariff_for(
    session: AsyncSession,
    site_id: str,
    *,
    station_id: str = "",
    evse_id: int = 0,
    customer_group: str = "public",
) -> TariffVersion | None:
    """The newest version of the tariff that prices a session there, or None.

    The most specific assignment wins: the EVSE's over the station's over the
    site's; within each, the customer group's own over ``public``.
    """
    rows = (
        await session.scalars(select(TariffAssignment).where(TariffAssignment.site_id == site_id))
    ).all()
    best = _best(rows, station_id, evse_id, customer_group)
    return None if best is None else await latest(session, best.tariff_id)


@dataclass(frozen=True)
class Place:
    """Where and when a session charged, and its driver's customer group."""

    site_id: str
    station_id: str
    evse_id: int
    customer_group: str
    started_at: datetime


async def tariffs_for(session: AsyncSession, places: Sequence[Place]) -> list[TariffVersion | None]:
    """The tariff version that prices a session at each place (two queries for all).

    The assignment is chosen as :func:`tariff_for` does; the version is the one in
    force when the session started (the newest created by then), or the tariff's
    first when it was created during the session: a change made while a car charges
    does not reprice what its driver agreed to.
    """
    if not places:
        return []
    rows = (
        await session.scalars(
            select(TariffAssignment).where(
                TariffAssignment.site_id.in_({p.site_id for p in places})
            )
        )
    ).all()
    by_site: dict[str, list[TariffAssignment]] = {}
    for row in rows:
        by_site.setdefault(row.site_id, []).append(row)
    chosen = [
        _best(by_site.get(p.site_id, ()), p.station_id, p.evse_id, p.customer_group) for p in places
    ]
    wanted = {a.tariff_id for a in chosen if a is not None}
    versions: dict[str, list[TariffVersion]] = {}
    if wanted:
        found = await session.scalars(
            select(TariffVersion)
            .where(TariffVersion.tariff_id.in_(wanted), TariffVersion.deleted_at.is_(None))
            .order_by(TariffVersion.tariff_id, TariffVersion.version)
        )
        for version in found:
            versions.setdefault(version.tariff_id, []).append(version)
    out: list[TariffVersion | None] = []
    for place, assignment in zip(places, chosen, strict=True):
        history = versions.get(assignment.tariff_id, []) if assignment is not None else []
        in_force = [v for v in history if v.created_at <= place.started_at]
        out.append(in_force[-1] if in_force else history[0] if history else None)
    return out
