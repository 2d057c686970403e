"""Card holds claimed by the ad-hoc sessions they pay for, on each backend: in the
CDR's own transaction, once, by the right station and id token, and never by a
session that began well before the hold or after it closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from activities.persistence.database import Database
from activities.persistence.repositories import payment_holds
from activities.sessions import SessionActivities, SettleRequest
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.domain import ChargeDetailRecord, SessionStopped


async def _hold(db: Database, key: str, station: str, token: str) -> None:
    async with db.sessions.begin() as session:
        await payment_holds.await_session(
            session,
            key,
            station_id=station,
            id_token=token,
            amount=Decimal("30.00"),
            currency="EUR",
        )


async def _settled(
    db: Database, station: str, token: str, started_at: datetime, connector: int = 1
) -> ChargeDetailRecord:
    start = await seed_transaction(
        db,
        station,
        site_id=None,
        meter_start_wh=0,
        started_at=started_at,
        connector_id=connector,
        id_token=token,
    )
    stop = SessionStopped(start.transaction_id, 4000, started_at + timedelta(minutes=30))
    return await SessionActivities(db).settle_session(SettleRequest(start=start, stop=stop))


async def test_holds_are_claimed_once_in_order_by_their_own_station_and_token(
    db: Database,
) -> None:
    station, elsewhere, token = unique("CP"), unique("CP"), unique("QR")[:20]
    await seed_station(db, station)
    await seed_station(db, elsewhere)
    first, second = unique("hold"), unique("hold")
    await _hold(db, first, station, token)
    await _hold(db, second, station, token)
    now = datetime.now(UTC).replace(microsecond=0)
    # Another station, the same token; the same station, another token: neither.
    assert (await _settled(db, elsewhere, token, now)).payment_hold is None
    assert (await _settled(db, station, unique("RF")[:20], now)).payment_hold is None
    one = await _settled(db, station, token, now, connector=2)
    two = await _settled(db, station, token, now + timedelta(minutes=1), connector=3)
    three = await _settled(db, station, token, now + timedelta(minutes=2), connector=4)
    assert (one.payment_hold, two.payment_hold, three.payment_hold) == (first, second, None)
    # A settlement repeated (a retried activity) gets its own hold again, no other.
    start = await seed_transaction(
        db, station, site_id=None, meter_start_wh=0, started_at=now, connector_id=2, id_token=token
    )
    again = await SessionActivities(db).settle_session(
        SettleRequest(start=start, stop=SessionStopped(start.transaction_id, 4000, now))
    )
    assert again.payment_hold == first


async def test_a_closed_hold_or_one_placed_after_the_session_began_is_not_claimed(
    db: Database,
) -> None:
    station, token = unique("CP"), unique("QR")[:20]
    await seed_station(db, station)
    closed, late = unique("hold"), unique("hold")
    await _hold(db, closed, station, token)
    async with db.sessions.begin() as session:
        await payment_holds.close(session, closed)
    now = datetime.now(UTC).replace(microsecond=0)
    assert (await _settled(db, station, token, now)).payment_hold is None
    await _hold(db, late, station, token)
    # A session that began half an hour before the hold was placed is not its session.
    began = now - timedelta(minutes=30)
    assert (await _settled(db, station, token, began, connector=2)).payment_hold is None
    # Within the clock slack of a charger running a little behind: it is.
    behind = datetime.now(UTC) - payment_holds.CLOCK_SLACK + timedelta(seconds=30)
    assert (await _settled(db, station, token, behind, connector=3)).payment_hold == late
