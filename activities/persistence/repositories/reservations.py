"""Reservations: their lifecycle, and the check a starting transaction must pass."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import IdToken, Reservation

ACTIVE = "active"


async def record(session: AsyncSession, reservation: Reservation) -> None:
    """Store a requested reservation (a retried activity changes nothing)."""
    values = {c.name: getattr(reservation, c.name) for c in Reservation.__table__.columns}
    await session.execute(
        dialect_insert(session)(Reservation)
        .values(**{k: v for k, v in values.items() if v is not None})
        .on_conflict_do_nothing(index_elements=["station_id", "id"])
    )


async def set_status(
    session: AsyncSession, workflow_id: str, status: str, *, only_from: Sequence[str]
) -> bool:
    """Move the reservation of workflow ``workflow_id`` to ``status`` if it is in one of
    ``only_from``; True if it moved."""
    result = await session.execute(
        update(Reservation)
        .where(Reservation.workflow_id == workflow_id, Reservation.status.in_(only_from))
        .values(status=status)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def end_by_station(
    session: AsyncSession, station_id: str, reservation_id: int, status: str
) -> str | None:
    """The station ended one of its own active reservations (2.x ReservationStatusUpdate);
    the reservation's workflow id if it was active."""
    held = await session.get(Reservation, (station_id, reservation_id))
    if held is None or held.status != ACTIVE:
        return None
    held.status = status
    return held.workflow_id


async def of_station(session: AsyncSession, station_id: str) -> Sequence[Reservation]:
    """A station's reservations, newest first."""
    query = (
        select(Reservation)
        .where(Reservation.station_id == station_id)
        .order_by(Reservation.created_at.desc())
        .limit(200)
    )
    return (await session.scalars(query)).all()


async def claim_for_start(
    session: AsyncSession,
    *,
    station_id: str,
    evse_id: int,
    connector_id: int,
    id_token: str | None,
    reservation_id: int | None,
    transaction_pk: int,
    now: datetime,
) -> tuple[bool, str | None, bool]:
    """Apply reservations to a starting transaction: (allowed, the workflow of the
    reservation it used, whether the station still has active reservations).

    The active, unexpired reservation the charger names (``reservation_id``) or
    that holds this connector is used by the transaction when the id token is
    the reserved one or one of its group; a different token on a reserved connector
    breaks it.
    """
    active = (
        await session.scalars(
            select(Reservation)
            .where(
                Reservation.station_id == station_id,
                Reservation.status == ACTIVE,
                Reservation.expires_at > now,
            )
            .with_for_update()
        )
    ).all()
    if reservation_id is not None:
        held = next((r for r in active if r.id == reservation_id), None)
    else:
        held = next(
            (
                r
                for r in active
                # 1.6 connector 0: the whole station.
                if r.connector_id in (connector_id, 0) or r.evse_id == evse_id
            ),
            None,
        )
    if held is None:
        return True, None, bool(active)
    if id_token is None:
        # Plugged in before anyone identified (CablePluggedIn on a reserved EVSE):
        # there is no token to refuse yet, and the reservation keeps holding.
        return True, None, True
    if id_token != held.id_token and not await _in_group(session, id_token, held.group_id_token):
        return False, None, True
    held.status, held.transaction_pk = "used", transaction_pk
    return True, held.workflow_id, len(active) > 1


async def _in_group(session: AsyncSession, id_token: str, group: str | None) -> bool:
    """Whether ``id_token`` belongs to the reservation's group (its group token itself,
    or a token whose group it is)."""
    if group is None:
        return False
    if id_token == group:
        return True
    token = await session.get(IdToken, id_token)
    return token is not None and token.group_id == group
