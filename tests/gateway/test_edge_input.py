"""Bad input at the gateway's edge, over real sockets and both database backends.

Frames that no parser should accept get FormatViolation; values that a column
would overflow never reach the database. Transaction messages are never refused:
the bad value is dropped, the message acknowledged, and the correction noted in
reconciliation.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from activities.persistence.database import Database
from activities.persistence.models import MeterSample, ReconciliationItem, Transaction
from activities.persistence.repositories import station_variables
from gateway import rpc
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect
from tests.helpers import seed_station
from workflows.domain import ReportedVariable

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
BOOT_2 = {"chargingStation": {"model": "Volt-2", "vendorName": "ACME"}, "reason": "PowerUp"}
NOW = "2026-11-21T10:00:00.000Z"


async def _station(db: Database) -> str:
    ident = unique("EDGE")
    await seed_station(db, ident, site_id="site-edge", tokens={"TAG-E": "Accepted"})
    return ident


async def _corrections(db: Database, station_id: str) -> list[ReconciliationItem]:
    async with db.sessions() as session:
        query = select(ReconciliationItem).where(ReconciliationItem.station_id == station_id)
        return list((await session.scalars(query)).all())


async def _transaction(db: Database, station_id: str) -> Transaction:
    async with db.sessions() as session:
        tx = await session.scalar(select(Transaction).where(Transaction.station_id == station_id))
    assert tx is not None
    return tx


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 5000 + "]" * 5000,
        '[2, "d1", "DataTransfer", {"vendorId": "x", "data": ' + "[" * 40 + "]" * 40 + "}]",
        '[2, "n1", "Heartbeat", {"x": NaN}]',
        '[2, "n2", "Heartbeat", {"x": -Infinity}]',
        '[2, "n3", "Heartbeat", {"x": 1e400}]',
    ],
    ids=["20k-deep", "40-deep-payload", "nan", "infinity", "overflowing-float"],
)
async def test_frames_json_does_not_allow_get_format_violation(
    gateway: Gateway, sqlite_db: Database, frame: str
) -> None:
    ident = await _station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_16)
        reply = await charger.send_raw(frame)
        assert reply[0] == 4 and reply[2] == "FormationViolation", reply
        # The socket stays up and serves the next frame.
        assert (await charger.ok("Heartbeat", {}))["currentTime"]


async def test_binary_frames_are_refused_with_1003(gateway: Gateway, sqlite_db: Database) -> None:
    ident = await _station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        await ws.send(b'[2,"b1","Heartbeat",{}]')
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_out_of_range_16_stop_is_acknowledged_settled_and_noted(
    db_gateway: Gateway, db: Database
) -> None:
    ident = await _station(db)
    async with await connect(db_gateway, ident) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_16)
        start = {"connectorId": 2**40, "idTag": "TAG-E", "meterStart": 2**63, "timestamp": NOW}
        started = await charger.ok("StartTransaction", start)
        # A retry (the answer was lost): the same transaction, no second note.
        assert (await charger.ok("StartTransaction", start)) == started
        tx_id = started["transactionId"]
        assert started["idTagInfo"]["status"] == "Accepted"
        stop = {
            "transactionId": tx_id,
            "meterStop": 10**20,
            "timestamp": "9999-12-31T23:59:59-01:00",
            "transactionData": [
                {
                    "timestamp": NOW,
                    "sampledValue": [
                        {"value": "not-a-number"},
                        {"value": "1e400"},
                        {"value": "5000"},
                    ],
                }
            ],
        }
        assert await charger.ok("StopTransaction", stop) == {}
        # A retry of the same stop is acknowledged too (and adds nothing).
        assert await charger.ok("StopTransaction", stop) == {}
    tx = await _transaction(db, ident)
    # The stop's register is unusable; the last good sample in transactionData stands in.
    assert (tx.connector_id, tx.meter_start_wh, tx.meter_stop_wh) == (0, None, 5000)
    assert tx.status == "stopped" and tx.stopped_at is not None
    async with db.sessions() as session:
        samples = (
            await session.scalars(select(MeterSample).where(MeterSample.transaction_pk == tx.id))
        ).all()
    assert [s.value for s in samples] == [5000.0]  # the one good sample of three
    items = await _corrections(db, ident)
    # No "late stop" either: the retried stop's stand-in time is not a different stop.
    assert sorted(i.kind for i in items) == [
        "TransactionEndedCorrected",
        "TransactionStartedCorrected",
    ]
    notes = " | ".join(i.note or "" for i in items)
    for expected in ("connectorId", "meterStart", "meterStop", "not-a-number", "gateway's clock"):
        assert expected in notes, notes


async def test_a_retried_16_start_with_an_unusable_time_is_one_transaction(
    db_gateway: Gateway, db: Database
) -> None:
    """The gateway's clock stands in for a year-9999 time; the retry (same message, a
    later clock reading) is still recognised as the same start."""
    ident = await _station(db)
    start = {
        "connectorId": 1,
        "idTag": "TAG-E",
        "meterStart": 100,
        "timestamp": "9999-12-31T23:59:59-01:00",
    }
    async with await connect(db_gateway, ident) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_16)
        first = await charger.ok("StartTransaction", start)
        await asyncio.sleep(0.01)
        assert await charger.ok("StartTransaction", start) == first
    async with db.sessions() as session:
        rows = (
            await session.scalars(select(Transaction).where(Transaction.station_id == ident))
        ).all()
    assert len(rows) == 1
    assert [i.kind for i in await _corrections(db, ident)] == ["TransactionStartedCorrected"]


async def test_out_of_range_2x_values_are_acknowledged(db_gateway: Gateway, db: Database) -> None:
    ident = await _station(db)

    def event(kind: str, seq: int, register: float, **extra: Any) -> dict[str, Any]:
        return {
            "eventType": kind,
            "timestamp": NOW,
            "triggerReason": "Authorized",
            "seqNo": seq,
            "transactionInfo": {"transactionId": "T-BIG", "remoteStartId": 2**40},
            "evse": {"id": 2**40, "connectorId": 1},
            "idToken": {"idToken": "TAG-E", "type": "ISO14443"},
            "meterValue": [
                {
                    "timestamp": NOW,
                    "sampledValue": [
                        {"value": register, "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
            **extra,
        }

    async with await connect(db_gateway, ident, "ocpp2.0.1") as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_2)
        await charger.ok("TransactionEvent", event("Started", 0, 1e19, reservationId=2**33))
        await charger.ok("TransactionEvent", event("Updated", 1, 1e308))
        await charger.ok("TransactionEvent", event("Ended", 2, 1.5e15))
        await charger.ok("TransactionEvent", event("Ended", 2, 1.5e15))  # a retry
    tx = await _transaction(db, ident)
    assert tx.status == "stopped"
    assert (tx.evse_id, tx.remote_start_id, tx.meter_start_wh, tx.meter_stop_wh) == (
        0,
        None,
        None,
        None,
    )
    items = await _corrections(db, ident)
    assert len(items) == 3, [i.kind for i in items]  # one per message, the retry adds none
    notes = " | ".join(i.note or "" for i in items)
    assert "evse.id" in notes and "remoteStartId" in notes and "reservationId" in notes
    assert "out of range: dropped" in notes


async def test_state_messages_with_out_of_range_ids_get_a_property_error(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = await _station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_16)
        status = {"connectorId": 2**40, "errorCode": "NoError", "status": "Available"}
        reply = await charger.call("StatusNotification", status)
        assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation", reply
        timed = {**status, "connectorId": 1, "timestamp": "0001-01-01T00:00:00+01:00"}
        reply = await charger.call("StatusNotification", timed)
        assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation", reply


async def test_meter_values_cannot_feed_another_stations_transaction(
    db_gateway: Gateway, db: Database
) -> None:
    victim, intruder = await _station(db), await _station(db)
    async with await connect(db_gateway, victim) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_16)
        started = await charger.ok(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-E", "meterStart": 1000, "timestamp": NOW},
        )
    tx_id = started["transactionId"]
    async with await connect(db_gateway, intruder) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_16)
        forged = {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "4980000"}]}],
        }
        assert await charger.ok("MeterValues", forged) == {}
    await db_gateway.services.samples.flush()
    async with db.sessions() as session:
        linked = (
            await session.scalars(select(MeterSample).where(MeterSample.transaction_pk == tx_id))
        ).all()
        stored = (
            await session.scalars(select(MeterSample).where(MeterSample.station_id == intruder))
        ).all()
    assert linked == []  # kept as the intruder's own, unlinked samples
    assert [(s.value, s.transaction_pk) for s in stored] == [(4980000.0, None)]


def test_the_gateway_never_sends_a_non_finite_number() -> None:
    with pytest.raises(ValueError):
        rpc.call_result("r1", {"limit": float("nan")})


async def test_a_key_reported_twice_in_one_report_is_stored_once(
    db_gateway: Gateway, db: Database
) -> None:
    """PostgreSQL refuses an upsert touching one row twice: the last value wins instead."""
    ident = await _station(db)
    item = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    report = {
        "requestId": 1,
        "generatedAt": NOW,
        "seqNo": 0,
        "reportData": [
            {**item, "variableAttribute": [{"value": "60"}]},
            {**item, "variableAttribute": [{"value": "90", "mutability": "ReadWrite"}]},
        ],
    }
    async with await connect(db_gateway, ident, "ocpp2.0.1") as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_2)
        assert await charger.ok("NotifyReport", report) == {}
    async with db.sessions() as session:
        stored = await station_variables.of_station(session, ident)
    assert [(v.key, v.value, v.readonly) for v in stored] == [
        ("OCPPCommCtrlr.HeartbeatInterval", "90", False)
    ]
    async with db.sessions.begin() as session:  # a GetConfiguration answer, the same way
        await station_variables.upsert_many(
            session,
            ident,
            [ReportedVariable("A", "1"), ReportedVariable("A", "2")],
            source="GetConfiguration",
            at=datetime.now(UTC),
        )
    async with db.sessions() as session:
        assert {v.key: v.value for v in await station_variables.of_station(session, ident)}[
            "A"
        ] == "2"
