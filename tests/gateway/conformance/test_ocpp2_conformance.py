"""OCPP 2.0.1 and 2.1 conformance (OCTT TC_X_nn_CSMS cases that need no CSMS-initiated
command), played by a strict ocpp-rpc charger for both versions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from activities.credentials import hash_password
from activities.persistence.database import Database
from activities.persistence.models import IdToken, Station, Transaction
from tests.conftest import unique
from tests.gateway.conformance.conftest import StrictCharger, responses
from tests.helpers import seed_station

pytestmark = pytest.mark.parametrize("version", ["2.0.1", "2.1"])

BOOT = (
    "BootNotification",
    {"chargingStation": {"model": "TestCS", "vendorName": "OCTT"}, "reason": "PowerUp"},
)
EVSE = {"id": 1, "connectorId": 1}


def status(state: str) -> tuple[str, dict[str, Any]]:
    return (
        "StatusNotification",
        {"timestamp": "$now", "connectorStatus": state, "evseId": 1, "connectorId": 1},
    )


def meter(wh: float, context: str) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": "$now",
            "sampledValue": [
                {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"}
            ],
        }
    ]


def event(kind: str, tx: str, seq: int, trigger: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    info = {"transactionId": tx, **extra.pop("info", {})}
    return (
        "TransactionEvent",
        {
            "eventType": kind,
            "timestamp": "$now",
            "triggerReason": trigger,
            "seqNo": seq,
            "transactionInfo": info,
            "evse": EVSE,
            **extra,
        },
    )


def token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "ISO14443"}


async def station(
    db: Database,
    tokens: dict[str, str] | None = None,
    password: str | None = None,
    registration: str = "accepted",
) -> str:
    ident = unique("OCTT")
    await seed_station(
        db,
        ident,
        site_id="octt",
        password_hash=hash_password(password) if password else None,
        tokens=tokens,
    )
    if registration != "accepted":
        async with db.sessions.begin() as session:
            row = await session.get(Station, ident)
            assert row is not None
            row.registration_status = registration
    return ident


async def test_TC_B_01_CSMS_cold_boot(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    result = await strict.run(
        ident, f"ocpp{version}", [BOOT, ("Heartbeat", {}), status("Available")]
    )
    assert result["protocol"] == f"ocpp{version}"
    boot, heartbeat, _ = responses(result)
    assert boot["status"] == "Accepted" and heartbeat["currentTime"].endswith("Z")


async def test_TC_B_02_CSMS_cold_boot_pending(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db, registration="pending")
    result = await strict.run(
        ident, f"ocpp{version}", [BOOT, ("Heartbeat", {}), status("Available")]
    )
    boot, heartbeat, refused = result["results"]
    assert boot["response"]["status"] == "Pending" and heartbeat["ok"]
    assert refused["code"] == "SecurityError"


async def test_TC_B_31_CSMS_boot_rejected(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db, registration="rejected")
    (boot,) = responses(await strict.run(ident, f"ocpp{version}", [BOOT]))
    assert boot["status"] == "Rejected" and boot["interval"] > 0


@pytest.mark.parametrize(
    ("case", "standing", "answer"),
    [
        ("TC_C_02", "accepted", "Accepted"),
        ("TC_C_06", "unknown", "Unknown"),
        ("TC_C_07", "blocked", "Blocked"),
    ],
)
async def test_TC_C_CSMS_authorize(
    strict: StrictCharger,
    sqlite_db: Database,
    version: str,
    case: str,
    standing: str,
    answer: str,
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db)
    if standing != "unknown":
        async with sqlite_db.sessions.begin() as session:
            session.add(IdToken(id_token=tag, status=standing))
    _, authorize = responses(
        await strict.run(ident, f"ocpp{version}", [BOOT, ("Authorize", {"idToken": token(tag)})])
    )
    assert authorize["idTokenInfo"]["status"] == answer, case


async def test_TC_E_01_CSMS_start_transaction_cable_plugin_first(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    tx = str(uuid.uuid4())
    result = responses(
        await strict.run(
            ident,
            f"ocpp{version}",
            [
                BOOT,
                status("Occupied"),
                event(
                    "Started", tx, 0, "CablePluggedIn", meterValue=meter(100, "Transaction.Begin")
                ),
                ("Authorize", {"idToken": token(tag)}),
                event(
                    "Updated",
                    tx,
                    1,
                    "Authorized",
                    idToken=token(tag),
                    info={"chargingState": "Charging"},
                ),
                event(
                    "Updated", tx, 2, "MeterValuePeriodic", meterValue=meter(900, "Sample.Periodic")
                ),
                event(
                    "Ended",
                    tx,
                    3,
                    "EVCommunicationLost",
                    meterValue=meter(1600, "Transaction.End"),
                    info={"stoppedReason": "EVDisconnected"},
                ),
                status("Available"),
            ],
        )
    )
    assert result[2] == {} and result[4] == {"idTokenInfo": {"status": "Accepted"}}
    async with sqlite_db.sessions() as session:
        row = await session.scalar(select(Transaction).where(Transaction.transaction_ref == tx))
    assert row is not None and (row.meter_start_wh, row.meter_stop_wh) == (100, 1600)


async def test_TC_E_02_CSMS_start_transaction_authorization_first(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    tx = str(uuid.uuid4())
    result = responses(
        await strict.run(
            ident,
            f"ocpp{version}",
            [
                BOOT,
                ("Authorize", {"idToken": token(tag)}),
                event(
                    "Started",
                    tx,
                    0,
                    "Authorized",
                    idToken=token(tag),
                    meterValue=meter(0, "Transaction.Begin"),
                ),
                event(
                    "Ended",
                    tx,
                    1,
                    "StopAuthorized",
                    idToken=token(tag),
                    meterValue=meter(500, "Transaction.End"),
                    info={"stoppedReason": "Local"},
                ),
            ],
        )
    )
    assert result[2]["idTokenInfo"]["status"] == "Accepted"
    assert result[3]["idTokenInfo"]["status"] == "Accepted"


async def test_TC_E_04_CSMS_transaction_started_while_offline(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    tx = str(uuid.uuid4())
    result = responses(
        await strict.run(
            ident,
            f"ocpp{version}",
            [
                BOOT,
                event(
                    "Started",
                    tx,
                    0,
                    "Authorized",
                    idToken=token(tag),
                    offline=True,
                    meterValue=meter(10, "Transaction.Begin"),
                ),
                event(
                    "Updated",
                    tx,
                    1,
                    "MeterValuePeriodic",
                    offline=True,
                    meterValue=meter(400, "Sample.Periodic"),
                ),
            ],
        )
    )
    assert result[1]["idTokenInfo"]["status"] == "Accepted"


async def test_TC_E_09_CSMS_unknown_token_in_transaction(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    tx = str(uuid.uuid4())
    result = responses(
        await strict.run(
            ident,
            f"ocpp{version}",
            [BOOT, event("Started", tx, 0, "Authorized", idToken=token("NOBODY"))],
        )
    )
    assert result[1]["idTokenInfo"]["status"] == "Unknown"


async def test_TC_J_01_CSMS_meter_values_outside_transaction(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    result = responses(
        await strict.run(
            ident,
            f"ocpp{version}",
            [BOOT, ("MeterValues", {"evseId": 0, "meterValue": meter(10_000, "Sample.Clock")})],
        )
    )
    assert result[1] == {}


async def test_TC_A_01_CSMS_basic_authentication(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db, password="octt-password-0123456789")
    (boot,) = responses(
        await strict.run(ident, f"ocpp{version}", [BOOT], password="octt-password-0123456789")
    )
    assert boot["status"] == "Accepted"
    refused = await strict.run(ident, f"ocpp{version}", [BOOT], password="not-the-password-0000")
    assert refused["connectError"] == "Unauthorized"


async def test_notifications_and_certificate_requests(
    strict: StrictCharger, sqlite_db: Database, version: str
) -> None:
    ident = await station(sqlite_db)
    result = responses(
        await strict.run(
            ident,
            f"ocpp{version}",
            [
                BOOT,
                ("SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": "$now"}),
                ("FirmwareStatusNotification", {"status": "Idle"}),
                ("LogStatusNotification", {"status": "Idle"}),
                (
                    "NotifyEvent",
                    {
                        "generatedAt": "$now",
                        "seqNo": 0,
                        "eventData": [
                            {
                                "eventId": 1,
                                "timestamp": "$now",
                                "trigger": "Delta",
                                "actualValue": "Faulted",
                                "eventNotificationType": "HardWiredNotification",
                                "component": {"name": "Connector"},
                                "variable": {"name": "AvailabilityState"},
                            }
                        ],
                    },
                ),
                ("SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
                ("DataTransfer", {"vendorId": "org.octt"}),
            ],
        )
    )
    assert result[5]["status"] == "Rejected" and result[6]["status"] == "UnknownVendorId"
