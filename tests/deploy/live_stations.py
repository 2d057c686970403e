"""Strict ocpp-rpc stations connected to a running stack, for command tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deploy.stack import Stack
from tests.gateway.conformance.station import StrictStation
from tests.helpers import seed_station


def endpoint(stack: Stack) -> str:
    """The stack gateway's URL prefix."""
    assert stack.gateway is not None
    return f"ws://127.0.0.1:{stack.gateway.port}/ocpp"


async def booted_station(
    stack: Stack, station_id: str, protocol: str, **seed: Any
) -> StrictStation:
    """Register ``station_id``, connect it speaking ``protocol`` and boot it (Accepted)."""
    await seed_station(stack.db, station_id, **seed)
    station = await StrictStation.connect(endpoint(stack), station_id, protocol)
    boot: dict[str, Any]
    if protocol == "ocpp1.6":
        boot = {"chargePointVendor": "Acme", "chargePointModel": "AC-22"}
    else:
        boot = {"chargingStation": {"vendorName": "Acme", "model": "AC-22"}, "reason": "PowerUp"}
    answer = await station.call("BootNotification", boot)
    assert answer["status"] == "Accepted", answer
    return station


def now_iso() -> str:
    """The current time as OCPP writes it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def tx_started(transaction_id: str, token: str | None = None) -> dict[str, Any]:
    """A 2.x TransactionEvent Started on EVSE 1, connector 1 (authorized by ``token``)."""
    event: dict[str, Any] = {
        "eventType": "Started",
        "timestamp": now_iso(),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": transaction_id},
        "evse": {"id": 1, "connectorId": 1},
    }
    if token is not None:
        event["idToken"] = {"idToken": token, "type": "ISO14443"}
    return event


async def next_profile(station: StrictStation, wanted: str, timeout: float = 30) -> dict[str, Any]:
    """The next SetChargingProfile of purpose ``wanted`` the station receives."""
    while True:
        request = await station.next_command("SetChargingProfile", timeout=timeout)
        body = request.get("csChargingProfiles") or request.get("chargingProfile") or {}
        if body.get("chargingProfilePurpose") == wanted:
            return request
