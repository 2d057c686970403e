"""Stations' certificate signing requests and issued certificates, per station."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import StationCertificate


def certificate_workflow_id(station_id: str, request_id: int) -> str:
    """Business key of one signing request's workflow."""
    return f"certificate:{station_id}:{request_id}"


async def add_request(
    session: AsyncSession, station_id: str, kind: str, csr: str, now: datetime
) -> StationCertificate:
    """Store a checked signing request; its workflow id is known once it has an id."""
    row = StationCertificate(
        station_id=station_id,
        kind=kind,
        csr=csr,
        status="requested",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    row.workflow_id = certificate_workflow_id(station_id, row.id)
    return row


async def of_station(session: AsyncSession, station_id: str) -> Sequence[StationCertificate]:
    """The station's requests and certificates, newest first."""
    query = (
        select(StationCertificate)
        .where(StationCertificate.station_id == station_id)
        .order_by(StationCertificate.id.desc())
    )
    return (await session.scalars(query)).all()
