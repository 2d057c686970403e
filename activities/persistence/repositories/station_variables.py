"""Configuration values as stations report them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import StationVariable
from workflows.domain import ReportedVariable


async def upsert_many(
    session: AsyncSession,
    station_id: str,
    variables: Sequence[ReportedVariable],
    *,
    source: str,
    at: datetime,
) -> None:
    """Store reported values, replacing older reports of the same keys.

    A key named twice in one report keeps its last value: PostgreSQL refuses an
    upsert that touches one row twice (CardinalityViolation).
    """
    latest = {v.key: v for v in variables}
    if not latest:
        return
    values = [
        {
            "key": v.key,
            "value": v.value,
            "readonly": v.readonly,
            "station_id": station_id,
            "source": source,
            "updated_at": at,
        }
        for v in latest.values()
    ]
    statement = dialect_insert(session)(StationVariable).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["station_id", "key"],
            set_={
                "value": statement.excluded.value,
                "readonly": statement.excluded.readonly,
                "source": statement.excluded.source,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


async def of_station(
    session: AsyncSession, station_id: str, prefix: str | None = None
) -> Sequence[StationVariable]:
    """A station's reported values by key (optionally those starting with ``prefix``)."""
    query = select(StationVariable).where(StationVariable.station_id == station_id)
    if prefix:
        query = query.where(StationVariable.key.startswith(prefix, autoescape=True))
    return (await session.scalars(query.order_by(StationVariable.key))).all()
