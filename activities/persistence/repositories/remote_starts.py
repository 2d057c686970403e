"""Remote starts: matched to the charger's transaction when it starts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import RemoteStart


async def record(
    session: AsyncSession,
    *,
    station_id: str,
    remote_start_id: int,
    id_token: str,
    evse_id: int | None,
    connector_id: int | None,
    workflow_id: str,
    requested_at: datetime,
    expires_at: datetime,
) -> None:
    """Remember a remote start (a retried activity changes nothing)."""
    await session.execute(
        dialect_insert(session)(RemoteStart)
        .values(
            station_id=station_id,
            remote_start_id=remote_start_id,
            id_token=id_token,
            evse_id=evse_id,
            connector_id=connector_id,
            workflow_id=workflow_id,
            requested_at=requested_at,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=["station_id", "remote_start_id"])
    )


async def claim(
    session: AsyncSession,
    *,
    station_id: str,
    transaction_pk: int,
    remote_start_id: int | None,
    id_token: str | None,
    connector_id: int,
    now: datetime,
) -> tuple[RemoteStart | None, bool]:
    """The unclaimed remote start a new transaction answers (marked as claimed by it),
    and whether others are still pending for the station.

    Only requests their workflow has not expired are candidates. 2.x names it
    (``remoteStartId``); a 1.6 transaction is matched by its id tag (and
    connector, when the request named one) within the request's window, the
    newest first.
    """
    pending = (
        await session.scalars(
            select(RemoteStart)
            .where(
                RemoteStart.station_id == station_id,
                RemoteStart.transaction_pk.is_(None),
                # Expired by its workflow: that decision is final for both versions.
                RemoteStart.expired_at.is_(None),
            )
            .order_by(RemoteStart.requested_at.desc())
            .with_for_update()
        )
    ).all()
    found = None
    for candidate in pending:
        if remote_start_id is not None:
            match = candidate.remote_start_id == remote_start_id
        else:
            match = (
                id_token is not None
                and candidate.id_token == id_token
                and candidate.expires_at > now
                and candidate.connector_id in (None, connector_id)
            )
        if match:
            found = candidate
            break
    if found is not None:
        found.transaction_pk = transaction_pk
    others = any(c is not found and c.expires_at > now for c in pending)
    return found, others


async def expire(
    session: AsyncSession, *, station_id: str, remote_start_id: int, now: datetime
) -> bool:
    """Mark an unclaimed remote start expired; True if a transaction had claimed it first.

    A conditional UPDATE: on PostgreSQL it waits for a concurrent claim's row lock and
    then sees its result, so exactly one of claim and expiry wins.
    """
    result = await session.execute(
        update(RemoteStart)
        .where(
            RemoteStart.station_id == station_id,
            RemoteStart.remote_start_id == remote_start_id,
            RemoteStart.transaction_pk.is_(None),
            RemoteStart.expired_at.is_(None),
        )
        .values(expired_at=now)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return False
    row = await session.get(RemoteStart, (station_id, remote_start_id))
    return row is not None and row.transaction_pk is not None
