"""Every lookup a station triggers is scoped to that station (real sockets, both backends)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from activities.persistence.database import Database
from activities.persistence.models import Reservation
from activities.persistence.repositories import reservations
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect
from tests.helpers import seed_station

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
BOOT_2 = {"chargingStation": {"model": "Volt-2", "vendorName": "ACME"}, "reason": "PowerUp"}


def _reservation(station_id: str, reservation_id: int) -> Reservation:
    return Reservation(
        id=reservation_id,
        station_id=station_id,
        evse_id=1,
        connector_id=1,
        id_token="TAG-R",
        expires_at=datetime(2099, 1, 1, tzinfo=UTC),
        status="active",
        workflow_id=f"reservation:{station_id}:{reservation_id}",
    )


async def _status(db: Database, station_id: str, reservation_id: int) -> str | None:
    async with db.sessions() as session:
        row = await session.get(Reservation, (station_id, reservation_id))
    return row.status if row else None


async def test_reservation_ids_are_per_station_and_a_station_ends_only_its_own(
    db_gateway: Gateway, db: Database
) -> None:
    victim, intruder = unique("RSV"), unique("RSV")
    for ident in (victim, intruder):
        await seed_station(db, ident, site_id="site-rsv")
    # The same id on two stations: both are kept (a global key silently dropped one).
    async with db.sessions.begin() as session:
        await reservations.record(session, _reservation(victim, 7))
        await reservations.record(session, _reservation(intruder, 7))
        await reservations.record(session, _reservation(victim, 8))
    assert await _status(db, victim, 7) == await _status(db, intruder, 7) == "active"
    async with await connect(db_gateway, intruder, "ocpp2.0.1") as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_2)
        for rid in (7, 8):  # its own id, and one only the victim has
            update = {"reservationId": rid, "reservationUpdateStatus": "Removed"}
            assert await charger.ok("ReservationStatusUpdate", update) == {}
    assert await _status(db, intruder, 7) == "removed"
    assert await _status(db, victim, 7) == "active"
    assert await _status(db, victim, 8) == "active"


async def test_calls_to_one_station_go_out_one_at_a_time_in_order(
    gateway: Gateway, sqlite_db: Database
) -> None:
    """OCPP-J: the CSMS sends its next CALL only after the previous one was answered."""
    ident = unique("SEQ")
    await seed_station(sqlite_db, ident)
    async with await connect(gateway, ident) as ws:
        await RawCharger(ws).ok("BootNotification", BOOT_16)
        conn = gateway.connections[ident]
        calls = [
            asyncio.create_task(conn.call("ClearCache", {"n": i}, timeout=5)) for i in range(3)
        ]
        seen = []
        for expected in range(3):
            frame = json.loads(await ws.recv())
            assert frame[3] == {"n": expected}
            seen.append(frame[3]["n"])
            # Nothing else is on the wire while this one is unanswered.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.2)
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert [await c for c in calls] == [{"status": "Accepted"}] * 3
    assert seen == [0, 1, 2]


async def test_a_call_that_waited_past_its_deadline_is_never_sent(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = unique("SEQ")
    await seed_station(sqlite_db, ident)
    async with await connect(gateway, ident) as ws:
        await RawCharger(ws).ok("BootNotification", BOOT_16)
        conn = gateway.connections[ident]
        first = asyncio.create_task(conn.call("ClearCache", {}, timeout=1.0))
        frame = json.loads(await ws.recv())
        with pytest.raises(TimeoutError):
            await conn.call("Reset", {"type": "Hard"}, timeout=0.3)
        await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert await first == {"status": "Accepted"}
        # The Reset never reached the charger.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
