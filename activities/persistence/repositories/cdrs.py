"""Charge detail records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import ChargeDetailRecordRow


async def for_transactions(
    session: AsyncSession, transaction_pks: Sequence[int]
) -> dict[int, ChargeDetailRecordRow]:
    """The CDRs these transactions already have, by transaction key."""
    if not transaction_pks:
        return {}
    rows = await session.scalars(
        select(ChargeDetailRecordRow).where(
            ChargeDetailRecordRow.transaction_pk.in_(set(transaction_pks))
        )
    )
    return {row.transaction_pk: row for row in rows}


async def get_for_transaction(
    session: AsyncSession, transaction_pk: int
) -> ChargeDetailRecordRow | None:
    """The CDR of a transaction, or None."""
    return await session.scalar(
        select(ChargeDetailRecordRow).where(ChargeDetailRecordRow.transaction_pk == transaction_pk)
    )


async def get_cdr(session: AsyncSession, cdr_id: int) -> ChargeDetailRecordRow | None:
    """The CDR with ``cdr_id``, or None."""
    return await session.get(ChargeDetailRecordRow, cdr_id)


async def list_cdrs(
    session: AsyncSession,
    *,
    station_id: str | None = None,
    site_id: str | None = None,
    stopped_after: datetime | None = None,
    stopped_before: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[ChargeDetailRecordRow]:
    """CDRs, newest first, filtered by any of the given fields."""
    query = select(ChargeDetailRecordRow).order_by(
        ChargeDetailRecordRow.stopped_at.desc(), ChargeDetailRecordRow.id.desc()
    )
    if station_id is not None:
        query = query.where(ChargeDetailRecordRow.station_id == station_id)
    if site_id is not None:
        query = query.where(ChargeDetailRecordRow.site_id == site_id)
    if stopped_after is not None:
        query = query.where(ChargeDetailRecordRow.stopped_at >= stopped_after)
    if stopped_before is not None:
        query = query.where(ChargeDetailRecordRow.stopped_at < stopped_before)
    return (await session.scalars(query.limit(limit).offset(offset))).all()
