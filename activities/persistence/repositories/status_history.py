"""Connector status history: what each connector (and its 2.x transaction) reported, when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import ConnectorStatusHistory


@dataclass(frozen=True)
class Span:
    """One EVSE of one station over a stretch of time (a session's)."""

    station_id: str
    evse_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Reported:
    """A status or charging state as reported."""

    at: datetime
    state: str
    source: str  # status | charging_state


async def during(session: AsyncSession, spans: Sequence[Span]) -> list[list[Reported]]:
    """What was reported on each span's EVSE within it, in time order (one query).

    Scoped by station: a span never sees another station's history.
    """
    if not spans:
        return []
    table = ConnectorStatusHistory
    rows = await session.execute(
        select(table.station_id, table.evse_id, table.at, table.state, table.source, table.id)
        .where(
            or_(
                *(
                    and_(
                        table.station_id == span.station_id,
                        table.evse_id == span.evse_id,
                        table.at >= span.start,
                        table.at <= span.end,
                    )
                    for span in spans
                )
            )
        )
        .order_by(table.at, table.id)
    )
    found: list[list[Reported]] = [[] for _ in spans]
    where: dict[tuple[str, int], list[int]] = {}
    for k, span in enumerate(spans):
        where.setdefault((span.station_id, span.evse_id), []).append(k)
    for station_id, evse_id, at, state, source, _ in rows:
        for k in where.get((station_id, evse_id), ()):
            span = spans[k]
            if span.start <= at <= span.end:
                found[k].append(Reported(at, state, source))
    return found


async def reports_in(
    session: AsyncSession, station_id: str, start: datetime, end: datetime
) -> dict[tuple[int, int], list[Reported]]:
    """Each connector's reported statuses within [start, end), each led by the last one
    before ``start`` (the status the window opens with). Scoped to the station."""
    table = ConnectorStatusHistory
    scope = and_(table.station_id == station_id, table.source == "status")
    found: dict[tuple[int, int], list[Reported]] = {}
    keys = (
        await session.execute(select(table.evse_id, table.connector_id).where(scope).distinct())
    ).all()
    for evse_id, connector_id in keys:
        here = and_(scope, table.evse_id == evse_id, table.connector_id == connector_id)
        opening = (
            await session.execute(
                select(table.at, table.state)
                .where(here, table.at < start)
                .order_by(table.at.desc(), table.id.desc())
                .limit(1)
            )
        ).first()
        rows = (
            await session.execute(
                select(table.at, table.state)
                .where(here, table.at >= start, table.at < end)
                .order_by(table.at, table.id)
            )
        ).all()
        reports = [Reported(opening[0], opening[1], "status")] if opening else []
        reports += [Reported(at, state, "status") for at, state in rows]
        if reports:
            found[(evse_id, connector_id)] = reports
    return found
