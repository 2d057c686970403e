"""Activities of the reservation workflow: the reservation's row, which the gateway
checks when a transaction starts."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from activities.persistence.database import Database
from activities.persistence.models import Reservation
from activities.persistence.repositories import reservations
from workflows.domain import ReservationRequest


@dataclass(frozen=True)
class StatusChange:
    """Move reservation ``reservation_id`` to ``status`` if it is in ``only_from``."""

    reservation_id: int
    status: str
    only_from: list[str]


class ReservationActivities:
    """Reservation rows, bound to a database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="record_reservation")
    async def record_reservation(self, request: ReservationRequest) -> None:
        """Store the requested reservation (idempotent)."""
        async with self._db.sessions.begin() as session:
            await reservations.record(
                session,
                Reservation(
                    id=request.reservation_id,
                    station_id=request.station_id,
                    evse_id=request.evse_id,
                    connector_id=request.connector_id,
                    id_token=request.id_token,
                    group_id_token=request.group_id_token,
                    connector_type=request.connector_type,
                    expires_at=request.expires_at,
                    status="requested",
                    workflow_id=activity.info().workflow_id or "",
                ),
            )

    @activity.defn(name="set_reservation_status")
    async def set_reservation_status(self, change: StatusChange) -> bool:
        """Apply a status change; False if the reservation had moved on (e.g. used)."""
        async with self._db.sessions.begin() as session:
            # By the workflow's own id: reservation ids are per station.
            return await reservations.set_status(
                session,
                activity.info().workflow_id or "",
                change.status,
                only_from=change.only_from,
            )
