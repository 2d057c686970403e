"""What the gateway tells a station's health workflow, and its liveness state machine,
with real WebSocket chargers (Temporal unreachable: the facts wait in the outbox)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from activities.persistence.database import Database
from activities.persistence.models import LivenessChange, OutboxEvent, Station
from gateway.outbox_relay import STATION_FACT, PendingEvent, deliveries
from gateway.server import Gateway
from gateway.symptoms import SymptomLimits
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect, gateway_config
from tests.helpers import seed_station

BOOT16 = {"chargePointVendor": "Acme", "chargePointModel": "AC-22", "firmwareVersion": "1.2"}


@pytest.fixture
async def quick(sqlite_db: Database) -> AsyncIterator[Gateway]:
    """A node that calls a station silent after half a second without a message."""
    node = Gateway(gateway_config(node_id=unique("gw"), silent_after_s=0.5), sqlite_db)
    await node.start()
    yield node
    await node.stop()


async def facts(db: Database, station: str) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(
                OutboxEvent.kind == STATION_FACT, OutboxEvent.workflow_id == f"station:{station}"
            )
            .order_by(OutboxEvent.id)
        )
        return [r.payload["fact"] for r in rows.all()]


async def changes(db: Database, station: str) -> list[tuple[str, str | None]]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(LivenessChange)
            .where(LivenessChange.station_id == station)
            .order_by(LivenessChange.id)
        )
        return [(r.state, r.cause) for r in rows.all()]


async def changes_until(
    db: Database, station: str, check: Callable[[list[tuple[str, str | None]]], bool]
) -> list[tuple[str, str | None]]:
    async with asyncio.timeout(10):
        while True:
            found = await changes(db, station)
            if check(found):
                return found
            await asyncio.sleep(0.02)


async def settled(db: Database, station: str, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while True:
            found = await facts(db, station)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)


def status(code: str, state: str, vendor: str | None = None) -> dict[str, Any]:
    body = {"connectorId": 1, "status": state, "errorCode": code}
    if vendor:
        body["vendorErrorCode"] = vendor
    return body


async def test_faults_and_their_clearing_are_facts_and_nothing_else_is(
    quick: Gateway, sqlite_db: Database
) -> None:
    station = unique("HF")
    await seed_station(sqlite_db, station)
    async with await connect(quick, station) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT16)
        for body in (
            status("NoError", "Available"),
            status("NoError", "Preparing"),
            status("NoError", "Charging"),
            status("GroundFailure", "Faulted"),
            status("GroundFailure", "Faulted"),  # the same again: no new fact
            status("GroundFailure", "Faulted", "CX002"),  # more precise: a fact
            status("NoError", "Available"),  # cleared
            status("NoError", "Preparing"),
        ):
            await charger.ok("StatusNotification", body)
        await charger.ok("Heartbeat", {})
        sample = {"timestamp": "2026-12-03T10:00:00Z", "sampledValue": [{"value": "10"}]}
        await charger.ok("MeterValues", {"connectorId": 1, "meterValue": [sample]})
    found = await settled(sqlite_db, station, 6)
    kinds = [(f["kind"], f["state"], f.get("vendor_error_code")) for f in found]
    assert kinds == [
        ("liveness", "online", None),
        ("boot", "accepted", None),
        ("status", "Faulted", None),
        ("status", "Faulted", "CX002"),
        ("status", "Available", None),
        ("liveness", "offline", None),
    ]
    assert found[1]["firmware_version"] == "1.2"
    assert found[-1]["cause"].startswith("closed by the station (code 1000")


async def test_2x_problem_and_security_events_are_facts(
    quick: Gateway, sqlite_db: Database
) -> None:
    station = unique("HE")
    await seed_station(sqlite_db, station)
    async with await connect(quick, station, "ocpp2.0.1") as ws:
        charger = RawCharger(ws)
        await charger.ok(
            "BootNotification",
            {"chargingStation": {"vendorName": "Acme", "model": "X"}, "reason": "PowerUp"},
        )
        event: dict[str, Any] = {
            "generatedAt": "2026-12-03T10:00:00Z",
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": "2026-12-03T10:00:00Z",
                    "trigger": "Delta",
                    "actualValue": "Occupied",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "AvailabilityState"},
                },
                {
                    "eventId": 2,
                    "timestamp": "2026-12-03T10:00:01Z",
                    "trigger": "Alerting",
                    "actualValue": "true",
                    "techCode": "CX017",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "PowerContactor", "evse": {"id": 1}},
                    "variable": {"name": "Problem"},
                },
            ],
        }
        await charger.ok("NotifyEvent", event)
        cleared = {**event, "seqNo": 1}
        cleared["eventData"] = [
            {**event["eventData"][1], "eventId": 3, "actualValue": "false", "cleared": True}
        ]
        await charger.ok("NotifyEvent", cleared)
        for kind in ("StartupOfTheDevice", "TamperDetectionActivated"):
            await charger.ok(
                "SecurityEventNotification", {"type": kind, "timestamp": "2026-12-03T10:00:02Z"}
            )
        found = await settled(sqlite_db, station, 5)
    events = [f for f in found if f["kind"] == "event"]
    assert [(e["state"], e["cleared"], e["lasting"]) for e in events] == [
        ("PowerContactor/Problem", False, True),
        ("PowerContactor/Problem", True, True),
        ("TamperDetectionActivated", False, False),
    ]
    assert events[0]["tech_code"] == "CX017" and events[0]["evse_id"] == 1


async def test_a_station_that_says_nothing_goes_silent_and_comes_back(
    quick: Gateway, sqlite_db: Database
) -> None:
    station = unique("HS")
    await seed_station(sqlite_db, station)
    async with await connect(quick, station) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT16)
        async with asyncio.timeout(10):
            while ("silent", None) not in [(s, None) for s, _ in await changes(sqlite_db, station)]:
                await quick.station_service.liveness.sweep()
                await asyncio.sleep(0.1)
        await charger.ok("Heartbeat", {})
        found = await changes_until(sqlite_db, station, lambda f: f[-1][0] == "online")
    states = [s for s, _ in found]
    assert states[:4] == ["connected", "online", "silent", "online"]
    assert found[2][1] is not None and found[2][1].startswith("no message for")
    assert found[3][1] == "messages again"


async def test_a_pending_station_is_booting(quick: Gateway, sqlite_db: Database) -> None:
    station = unique("HP")  # unknown: admitted as pending
    async with await connect(quick, station) as ws:
        charger = RawCharger(ws)
        assert (await charger.ok("BootNotification", BOOT16))["status"] == "Pending"
        await changes_until(sqlite_db, station, lambda f: len(f) >= 2)
    assert (await changes(sqlite_db, station))[1] == ("booting", "boot answered pending")


async def test_the_old_socket_of_a_reconnected_station_does_not_make_it_offline(
    quick: Gateway, sqlite_db: Database
) -> None:
    station = unique("HR")
    await seed_station(sqlite_db, station)
    first = await connect(quick, station)
    await RawCharger(first).ok("BootNotification", BOOT16)
    async with await connect(quick, station) as second:
        await RawCharger(second).ok("Heartbeat", {})
        async with asyncio.timeout(10):
            while True:  # the first socket is closed by the gateway (replaced)
                found = await changes(sqlite_db, station)
                if found[-1][0] == "online" and len(found) >= 4:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        async with sqlite_db.sessions() as session:
            row = await session.get(Station, station)
            assert row is not None and row.liveness == "online"
        assert "offline" not in [s for s, _ in await changes(sqlite_db, station)]
    await first.close()


def test_a_stations_facts_are_delivered_in_order_in_one_call() -> None:
    def event(ident: int, kind: str, workflow: str) -> PendingEvent:
        return PendingEvent(ident, kind, workflow, {})

    batch = [
        event(1, STATION_FACT, "station:A"),
        event(2, "session.started", "session:A:1"),
        event(3, STATION_FACT, "station:B"),
        event(4, STATION_FACT, "station:A"),
        event(5, STATION_FACT, "station:A"),
    ]
    calls = [[e.id for e in call] for call in deliveries(batch)]
    assert calls == [[1, 4, 5], [2], [3]]


async def test_telemetry_patterns_become_symptoms_and_end(sqlite_db: Database) -> None:
    limits = SymptomLimits(
        stuck_preparing_s=0.3,
        meter_silent_s=0.6,
        energy_flat_s=0.3,
        start_timeout_s=0.2,
        start_failures=2,
    )
    node = Gateway(gateway_config(node_id=unique("gw"), symptoms=limits), sqlite_db)
    await node.start()
    station = unique("SY")
    await seed_station(sqlite_db, station, tokens={"TAG-1": "Accepted"})
    watch = node.station_service

    def energy(wh: float) -> dict[str, Any]:
        return {
            "timestamp": "2026-12-03T10:00:00Z",
            "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register"}],
        }

    try:
        async with await connect(node, station) as ws:
            charger = RawCharger(ws)
            await charger.ok("BootNotification", BOOT16)
            await charger.ok("StatusNotification", status("NoError", "Preparing"))
            await asyncio.sleep(0.4)
            await watch.check_symptoms()
            await charger.ok("StatusNotification", status("NoError", "Charging"))
            for wh in (100, 100):  # samples come, energy stays
                await charger.ok("MeterValues", {"connectorId": 1, "meterValue": [energy(wh)]})
            await watch.check_symptoms()  # Preparing left: cleared
            await asyncio.sleep(0.4)
            await watch.check_symptoms()  # flat for 0.4 s with fresh samples
            await charger.ok("MeterValues", {"connectorId": 1, "meterValue": [energy(150)]})
            await watch.check_symptoms()  # rising again: cleared
            await asyncio.sleep(0.7)
            await watch.check_symptoms()  # samples stopped
            for _ in range(2):  # two authorizations, no transaction
                await charger.ok("Authorize", {"idTag": "TAG-1"})
            await asyncio.sleep(0.3)
            await watch.check_symptoms()
            found = await settled(sqlite_db, station, 8)
    finally:
        await node.stop()
    symptoms = [(f["state"], f["cleared"]) for f in found if f["kind"] == "symptom"]
    assert symptoms[:6] == [
        ("StuckPreparing", False),
        ("StuckPreparing", True),
        ("EnergyNotRising", False),
        ("EnergyNotRising", True),
        ("MeterValuesStopped", False),
        ("StartFailed", False),
    ]
