"""A card hold waiting for its ad-hoc session: offered to the session's settlement,
withdrawn when the hold is over."""

from __future__ import annotations

from decimal import Decimal

from temporalio import activity

from activities.payments.stripe_adapter import HoldRequest
from activities.persistence.database import Database
from activities.persistence.repositories import payment_holds


class HoldActivities:
    """The database side of ``PaymentHold``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="await_session")
    async def await_session(self, request: HoldRequest) -> None:
        """Let the next session of the request's id token on its station claim the hold
        (safe to repeat)."""
        if request.station_id is None or request.id_token is None:
            raise ValueError("a hold waits for a session on a station, by id token")
        async with self._db.sessions.begin() as session:
            await payment_holds.await_session(
                session,
                request.key,
                station_id=request.station_id,
                id_token=request.id_token,
                amount=Decimal(request.amount),
                currency=request.currency,
            )

    @activity.defn(name="close_hold")
    async def close_hold(self, key: str) -> None:
        """The hold is captured, released or expired: no later session claims it."""
        async with self._db.sessions.begin() as session:
            await payment_holds.close(session, key)
