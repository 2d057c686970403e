"""Remote starts: matched to the charger's transaction when it starts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
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
) -> RemoteStart | None:
    """The unclaimed remote start a new transaction answers, marked as claimed by it.

    2.x names it (``remoteStartId``); a 1.6 transaction is matched by its id tag
    (and connector, when the request named one) among unexpired requests, the
    newest first.
    """
    query = select(RemoteStart).where(
        RemoteStart.station_id == station_id, RemoteStart.transaction_pk.is_(None)
    )
    if remote_start_id is not None:
        query = query.where(RemoteStart.remote_start_id == remote_start_id)
    elif id_token is not None:
        query = query.where(
            RemoteStart.id_token == id_token,
            RemoteStart.expires_at > now,
            or_(RemoteStart.connector_id.is_(None), RemoteStart.connector_id == connector_id),
        )
    else:
        return None
    found = await session.scalar(
        query.order_by(RemoteStart.requested_at.desc()).limit(1).with_for_update()
    )
    if found is not None:
        found.transaction_pk = transaction_pk
    return found
