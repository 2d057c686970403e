"""OCPP 1.6 conformance (OCTT TC_xxx_CSMS cases that need no CSMS-initiated command),
played by a strict ocpp-rpc charger."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from activities.credentials import hash_password
from activities.persistence.database import Database
from activities.persistence.models import IdToken, ReconciliationItem, Transaction
from tests.conftest import unique
from tests.gateway.conformance.conftest import StrictCharger, responses
from tests.helpers import seed_station

BOOT = ("BootNotification", {"chargePointVendor": "OCTT", "chargePointModel": "TestCP"})
AVAILABLE = (
    "StatusNotification",
    {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
)


def status(state: str) -> tuple[str, dict[str, Any]]:
    return (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": state, "timestamp": "$now"},
    )


def start(tag: str, meter: int = 1000, when: str = "$now") -> tuple[str, dict[str, Any]]:
    return (
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": meter, "timestamp": when},
    )


def stop(step: int, meter: int, tag: str | None = None, **extra: Any) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {
        "transactionId": f"${step}.transactionId",
        "meterStop": meter,
        "timestamp": "$now",
        **extra,
    }
    if tag:
        params["idTag"] = tag
    return ("StopTransaction", params)


async def station(
    db: Database, tokens: dict[str, str] | None = None, password: str | None = None
) -> str:
    ident = unique("OCTT")
    await seed_station(
        db,
        ident,
        site_id="octt",
        password_hash=hash_password(password) if password else None,
        tokens=tokens,
    )
    return ident


async def test_TC_001_CSMS_cold_boot(strict: StrictCharger, sqlite_db: Database) -> None:
    ident = await station(sqlite_db)
    boot, heartbeat, _ = responses(
        await strict.run(ident, "ocpp1.6", [BOOT, ("Heartbeat", {}), AVAILABLE])
    )
    assert boot["status"] == "Accepted" and boot["interval"] > 0
    assert boot["currentTime"].endswith("Z") and heartbeat["currentTime"].endswith("Z")


async def test_TC_003_CSMS_regular_session_plugin_first(
    strict: StrictCharger, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    result = responses(
        await strict.run(
            ident,
            "ocpp1.6",
            [
                BOOT,
                status("Preparing"),
                ("Authorize", {"idTag": tag}),
                start(tag),
                status("Charging"),
                (
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "transactionId": "$3.transactionId",
                        "meterValue": [
                            {"timestamp": "$now", "sampledValue": [{"value": "1500", "unit": "Wh"}]}
                        ],
                    },
                ),
                stop(3, 2500, tag, reason="EVDisconnected"),
                status("Finishing"),
                status("Available"),
            ],
        )
    )
    assert result[2] == {"idTagInfo": {"status": "Accepted"}}
    assert result[3]["idTagInfo"] == {"status": "Accepted"}
    assert result[6] == {"idTagInfo": {"status": "Accepted"}}
    async with sqlite_db.sessions() as session:
        tx = await session.get(Transaction, result[3]["transactionId"])
    assert tx is not None and (tx.meter_start_wh, tx.meter_stop_wh) == (1000, 2500)


async def test_TC_004_1_CSMS_regular_session_identification_first(
    strict: StrictCharger, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    result = responses(
        await strict.run(
            ident,
            "ocpp1.6",
            [
                BOOT,
                ("Authorize", {"idTag": tag}),
                status("Preparing"),
                start(tag),
                stop(3, 1800, tag, reason="Local"),
            ],
        )
    )
    assert result[1]["idTagInfo"]["status"] == "Accepted"
    assert isinstance(result[3]["transactionId"], int)


async def test_TC_005_1_CSMS_ev_side_disconnected(
    strict: StrictCharger, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    result = responses(
        await strict.run(
            ident,
            "ocpp1.6",
            [
                BOOT,
                start(tag),
                status("SuspendedEV"),
                stop(1, 1900, reason="EVDisconnected"),
                status("Available"),
            ],
        )
    )
    assert result[3] == {}  # no idTag in the stop: nothing to authorize


@pytest.mark.parametrize(
    ("case", "standing", "answer"),
    [
        ("TC_023_1", "invalid", "Invalid"),
        ("TC_023_2", "expired", "Expired"),
        ("TC_023_3", "blocked", "Blocked"),
    ],
)
async def test_TC_023_CSMS_start_charging_not_authorized(
    strict: StrictCharger, sqlite_db: Database, case: str, standing: str, answer: str
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db)
    if standing != "invalid":
        async with sqlite_db.sessions.begin() as session:
            session.add(
                IdToken(
                    id_token=tag,
                    status="blocked" if standing == "blocked" else "accepted",
                    expires_at=__import__("datetime").datetime(
                        2020, 1, 1, tzinfo=__import__("datetime").UTC
                    )
                    if standing == "expired"
                    else None,
                )
            )
    (_, authorize) = responses(
        await strict.run(ident, "ocpp1.6", [BOOT, ("Authorize", {"idTag": tag})])
    )
    assert authorize["idTagInfo"]["status"] == answer, case


async def test_TC_032_1_CSMS_power_failure_stops_transaction_on_boot(
    strict: StrictCharger, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    first = responses(await strict.run(ident, "ocpp1.6", [BOOT, start(tag)]))
    tx = first[1]["transactionId"]
    # The station loses power, reboots and reports the stop it could not send before.
    result = responses(
        await strict.run(
            ident,
            "ocpp1.6",
            [
                ("BootNotification", {"chargePointVendor": "OCTT", "chargePointModel": "TestCP"}),
                (
                    "StopTransaction",
                    {
                        "transactionId": tx,
                        "meterStop": 1300,
                        "timestamp": "$now",
                        "reason": "PowerLoss",
                    },
                ),
                AVAILABLE,
            ],
        )
    )
    assert result[1] == {}
    async with sqlite_db.sessions() as session:
        row = await session.get(Transaction, tx)
    assert row is not None and row.stop_reason == "PowerLoss"


async def test_TC_037_1_CSMS_offline_start_transaction(
    strict: StrictCharger, sqlite_db: Database
) -> None:
    tag = unique("T")[:20]
    ident = await station(sqlite_db, {tag: "accepted"})
    # Messages queued while offline arrive with timestamps in the past.
    result = responses(
        await strict.run(
            ident,
            "ocpp1.6",
            [
                BOOT,
                start(tag, 500, "2026-01-01T08:00:00.000Z"),
                (
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "transactionId": "$1.transactionId",
                        "meterValue": [
                            {
                                "timestamp": "2026-01-01T08:30:00.000Z",
                                "sampledValue": [{"value": "900"}],
                            }
                        ],
                    },
                ),
                (
                    "StopTransaction",
                    {
                        "transactionId": "$1.transactionId",
                        "meterStop": 1500,
                        "timestamp": "2026-01-01T09:00:00.000Z",
                        "reason": "Local",
                    },
                ),
            ],
        )
    )
    assert result[1]["idTagInfo"]["status"] == "Accepted"


async def test_TC_039_CSMS_offline_transaction_unknown_id(
    strict: StrictCharger, sqlite_db: Database
) -> None:
    ident = await station(sqlite_db)
    result = responses(
        await strict.run(
            ident,
            "ocpp1.6",
            [
                BOOT,
                (
                    "StopTransaction",
                    {"transactionId": 987_654_321, "meterStop": 5, "timestamp": "$now"},
                ),
            ],
        )
    )
    assert result[1] == {}  # acknowledged, never rejected
    async with sqlite_db.sessions() as session:
        items = (
            await session.scalars(
                select(ReconciliationItem).where(ReconciliationItem.station_id == ident)
            )
        ).all()
    assert len(items) == 1


async def test_TC_085_CSMS_basic_authentication_valid(
    strict: StrictCharger, sqlite_db: Database
) -> None:
    ident = await station(sqlite_db, password="octt-password-0123456789")
    (boot,) = responses(
        await strict.run(ident, "ocpp1.6", [BOOT], password="octt-password-0123456789")
    )
    assert boot["status"] == "Accepted"


@pytest.mark.parametrize("password", [None, "wrong-password-0123456789"])
async def test_basic_authentication_with_a_wrong_or_missing_password_is_refused(
    strict: StrictCharger, sqlite_db: Database, password: str | None
) -> None:
    ident = await station(sqlite_db, password="octt-password-0123456789")
    result = await strict.run(ident, "ocpp1.6", [BOOT], password=password)
    assert result["connectError"] == "Unauthorized"


async def test_data_transfer_and_notifications(strict: StrictCharger, sqlite_db: Database) -> None:
    ident = await station(sqlite_db)
    result = responses(
        await strict.run(
            ident,
            "ocpp1.6",
            [
                BOOT,
                ("DataTransfer", {"vendorId": "com.octt"}),
                ("FirmwareStatusNotification", {"status": "Installed"}),
                ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
            ],
        )
    )
    assert result[1:] == [{"status": "UnknownVendorId"}, {}, {}]
