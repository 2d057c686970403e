"""OCPP 2.0.1 and 2.1 at the gateway over real WebSockets (raw frames, both versions).

Test names carry the OCTT 2.0.1 case ids where one applies (TC_X_nn_CSMS).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from activities.persistence.database import Database
from activities.persistence.models import (
    Connector,
    IdToken,
    MeterSample,
    OutboxEvent,
    ReconciliationItem,
    Reservation,
    Station,
    StationEvent,
    Transaction,
)
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect
from tests.helpers import seed_station

pytestmark = pytest.mark.parametrize("version", ["2.0.1", "2.1"])

BOOT = {
    "chargingStation": {"model": "Volt-2", "vendorName": "ACME", "firmwareVersion": "7.1"},
    "reason": "PowerUp",
}
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def ts(minutes: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def register(wh: float, context: str = "Sample.Periodic", minutes: float = 0) -> list[Any]:
    return [
        {
            "timestamp": ts(minutes),
            "sampledValue": [
                {
                    "value": wh / 1000,
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unitOfMeasure": {"unit": "kWh"},
                },
                {
                    "value": 11,
                    "context": context,
                    "measurand": "Power.Active.Import",
                    "unitOfMeasure": {"unit": "W", "multiplier": 3},
                },
            ],
        }
    ]


def tx_event(
    kind: str,
    tx: str,
    seq: int,
    *,
    trigger: str = "Authorized",
    token: str | None = None,
    meter: list[Any] | None = None,
    minutes: float = 0,
    **info: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": kind,
        "timestamp": ts(minutes),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx, **info},
        "evse": {"id": 1, "connectorId": 1},
    }
    if token is not None:
        event["idToken"] = {"idToken": token, "type": "ISO14443"}
    if meter is not None:
        event["meterValue"] = meter
    return event


async def station(db: Database, **tokens: str) -> str:
    ident = unique("CS")
    await seed_station(db, ident, site_id="site-v2", tokens=tokens)
    return ident


def proto(version: str) -> str:
    return f"ocpp{version}"


async def test_TC_B_01_cold_boot_accepted(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident, proto(version)) as ws:
        assert ws.subprotocol == proto(version)
        reply = await RawCharger(ws).ok("BootNotification", BOOT)
    assert reply["status"] == "Accepted" and reply["interval"] == 120
    assert reply["currentTime"].endswith("Z")
    async with sqlite_db.sessions() as session:
        row = await session.get(Station, ident)
    assert row is not None and (row.vendor, row.model, row.ocpp_version) == (
        "ACME",
        "Volt-2",
        version,
    )


@pytest.mark.parametrize(
    ("registration", "answer"), [("pending", "Pending"), ("rejected", "Rejected")]
)
async def test_TC_B_02_pending_and_rejected_stations(
    gateway: Gateway, sqlite_db: Database, version: str, registration: str, answer: str
) -> None:
    ident = await station(sqlite_db)
    async with sqlite_db.sessions.begin() as session:
        row = await session.get(Station, ident)
        assert row is not None
        row.registration_status = registration
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        reply = await charger.ok("BootNotification", BOOT)
        assert reply["status"] == answer
        refused = await charger.call("TransactionEvent", tx_event("Started", "T1", 0))
    assert refused[0] == 4 and refused[2] == "SecurityError"


async def test_status_notification_per_evse_and_connector(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        await charger.ok(
            "StatusNotification",
            {"timestamp": ts(), "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1},
        )
        assert (await charger.ok("Heartbeat", {}))["currentTime"].endswith("Z")
    async with sqlite_db.sessions() as session:
        rows = (await session.scalars(select(Connector).where(Connector.station_id == ident))).all()
    assert [(c.evse_id, c.connector_id, c.status) for c in rows] == [(2, 1, "Occupied")]


@pytest.mark.parametrize(
    ("standing", "expected"),
    [
        ("accepted", "Accepted"),
        ("blocked", "Blocked"),
        ("expired", "Expired"),
        ("unknown", "Unknown"),
    ],
)
async def test_TC_C_02_authorize(
    gateway: Gateway, sqlite_db: Database, version: str, standing: str, expected: str
) -> None:
    ident = await station(sqlite_db)
    tag = unique("T")[:20]
    expiry = datetime.now(UTC) + (
        timedelta(days=-1) if standing == "expired" else timedelta(days=30)
    )
    if standing != "unknown":
        async with sqlite_db.sessions.begin() as session:
            session.add(
                IdToken(
                    id_token=tag,
                    group_id="FLEET-A",
                    expires_at=expiry,
                    status="accepted" if standing == "expired" else standing,
                )
            )
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        info = (await charger.ok("Authorize", {"idToken": {"idToken": tag, "type": "ISO14443"}}))[
            "idTokenInfo"
        ]
    assert info["status"] == expected
    if expected == "Accepted":
        assert info["groupIdToken"] == {"idToken": "FLEET-A", "type": "Central"}
        assert info["cacheExpiryDateTime"].endswith("Z")


async def test_TC_E_transaction_started_updated_ended(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, **{tag: "accepted"})
    tx = unique("tx")
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        started = await charger.ok(
            "TransactionEvent",
            tx_event(
                "Started",
                tx,
                0,
                trigger="CablePluggedIn",
                meter=register(1000, "Transaction.Begin"),
            ),
        )
        assert started == {}  # no token yet: nothing to authorize
        authorized = await charger.ok(
            "TransactionEvent", tx_event("Updated", tx, 1, token=tag, minutes=1)
        )
        assert authorized == {"idTokenInfo": {"status": "Accepted"}}
        update = tx_event(
            "Updated",
            tx,
            2,
            trigger="MeterValuePeriodic",
            meter=register(4000, minutes=20),
            minutes=20,
        )
        await charger.ok("TransactionEvent", update)
        await charger.ok("TransactionEvent", update)  # a repeat: ignored
        await charger.ok(
            "TransactionEvent",
            tx_event(
                "Ended",
                tx,
                3,
                trigger="EVCommunicationLost",
                stoppedReason="EVDisconnected",
                meter=register(9500, "Transaction.End", minutes=60),
                minutes=60,
            ),
        )
    async with sqlite_db.sessions() as session:
        row = await session.scalar(
            select(Transaction).where(
                Transaction.station_id == ident, Transaction.transaction_ref == tx
            )
        )
        assert row is not None
        samples = await session.scalar(
            select(func.count())
            .select_from(MeterSample)
            .where(MeterSample.transaction_pk == row.id)
        )
        kinds = (
            await session.scalars(
                select(OutboxEvent.kind)
                .where(OutboxEvent.workflow_id == f"session:{ident}:{tx}")
                .order_by(OutboxEvent.id)
            )
        ).all()
    assert (row.meter_start_wh, row.meter_stop_wh, row.status) == (1000, 9500, "stopped")
    assert (row.id_token, row.stop_reason, row.ocpp_version) == (tag, "EVDisconnected", version)
    assert row.seq_nos == [0, 1, 2, 3]
    assert samples == 6  # 3 events with meter values x 2 measurands; the repeat added none
    assert kinds == ["session.started", "session.stopped"]


async def test_TC_E_transaction_that_began_offline(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    tx = unique("tx")
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        # Only the end of a transaction that ran while the station was offline arrives.
        ended = tx_event(
            "Ended",
            tx,
            7,
            trigger="StopAuthorized",
            stoppedReason="Local",
            meter=register(2500, "Transaction.End", minutes=30),
            minutes=30,
        )
        ended["offline"] = True
        assert await charger.ok("TransactionEvent", ended) == {}
    async with sqlite_db.sessions() as session:
        row = await session.scalar(
            select(Transaction).where(
                Transaction.station_id == ident, Transaction.transaction_ref == tx
            )
        )
    assert row is not None and row.status == "stopped" and row.meter_stop_wh == 2500
    assert row.meter_start_wh is None  # settling takes the lowest sample instead


async def test_meter_values_outside_a_transaction(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        await charger.ok("MeterValues", {"evseId": 0, "meterValue": register(123_000)})
    async with sqlite_db.sessions() as session:
        rows = (
            await session.scalars(
                select(MeterSample).where(MeterSample.station_id == ident).order_by(MeterSample.id)
            )
        ).all()
    assert [(r.evse_id, r.measurand, r.unit, r.value) for r in rows] == [
        (0, "Energy.Active.Import.Register", "Wh", 123_000.0),
        (0, "Power.Active.Import", "W", 11_000.0),
    ]


@pytest.mark.parametrize(
    ("action", "payload", "answer", "kind"),
    [
        (
            "FirmwareStatusNotification",
            {"status": "Installed", "requestId": 4},
            {},
            "FirmwareStatus",
        ),
        ("LogStatusNotification", {"status": "Uploaded", "requestId": 5}, {}, "LogStatus"),
        (
            "SecurityEventNotification",
            {"type": "SettingSystemTime", "timestamp": ts()},
            {},
            "SecurityEvent",
        ),
        (
            "NotifyEvent",
            {
                "generatedAt": ts(),
                "seqNo": 0,
                "eventData": [
                    {
                        "eventId": 1,
                        "timestamp": ts(),
                        "trigger": "Alerting",
                        "actualValue": "true",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {"name": "Door"},
                        "variable": {"name": "Open"},
                    }
                ],
            },
            {},
            "Event",
        ),
        ("NotifyReport", {"requestId": 1, "generatedAt": ts(), "seqNo": 0}, {}, "Report"),
        (
            "ReportChargingProfiles",
            {
                "requestId": 9,
                "chargingLimitSource": "CSO",
                "evseId": 1,
                "chargingProfile": [
                    {
                        "id": 5001,
                        "stackLevel": 3,
                        "chargingProfilePurpose": "TxDefaultProfile",
                        "chargingProfileKind": "Relative",
                        "chargingSchedule": [
                            {
                                "id": 1,
                                "chargingRateUnit": "W",
                                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
                            }
                        ],
                    }
                ],
            },
            {},
            "ChargingProfiles",
        ),
        (
            "NotifyDisplayMessages",
            {
                "requestId": 10,
                "messageInfo": [
                    {
                        "id": 3,
                        "priority": "InFront",
                        "message": {"format": "UTF8", "content": "Free charging today"},
                    }
                ],
            },
            {},
            "Report",
        ),
        (
            "NotifyCustomerInformation",
            {"data": "2 sessions, card T1", "seqNo": 0, "generatedAt": ts(), "requestId": 12},
            {},
            "Report",
        ),
        ("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}, {}, "ChargingLimit"),
        (
            "NotifyEVChargingSchedule",
            {
                "timeBase": ts(),
                "evseId": 1,
                "chargingSchedule": {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
                },
            },
            {"status": "Accepted"},
            "EVChargingSchedule",
        ),
        (
            "NotifyChargingLimit",
            {"chargingLimit": {"chargingLimitSource": "EMS"}},
            {},
            "ChargingLimit",
        ),
        (
            "NotifyEVChargingNeeds",
            {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
            {"status": "Rejected", "statusInfo": {"reasonCode": "NoSmartCharging"}},
            "EVChargingNeeds",
        ),
    ],
)
async def test_notifications_are_answered_and_kept(
    gateway: Gateway,
    sqlite_db: Database,
    version: str,
    action: str,
    payload: dict[str, Any],
    answer: dict[str, Any],
    kind: str,
) -> None:
    ident = await station(sqlite_db)
    if version == "2.1" and action == "NotifyEVChargingNeeds":
        payload = {**payload, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        assert await charger.ok(action, payload) == answer
    async with sqlite_db.sessions() as session:
        events = (
            await session.scalars(select(StationEvent).where(StationEvent.station_id == ident))
        ).all()
    assert [e.kind for e in events] == [kind]
    assert events[0].payload["message"] == payload


@pytest.mark.parametrize(
    ("action", "payload", "status"),
    [
        ("SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}, "Rejected"),
        (
            "Get15118EVCertificate",
            {
                "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                "action": "Install",
                "exiRequest": "AAAA",
            },
            "Failed",
        ),
        (
            "GetCertificateStatus",
            {
                "ocspRequestData": {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "a",
                    "issuerKeyHash": "b",
                    "serialNumber": "c",
                    "responderURL": "http://ocsp.example",
                }
            },
            "Failed",
        ),
        ("DataTransfer", {"vendorId": "com.example"}, "UnknownVendorId"),
    ],
)
async def test_plug_and_charge_requests_get_a_conformant_refusal(
    gateway: Gateway,
    sqlite_db: Database,
    version: str,
    action: str,
    payload: dict[str, Any],
    status: str,
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        reply = await charger.ok(action, payload)
    assert reply["status"] == status


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "FormatViolation"),
        ('[2, "m1", "Heartbeat", {"x": 1}]', "FormatViolation"),
        ('[2, "m1", "Authorize", {}]', "OccurrenceConstraintViolation"),
        (
            '[2, "m1", "StatusNotification", {"timestamp": "now", "connectorStatus": "Occupied", '
            '"evseId": 1, "connectorId": 1}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "m1", "MeterValues", {"evseId": "one", "meterValue": []}]',
            "TypeConstraintViolation",
        ),
        (
            '[2, "m1", "RequestStartTransaction", {"idToken": {"idToken": "a", "type": "Central"}, '
            '"remoteStartId": 1}]',
            "NotSupported",
        ),
        ('[2, "m1", "Teleport", {}]', "NotImplemented"),
        ('[5, "m1", "Heartbeat", {}]', "MessageTypeNotSupported"),
    ],
)
async def test_bad_frames_get_the_2x_spelling_of_the_error(
    gateway: Gateway, sqlite_db: Database, version: str, frame: str, code: str
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        reply = await charger.send_raw(frame)
        assert reply[0] == 4 and reply[2] == code, reply
        assert (await charger.ok("Heartbeat", {}))["currentTime"]


async def test_subprotocol_negotiation(gateway: Gateway, sqlite_db: Database, version: str) -> None:
    fresh = await station(sqlite_db)
    async with await connect(gateway, fresh, "ocpp1.6", proto(version)) as ws:
        assert ws.subprotocol == proto(version), "the newest offered version wins"
    registered = await station(sqlite_db)
    async with sqlite_db.sessions.begin() as session:
        row = await session.get(Station, registered)
        assert row is not None
        row.ocpp_version = "1.6"
    async with await connect(gateway, registered, proto(version), "ocpp1.6") as ws:
        assert ws.subprotocol == "ocpp1.6", "the station's registered version wins"


async def test_a_late_started_event_corrects_the_start(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    tx = unique("tx")
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        # Delivered out of order after an outage: an Updated, then the Started.
        await charger.ok(
            "TransactionEvent",
            tx_event("Updated", tx, 1, minutes=10, meter=register(6000, minutes=10)),
        )
        started = tx_event("Started", tx, 0, meter=register(5000, "Transaction.Begin"))
        started["evse"] = {"id": 2, "connectorId": 1}
        await charger.ok("TransactionEvent", started)
    async with sqlite_db.sessions() as session:
        row = await session.scalar(
            select(Transaction).where(
                Transaction.station_id == ident, Transaction.transaction_ref == tx
            )
        )
    assert row is not None
    assert (row.evse_id, row.meter_start_wh, row.started_at) == (2, 5000, T0)
    assert row.seq_nos == [0, 1]


async def test_absurd_samples_are_dropped_with_a_note_not_an_internal_error(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        reply = await charger.call(
            "MeterValues",
            {
                "evseId": 1,
                "meterValue": [
                    {
                        "timestamp": ts(),
                        "sampledValue": [
                            {"value": 1, "unitOfMeasure": {"unit": "Wh", "multiplier": 400}}
                        ],
                    }
                ],
            },
        )
        # Acknowledged (a refused MeterValues is retried, then lost), the sample dropped.
        assert reply[0] == 3, reply
        assert (await charger.ok("Heartbeat", {}))["currentTime"]
    async with sqlite_db.sessions() as session:
        notes = (
            await session.scalars(
                select(ReconciliationItem.note).where(ReconciliationItem.station_id == ident)
            )
        ).all()
        kept = await session.scalar(
            select(func.count()).select_from(MeterSample).where(MeterSample.station_id == ident)
        )
    assert kept == 0 and any("multiplier 400" in (n or "") for n in notes), notes


async def test_a_late_message_of_a_reused_ids_earlier_session_stays_with_it(
    db_gateway: Gateway, db: Database, version: str
) -> None:
    """TX-1 ended, then began again; a retry of the first session's Ended and a sample it
    sent offline arrive only now: they stay with the first session, and the second one
    runs on untouched (it used to be closed with the first one's stop)."""
    ident = await station(db)
    first_end = tx_event("Ended", "TX-1", 2, minutes=60, meter=register(3000, minutes=60))
    async with await connect(db_gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        await charger.ok("TransactionEvent", tx_event("Started", "TX-1", 0, meter=register(1000)))
        await charger.ok("TransactionEvent", first_end)
        second = tx_event("Started", "TX-1", 0, minutes=120, meter=register(3000, minutes=120))
        await charger.ok("TransactionEvent", second)
        await charger.ok("TransactionEvent", first_end)  # the retry
        late = tx_event("Updated", "TX-1", 1, minutes=30, meter=register(2000, minutes=30))
        await charger.ok("TransactionEvent", late)
    await db_gateway.services.samples.flush()
    async with db.sessions() as session:
        rows = (
            await session.scalars(
                select(Transaction).where(Transaction.station_id == ident).order_by(Transaction.id)
            )
        ).all()
        late_samples = (
            await session.scalars(
                select(MeterSample).where(
                    MeterSample.station_id == ident,
                    MeterSample.sampled_at == T0 + timedelta(minutes=30),
                )
            )
        ).all()
    assert [(r.status, r.meter_stop_wh) for r in rows] == [("stopped", 3000), ("active", None)]
    assert rows[0].seq_nos == [0, 1, 2] and rows[1].seq_nos == [0]
    assert {s.transaction_pk for s in late_samples} == {rows[0].id}


async def test_TC_E_a_transaction_without_a_token_gets_no_id_token_info(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    """CablePluggedIn on a reserved EVSE carries no idToken: the answer has no
    ``idTokenInfo`` (there is nothing to judge), and the reservation keeps holding."""
    ident = await station(sqlite_db, **{"TAG-R": "Accepted"})
    async with sqlite_db.sessions.begin() as session:
        session.add(
            Reservation(
                id=7,
                station_id=ident,
                evse_id=1,
                connector_id=1,
                id_token="TAG-R",
                expires_at=datetime(2099, 1, 1, tzinfo=UTC),
                status="active",
                workflow_id=f"reservation:{ident}:7",
            )
        )
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        plugged = await charger.ok(
            "TransactionEvent", tx_event("Started", "TX-P", 0, trigger="CablePluggedIn")
        )
        assert "idTokenInfo" not in plugged, plugged
        other = await charger.ok("TransactionEvent", tx_event("Started", "TX-Q", 0, token="TAG-X"))
    # A different token on the reserved EVSE is still told it may not charge.
    assert other["idTokenInfo"]["status"] == "Invalid"
    async with sqlite_db.sessions() as session:
        row = await session.get(Reservation, (ident, 7))
    assert row is not None


async def test_TC_B_a_station_put_back_to_pending_hears_pending_at_its_next_boot(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    """The operator's re-registration (POST /stations/{id}/re-register) is the stored
    status: the next BootNotification is answered Pending, and until it is accepted
    again the station may send nothing but boots and heartbeats."""
    ident = await station(sqlite_db)
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        assert (await charger.ok("BootNotification", BOOT))["status"] == "Accepted"
        async with sqlite_db.sessions.begin() as session:
            row = await session.get(Station, ident)
            assert row is not None
            row.registration_status = "pending"
        assert (await charger.ok("BootNotification", BOOT))["status"] == "Pending"
        refused = await charger.call(
            "StatusNotification",
            {"timestamp": ts(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        )
    assert refused[0] == 4 and refused[2] == "SecurityError"


async def test_TC_E_14_a_gap_in_seq_nos_asks_get_transaction_status(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    """A transaction ends with seqNo 1 never received: the CSMS asks
    GetTransactionStatus; the station holds nothing more, so the gap goes to
    reconciliation and the answer is kept. A complete transaction asks nothing."""
    ident = await station(sqlite_db, TAG="accepted")
    async with await connect(gateway, ident, proto(version)) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        await charger.ok("TransactionEvent", tx_event("Started", "GAP-1", 0, token="TAG"))
        await charger.ok(
            "TransactionEvent", tx_event("Ended", "GAP-1", 2, stoppedReason="Local", minutes=5)
        )
        await charger.ok("TransactionEvent", tx_event("Started", "FULL-1", 0, token="TAG"))
        await charger.ok(
            "TransactionEvent", tx_event("Ended", "FULL-1", 1, stoppedReason="Local", minutes=5)
        )
        for _ in range(50):  # the question comes off the receive loop
            await charger.ok("Heartbeat", {})
            async with sqlite_db.sessions() as session:
                found = (
                    await session.scalars(
                        select(ReconciliationItem).where(
                            ReconciliationItem.station_id == ident,
                            ReconciliationItem.kind == "TransactionSeqNoGap",
                        )
                    )
                ).all()
            if found:
                break
            await asyncio.sleep(0.05)
    asked = [c[3] for c in charger.received if c[2] == "GetTransactionStatus"]
    assert asked == [{"transactionId": "GAP-1"}]
    assert [i.payload for i in found] == [{"transaction_id": "GAP-1", "missing_seq_nos": [1]}]
    async with sqlite_db.sessions() as session:
        kept = (
            await session.scalars(
                select(StationEvent).where(
                    StationEvent.station_id == ident, StationEvent.kind == "TransactionStatus"
                )
            )
        ).all()
    assert [e.payload["status"] for e in kept] == ["Complete"]
