"""Charge detail records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
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


_Query = Select[ChargeDetailRecordRow]


@dataclass(frozen=True)
class CdrFilter:
    """Which CDRs a listing or an export takes (every field optional)."""

    station_id: str | None = None
    site_id: str | None = None
    id_token: str | None = None
    tariff_id: str | None = None
    account_id: str | None = None
    stopped_after: datetime | None = None
    stopped_before: datetime | None = None

    def apply(self, query: Select[ChargeDetailRecordRow]) -> Select[ChargeDetailRecordRow]:
        """``query`` narrowed to these CDRs."""
        row = ChargeDetailRecordRow
        for column, value in (
            (row.station_id, self.station_id),
            (row.site_id, self.site_id),
            (row.id_token, self.id_token),
            (row.tariff_id, self.tariff_id),
            (row.account_id, self.account_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.stopped_after is not None:
            query = query.where(row.stopped_at >= self.stopped_after)
        if self.stopped_before is not None:
            query = query.where(row.stopped_at < self.stopped_before)
        return query


async def list_cdrs(
    session: AsyncSession, where: CdrFilter, *, limit: int = 100, offset: int = 0
) -> Sequence[ChargeDetailRecordRow]:
    """The CDRs ``where`` takes, newest first."""
    query = where.apply(
        select(ChargeDetailRecordRow).order_by(
            ChargeDetailRecordRow.stopped_at.desc(), ChargeDetailRecordRow.id.desc()
        )
    )
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def iter_cdrs(
    session: AsyncSession, where: CdrFilter, *, batch: int = 1000
) -> AsyncIterator[Sequence[ChargeDetailRecordRow]]:
    """Every CDR ``where`` takes, oldest first, in batches (keyset pages: a CDR
    written meanwhile is neither skipped nor repeated among the older ones)."""
    row = ChargeDetailRecordRow
    after: tuple[datetime, int] | None = None
    while True:
        query = where.apply(select(row).order_by(row.stopped_at, row.id))
        if after is not None:
            query = query.where(
                or_(row.stopped_at > after[0], and_(row.stopped_at == after[0], row.id > after[1]))
            )
        page = (await session.scalars(query.limit(batch))).all()
        if not page:
            return
        yield page
        after = (page[-1].stopped_at, page[-1].id)
