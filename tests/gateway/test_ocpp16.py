"""OCPP 1.6J at the gateway over real WebSockets: answers, storage and bad input.

Test names carry the OCTT case ids where one applies (TC_xxx_CSMS).
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from sqlalchemy import func, select
from websockets.typing import Subprotocol

from activities.credentials import hash_password
from activities.persistence.database import Database
from activities.persistence.models import (
    Connector,
    IdToken,
    MeterSample,
    OutboxEvent,
    ReconciliationItem,
    Station,
    StationConnection,
    StationEvent,
    Transaction,
)
from activities.persistence.repositories import meter_samples
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect, url
from tests.helpers import seed_station

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22", "firmwareVersion": "4.2"}
NOW = "2026-11-21T10:00:00.000Z"


def start_payload(tag: str, meter: int = 1000, ts: str = NOW) -> dict[str, object]:
    return {"connectorId": 1, "idTag": tag, "meterStart": meter, "timestamp": ts}


async def station(db: Database, **tokens: str) -> str:
    ident = unique("CP")
    await seed_station(db, ident, site_id="site-gw", tokens=tokens)
    return ident


async def test_TC_001_cold_boot_is_accepted_with_utc_time_and_interval(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        reply = await RawCharger(ws).ok("BootNotification", BOOT)
    assert reply["status"] == "Accepted"
    assert reply["interval"] == 120
    assert reply["currentTime"].endswith("Z")
    drift = abs(datetime.fromisoformat(reply["currentTime"]) - datetime.now(UTC))
    assert drift < timedelta(seconds=5)
    async with sqlite_db.sessions() as session:
        row = await session.get(Station, ident)
    assert row is not None and (row.vendor, row.model, row.firmware_version) == (
        "ACME",
        "Volt-22",
        "4.2",
    )
    assert row.ocpp_version == "1.6"


async def test_heartbeat_and_status_notification_per_connector(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        assert (await charger.ok("Heartbeat", {}))["currentTime"].endswith("Z")
        for connector, status in ((0, "Available"), (1, "Preparing"), (2, "Faulted")):
            await charger.ok(
                "StatusNotification",
                {
                    "connectorId": connector,
                    "errorCode": "NoError" if connector < 2 else "GroundFailure",
                    "status": status,
                    "timestamp": NOW,
                },
            )
        # An older, delayed notification must not overwrite the newer status.
        await charger.ok(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "2026-11-21T09:00:00Z",
            },
        )
    async with sqlite_db.sessions() as session:
        rows = (
            await session.scalars(
                select(Connector)
                .where(Connector.station_id == ident)
                .order_by(Connector.connector_id)
            )
        ).all()
    assert [(c.connector_id, c.status, c.error_code) for c in rows] == [
        (0, "Available", "NoError"),
        (1, "Preparing", "NoError"),
        (2, "Faulted", "GroundFailure"),
    ]


@pytest.mark.parametrize(
    ("standing", "expected"),
    [
        ("accepted", "Accepted"),
        ("blocked", "Blocked"),
        ("expired", "Expired"),
        ("unknown", "Invalid"),
    ],
)
async def test_TC_023_authorize_answers_the_tokens_standing(
    gateway: Gateway, sqlite_db: Database, standing: str, expected: str
) -> None:
    ident = await station(sqlite_db)
    tag = unique("T")[:20]
    if standing != "unknown":
        async with sqlite_db.sessions.begin() as session:
            session.add(
                IdToken(
                    id_token=tag,
                    status="accepted" if standing == "expired" else standing,
                    expires_at=datetime.now(UTC) - timedelta(days=1)
                    if standing == "expired"
                    else None,
                )
            )
    async with await connect(gateway, ident) as ws:
        reply = await RawCharger(ws).ok("Authorize", {"idTag": tag})
    assert reply == {"idTagInfo": {"status": expected}}


async def test_TC_003_start_transaction_allocates_an_id_and_queues_the_start(
    gateway: Gateway, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, **{tag: "accepted"})
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        first = await charger.ok("StartTransaction", start_payload(tag))
        retried = await charger.ok("StartTransaction", start_payload(tag))
        other = await charger.ok("StartTransaction", start_payload(tag, meter=2000))
    assert first["idTagInfo"] == {"status": "Accepted"}
    assert isinstance(first["transactionId"], int)
    assert retried["transactionId"] == first["transactionId"], "a retry must not create a ghost"
    assert other["transactionId"] != first["transactionId"]
    async with sqlite_db.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Transaction).where(Transaction.station_id == ident)
        )
        events = (
            await session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.workflow_id == f"session:{ident}:{first['transactionId']}"
                )
            )
        ).all()
    assert count == 2
    assert [e.kind for e in events] == ["session.started"]
    assert events[0].payload["start"]["meter_start_wh"] == 1000
    # Temporal is unreachable here: the event is kept, not lost.
    assert gateway.services.relay.delivered == 0


async def test_start_with_a_blocked_token_is_recorded_and_answered_blocked(
    gateway: Gateway, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, **{tag: "blocked"})
    async with await connect(gateway, ident) as ws:
        reply = await RawCharger(ws).ok("StartTransaction", start_payload(tag))
    assert reply["idTagInfo"] == {"status": "Blocked"}
    assert reply["transactionId"] > 0


async def test_meter_values_are_normalised_and_linked(
    gateway: Gateway, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, **{tag: "accepted"})
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        tx = (await charger.ok("StartTransaction", start_payload(tag)))["transactionId"]
        await charger.ok(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [
                    {
                        "timestamp": NOW,
                        "sampledValue": [
                            {
                                "value": "1.5",
                                "unit": "kWh",
                            },  # measurand defaults to the energy register
                            {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"},
                            {
                                "value": "16",
                                "unit": "A",
                                "measurand": "Current.Import",
                                "phase": "L1",
                            },
                        ],
                    }
                ],
            },
        )
        await charger.ok(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 999_999_999,
                "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "5"}]}],
            },
        )
        await gateway.services.samples.flush()
    async with sqlite_db.sessions() as session:
        rows = (
            await session.scalars(
                select(MeterSample).where(MeterSample.station_id == ident).order_by(MeterSample.id)
            )
        ).all()
    assert [(r.transaction_pk, r.measurand, r.unit, r.value, r.phase) for r in rows] == [
        (tx, "Energy.Active.Import.Register", "Wh", 1500.0, None),
        (tx, "Power.Active.Import", "W", 7200.0, None),
        (tx, "Current.Import", "A", 16.0, "L1"),
        (None, "Energy.Active.Import.Register", "Wh", 5.0, None),  # unknown tx: kept unlinked
    ]


async def test_TC_004_stop_transaction_records_the_stop_once(
    gateway: Gateway, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, **{tag: "accepted"})
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        tx = (await charger.ok("StartTransaction", start_payload(tag)))["transactionId"]
        stop = {
            "transactionId": tx,
            "meterStop": 9000,
            "timestamp": NOW,
            "idTag": tag,
            "reason": "EVDisconnected",
            "transactionData": [{"timestamp": NOW, "sampledValue": [{"value": "9000"}]}],
        }
        assert await charger.ok("StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
        assert await charger.ok("StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
    async with sqlite_db.sessions() as session:
        row = await session.get(Transaction, tx)
        kinds = (
            await session.scalars(
                select(OutboxEvent.kind)
                .where(OutboxEvent.workflow_id == f"session:{ident}:{tx}")
                .order_by(OutboxEvent.id)
            )
        ).all()
        samples = await session.scalar(
            select(func.count()).select_from(MeterSample).where(MeterSample.transaction_pk == tx)
        )
    assert row is not None and (row.status, row.meter_stop_wh, row.stop_reason) == (
        "stopped",
        9000,
        "EVDisconnected",
    )
    assert kinds == ["session.started", "session.stopped"]
    assert samples == 1


async def test_stop_of_an_unknown_transaction_is_acknowledged_and_reconciled(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        reply = await RawCharger(ws).ok(
            "StopTransaction", {"transactionId": 123_456_789, "meterStop": 10, "timestamp": NOW}
        )
    assert reply == {}
    async with sqlite_db.sessions() as session:
        items = (
            await session.scalars(
                select(ReconciliationItem).where(ReconciliationItem.station_id == ident)
            )
        ).all()
    assert [(i.kind, i.payload["transaction_ref"], i.payload["register_wh"]) for i in items] == [
        ("TransactionEnded", "123456789", 10)
    ]


async def test_data_transfer_from_an_unknown_vendor(gateway: Gateway, sqlite_db: Database) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        reply = await RawCharger(ws).ok("DataTransfer", {"vendorId": "com.example", "data": "x"})
    assert reply == {"status": "UnknownVendorId"}


@pytest.mark.parametrize(
    ("action", "payload", "kind"),
    [
        (
            "SecurityEventNotification",
            {"type": "InvalidCentralSystemCertificate", "timestamp": NOW, "techInfo": "expired"},
            "SecurityEvent",
        ),
        ("LogStatusNotification", {"status": "Uploading", "requestId": 7}, "LogStatus"),
    ],
)
async def test_TC_073_security_extension_notifications_are_answered_and_kept(
    gateway: Gateway, sqlite_db: Database, action: str, payload: dict[str, object], kind: str
) -> None:
    """The security extension's station-initiated notifications: an empty answer,
    and the message kept among the station's events."""
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        assert await charger.ok(action, payload) == {}
    async with sqlite_db.sessions() as session:
        events = (
            await session.scalars(select(StationEvent).where(StationEvent.station_id == ident))
        ).all()
    assert [(e.kind, e.payload["message"]) for e in events] == [(kind, payload)]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not json", "FormationViolation"),
        (
            '[2, "m1", "StartTransaction", {"connectorId": "one", "idTag": "A", "meterStart": 0, '
            f'"timestamp": "{NOW}"}}]',
            "TypeConstraintViolation",
        ),
        (
            '[2, "m1", "StartTransaction", {"idTag": "A", "meterStart": 0, '
            f'"timestamp": "{NOW}"}}]',
            "OccurenceConstraintViolation",
        ),
        ('[2, "m1", "Authorize", {"idTag": "' + "X" * 21 + '"}]', "PropertyConstraintViolation"),
        ('[2, "m1", "Heartbeat", {"unexpected": 1}]', "FormationViolation"),
        (
            '[2, "m1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
            '"status": "Sleeping"}]',
            "PropertyConstraintViolation",
        ),
        ('[2, "m1", "FlyToTheMoon", {}]', "NotImplemented"),
        ('[2, "m1", "RemoteStartTransaction", {"idTag": "A"}]', "NotSupported"),
        ('[7, "m1", "Heartbeat", {}]', "ProtocolError"),
    ],
)
async def test_bad_frames_get_the_right_callerror_and_the_socket_stays_up(
    gateway: Gateway, sqlite_db: Database, frame: str, code: str
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        reply = await charger.send_raw(frame)
        assert reply[0] == 4 and reply[2] == code, reply
        assert reply[1] == ("-1" if frame == "this is not json" else "m1")
        assert isinstance(reply[3], str) and isinstance(reply[4], dict)
        # Still serving, and nothing was stored by the bad frame.
        assert (await charger.ok("Heartbeat", {}))["currentTime"]
    async with sqlite_db.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Transaction).where(Transaction.station_id == ident)
            )
            == 0
        )


async def test_oversized_frame_closes_with_1009(gateway: Gateway, sqlite_db: Database) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        await ws.send(json.dumps([2, "1", "DataTransfer", {"vendorId": "v", "data": "x" * 20_000}]))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_unknown_station_is_refused_under_the_reject_policy(sqlite_db: Database) -> None:
    from gateway.config import GatewayConfig

    node = Gateway(
        GatewayConfig(
            allow_unsecured_stations=True,
            node_id="gw-reject",
            host="127.0.0.1",
            port=0,
            temporal_address="127.0.0.1:1",
        ),
        sqlite_db,
    )
    await node.start()
    try:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(node, unique("STRANGER"))
        assert refused.value.response.status_code == 404
    finally:
        await node.stop()


async def test_unknown_station_is_pending_until_approved(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = unique("NEW")
    async with await connect(gateway, ident) as ws:
        charger = RawCharger(ws)
        assert (await charger.ok("BootNotification", BOOT))["status"] == "Pending"
        reply = await charger.call("StartTransaction", start_payload("A"))
        assert reply[0] == 4 and reply[2] == "SecurityError"
        await seed_station(sqlite_db, unique("OTHER"), site_id="site-gw")  # the site exists
        async with sqlite_db.sessions.begin() as session:
            row = await session.get(Station, ident)
            assert row is not None and row.registration_status == "pending"
            # What POST /stations/{id}/approve does (with a site), while it stays connected.
            row.registration_status = "accepted"
            row.site_id = "site-gw"
        assert (await charger.ok("BootNotification", BOOT))["status"] == "Accepted"
        tx = (await charger.ok("StartTransaction", start_payload("A")))["transactionId"]
    async with sqlite_db.sessions() as session:
        stored = await session.get(Transaction, tx)
    assert stored is not None and stored.site_id == "site-gw", "the approved site is billed"


async def test_missing_subprotocol_is_refused(gateway: Gateway, sqlite_db: Database) -> None:
    ident = await station(sqlite_db)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            url(gateway, ident),
            subprotocols=[Subprotocol("ocpp0.1")],
        )
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize("credentials", [None, "wrong-password-123456", "other-user"])
async def test_TC_085_basic_auth_is_required_when_a_password_is_set(
    gateway: Gateway, sqlite_db: Database, credentials: str | None
) -> None:
    ident = unique("SEC")
    await seed_station(sqlite_db, ident, password_hash=hash_password("correct-horse-battery"))
    headers = {}
    if credentials == "other-user":
        headers = {
            "Authorization": "Basic "
            + base64.b64encode(b"someone-else:correct-horse-battery").decode()
        }
    elif credentials:
        headers = {
            "Authorization": "Basic " + base64.b64encode(f"{ident}:{credentials}".encode()).decode()
        }
    before = gateway.failed_authentications
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(gateway, ident, additional_headers=headers)
    assert refused.value.response.status_code == 401
    assert gateway.failed_authentications == before + 1
    good = {
        "Authorization": "Basic "
        + base64.b64encode(f"{ident}:correct-horse-battery".encode()).decode()
    }
    async with await connect(gateway, ident, additional_headers=good) as ws:
        assert (await RawCharger(ws).ok("BootNotification", BOOT))["status"] == "Accepted"


async def test_reconnect_replaces_the_old_socket_and_registry_follows(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = await station(sqlite_db)
    old = await connect(gateway, ident)
    await RawCharger(old).ok("BootNotification", BOOT)
    new = await connect(gateway, ident)
    await RawCharger(new).ok("Heartbeat", {})
    await asyncio.wait_for(old.wait_closed(), 5)
    assert old.close_code == 1000
    async with sqlite_db.sessions() as session:
        entry = await session.get(StationConnection, ident)
    assert entry is not None and entry.node_id == "gw-test"
    assert gateway.connections[ident].websocket.remote_address is not None
    await new.close()
    for _ in range(50):
        async with sqlite_db.sessions() as session:
            if await session.get(StationConnection, ident) is None:
                break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("registry entry not cleared after disconnect")


async def test_a_flooding_station_is_rate_limited_without_side_effects(sqlite_db: Database) -> None:
    from gateway.config import GatewayConfig

    node = Gateway(
        GatewayConfig(
            allow_unsecured_stations=True,
            node_id="gw-rate",
            host="127.0.0.1",
            port=0,
            temporal_address="127.0.0.1:1",
            rate_limit_per_s=5.0,
            rate_limit_burst=5,
        ),
        sqlite_db,
    )
    await node.start()
    try:
        tag = unique("T")[:20]
        ident = await station(sqlite_db, **{tag: "accepted"})
        async with await connect(node, ident) as ws:
            charger = RawCharger(ws)
            codes = [(await charger.call("Heartbeat", {}))[0] for _ in range(5)]
            flood = await charger.call("StartTransaction", start_payload(tag))
            assert codes == [3] * 5
            assert flood[0] == 4 and flood[2] == "GenericError" and "rate limit" in flood[3]
            await asyncio.sleep(0.25)  # about one token comes back
            assert (await charger.call("Heartbeat", {}))[0] == 3
        async with sqlite_db.sessions() as session:
            started = await session.scalar(
                select(func.count()).select_from(Transaction).where(Transaction.station_id == ident)
            )
        assert started == 0, "the refused StartTransaction did nothing"
    finally:
        await node.stop()


async def test_meter_values_for_an_impossible_transaction_id_are_kept_unlinked(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident) as ws:
        reply = await RawCharger(ws).ok(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 2**63,
                "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "7"}]}],
            },
        )
    assert reply == {}
    async with sqlite_db.sessions() as session:
        rows = (
            await session.scalars(select(MeterSample).where(MeterSample.station_id == ident))
        ).all()
    assert [(r.transaction_pk, r.value) for r in rows] == [(None, 7.0)]


async def test_one_bad_meter_message_fails_only_its_sender(
    gateway: Gateway, sqlite_db: Database
) -> None:
    """A shared batch that fails is retried per sender (group commit isolation)."""
    writes = gateway.services.samples
    good = [
        {
            "transaction_pk": None,
            "station_id": "A",
            "evse_id": 1,
            "connector_id": 1,
            "sampled_at": datetime.now(UTC),
            "measurand": "Voltage",
            "phase": None,
            "location": None,
            "context": None,
            "unit": "V",
            "value": 230.0,
        }
    ]
    bad = [{**good[0], "unit": None}]  # violates NOT NULL
    results = await asyncio.gather(
        writes.run_batched(meter_samples.add_sample_batches, good),
        writes.run_batched(meter_samples.add_sample_batches, bad),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], Exception)
