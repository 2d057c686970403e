"""Charging transactions: idempotent start, stop, lookups and listing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import Transaction, utcnow
from workflows.domain import own_session_workflow_id

OPEN = text("status = 'active'")
"""The rows the (station, transaction_ref) uniqueness covers."""


def start_key(
    station_id: str,
    connector_id: int,
    id_token: str,
    started_at: datetime | str,
    meter_start_wh: int,
) -> str:
    """Identity of a StartTransaction message: a retry carries the same five facts (the
    time as the charger sent it when the gateway's clock had to stand in for it)."""
    at = started_at if isinstance(started_at, str) else started_at.isoformat()
    return f"{station_id}|{connector_id}|{id_token}|{at}|{meter_start_wh}"


@dataclass(frozen=True)
class StartOutcome:
    """The transaction a start resolved to, and whether this call created it."""

    transaction: Transaction
    created: bool


async def start_transaction(
    session: AsyncSession,
    *,
    station_id: str,
    site_id: str | None,
    connector_id: int,
    id_token: str | None,
    meter_start_wh: int | None,
    started_at: datetime,
    ocpp_version: str,
    transaction_ref: str | None = None,
    evse_id: int | None = None,
    remote_start_id: int | None = None,
    reused: bool = False,
    unusable_time: str | None = None,
) -> StartOutcome:
    """Create a transaction, or return the one an earlier identical start created.

    With no ``transaction_ref`` (OCPP 1.6) the CSMS allocates the id: the
    integer primary key, also used as the string reference, and a retry is
    recognised by its five facts (:func:`start_key`). With a reference (2.x,
    the charger's own id) a repeat is recognised by station and reference among
    the open transactions; ``reused`` says the reference named an earlier session
    that has ended, and this one gets a workflow id of its own.
    """
    key = (
        start_key(
            station_id,
            connector_id,
            id_token or "",
            unusable_time or started_at,
            meter_start_wh or 0,
        )
        if transaction_ref is None
        else None
    )
    values: dict[str, Any] = {
        "station_id": station_id,
        "site_id": site_id,
        "evse_id": connector_id if evse_id is None else evse_id,
        "connector_id": connector_id,
        "remote_start_id": remote_start_id,
        "seq_nos": [],
        "id_token": id_token,
        "start_key": key,
        "meter_start_wh": meter_start_wh,
        "started_at": started_at,
        "ocpp_version": ocpp_version,
        "transaction_ref": transaction_ref,
        "status": "active",
        "created_at": utcnow(),
    }
    # Core statements on the hot path: one INSERT that skips a retried start,
    # instead of a SELECT and an ORM flush.
    insert = dialect_insert(session)(Transaction).values(**values)
    if key is not None:
        insert = insert.on_conflict_do_nothing(index_elements=["start_key"])
    else:  # unique among the station's open transactions (a closed id may be reused)
        insert = insert.on_conflict_do_nothing(
            index_elements=["station_id", "transaction_ref"], index_where=OPEN
        )
    new_id = await session.scalar(insert.returning(Transaction.id))
    if new_id is None:
        existing = await session.scalar(
            select(Transaction).where(Transaction.start_key == key)
            if key is not None
            else select(Transaction).where(
                Transaction.station_id == station_id,
                Transaction.transaction_ref == transaction_ref,
                OPEN,
            )
        )
        assert existing is not None, "a conflicting start must exist"
        return StartOutcome(existing, created=False)
    if transaction_ref is None:
        values["transaction_ref"] = str(new_id)
        await session.execute(
            update(Transaction).where(Transaction.id == new_id).values(transaction_ref=str(new_id))
        )
    elif own := own_session_workflow_id(station_id, transaction_ref, new_id if reused else None):
        # The charger's id names an earlier, closed session too, or would read as one of
        # our own ids: this session's workflow gets an id of its own.
        values["workflow_id"] = own
        await session.execute(
            update(Transaction)
            .where(Transaction.id == new_id)
            .values(workflow_id=values["workflow_id"])
        )
    # A plain object carrying what was stored (not attached to the session).
    return StartOutcome(Transaction(id=new_id, **values), created=True)


async def get_transaction(session: AsyncSession, pk: int) -> Transaction | None:
    """The transaction with primary key ``pk``, or None."""
    return await session.get(Transaction, pk)


async def get_transactions(session: AsyncSession, pks: Sequence[int]) -> dict[int, Transaction]:
    """The transactions with these primary keys, by key (missing ones are absent)."""
    if not pks:
        return {}
    rows = await session.scalars(select(Transaction).where(Transaction.id.in_(set(pks))))
    return {tx.id: tx for tx in rows}


async def get_by_ref(
    session: AsyncSession, station_id: str, transaction_ref: str, *, for_update: bool = False
) -> Transaction | None:
    """The newest transaction a station knows as ``transaction_ref``, or None.

    ``for_update`` locks the row (PostgreSQL) so two messages about the same
    transaction, e.g. a retry on a new socket while the old one still works,
    apply one after the other. SQLite has a single writer anyway.
    """
    query = (
        select(Transaction)
        .where(Transaction.station_id == station_id, Transaction.transaction_ref == transaction_ref)
        .order_by(Transaction.id.desc())
        .limit(1)
    )
    return await session.scalar(query.with_for_update() if for_update else query)


async def earlier_by_ref(
    session: AsyncSession, station_id: str, transaction_ref: str, *, before_pk: int
) -> Transaction | None:
    """The newest transaction known as ``transaction_ref`` before row ``before_pk`` (a
    station that reuses ids: the session that used the id last time), locked like
    :func:`get_by_ref`."""
    query = (
        select(Transaction)
        .where(
            Transaction.station_id == station_id,
            Transaction.transaction_ref == transaction_ref,
            Transaction.id < before_pk,
        )
        .order_by(Transaction.id.desc())
        .limit(1)
        .with_for_update()
    )
    return await session.scalar(query)


async def record_stop(
    tx: Transaction, *, meter_stop_wh: int | None, stopped_at: datetime, reason: str | None
) -> bool:
    """Mark ``tx`` stopped; False (and no change) if it was already stopped."""
    if tx.status != "active":
        return False
    tx.meter_stop_wh = meter_stop_wh
    tx.stopped_at = stopped_at
    tx.stop_reason = reason
    tx.status = "stopped"
    return True


async def list_transactions(
    session: AsyncSession,
    *,
    station_id: str | None = None,
    site_id: str | None = None,
    status: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Transaction]:
    """Transactions, newest first, filtered by any of the given fields."""
    query = select(Transaction).order_by(Transaction.started_at.desc(), Transaction.id.desc())
    if station_id is not None:
        query = query.where(Transaction.station_id == station_id)
    if site_id is not None:
        query = query.where(Transaction.site_id == site_id)
    if status is not None:
        query = query.where(Transaction.status == status)
    if started_after is not None:
        query = query.where(Transaction.started_at >= started_after)
    if started_before is not None:
        query = query.where(Transaction.started_at < started_before)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def active_at_site(session: AsyncSession, site_id: str) -> Sequence[Transaction]:
    """The site's transactions still under way (one query, for each site plan)."""
    return (
        await session.scalars(
            select(Transaction)
            .where(Transaction.site_id == site_id, Transaction.status == "active")
            .order_by(Transaction.started_at, Transaction.id)
        )
    ).all()
