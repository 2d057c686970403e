"""Several values in one command (block B): split as the station's ItemsPerMessage and
BytesPerMessage allow (2.x), one ChangeConfiguration each (1.6); one reply with
each value's result, and only the values taken stored as its configuration."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from activities.persistence.database import Database
from activities.persistence.models import Station
from activities.persistence.repositories import station_variables
from gateway.server import Gateway
from gateway.timestamps import utcnow
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect
from tests.helpers import seed_station
from workflows.commands import CommandRequest, GetConfiguration, Setting, SetVariables
from workflows.domain import ReportedVariable

BOOT_2 = {"chargingStation": {"vendorName": "ACME", "model": "B-22"}, "reason": "PowerUp"}
BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "B-16"}


class Answering:
    """Answers the CSMS's CALLs on a socket: SetVariables / ChangeConfiguration
    accepted except keys in ``refuse``; GetVariables with a value per variable."""

    def __init__(self, ws: ClientConnection, refuse: set[str]) -> None:
        self.ws, self.refuse = ws, refuse
        self.frames: list[str] = []

    async def run(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame[0] != 2:
                continue
            self.frames.append(str(raw))
            _, message_id, action, payload = frame
            await self.ws.send(json.dumps([3, message_id, self._answer(action, payload)]))

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "ChangeConfiguration":
            return {"status": "Rejected" if payload["key"] in self.refuse else "Accepted"}
        if action == "GetConfiguration":
            return {
                "configurationKey": [
                    {"key": k, "readonly": False, "value": "1"} for k in payload["key"]
                ]
            }
        if action == "SetVariables":
            return {
                "setVariableResult": [
                    {
                        "attributeStatus": "Rejected"
                        if f"{d['component']['name']}.{d['variable']['name']}" in self.refuse
                        else "Accepted",
                        "component": d["component"],
                        "variable": d["variable"],
                    }
                    for d in payload["setVariableData"]
                ]
            }
        return {
            "getVariableResult": [
                {"attributeStatus": "Accepted", "attributeValue": "1", **d}
                for d in payload["getVariableData"]
            ]
        }

    def calls(self, action: str) -> list[dict[str, Any]]:
        """The payloads of ``action`` the station received, in order."""
        return [json.loads(f)[3] for f in self.frames if json.loads(f)[2] == action]


@pytest.fixture
async def limited_station(sqlite_db: Database) -> str:
    ident = unique("BATCH")
    await seed_station(sqlite_db, ident)
    async with sqlite_db.sessions.begin() as session:
        await station_variables.upsert_many(
            session,
            ident,
            [
                ReportedVariable("DeviceDataCtrlr.ItemsPerMessage[SetVariables]", "2", True),
                ReportedVariable("DeviceDataCtrlr.ItemsPerMessage[GetVariables]", "3", True),
                ReportedVariable("DeviceDataCtrlr.BytesPerMessage[SetVariables]", "340", True),
            ],
            source="NotifyReport",
            at=utcnow(),
        )
    return ident


async def _answering(
    gateway: Gateway, ident: str, protocol: str, refuse: set[str]
) -> AsyncIterator[Answering]:
    ws = await connect(gateway, ident, protocol)
    await RawCharger(ws).ok("BootNotification", BOOT_16 if protocol == "ocpp1.6" else BOOT_2)
    station = Answering(ws, refuse)
    task = asyncio.create_task(station.run())
    try:
        yield station
    finally:
        task.cancel()
        await ws.close()


async def test_TC_B_set_variables_are_split_by_items_and_bytes_per_message(
    gateway: Gateway, sqlite_db: Database, limited_station: str
) -> None:
    settings = [Setting(f"Ctrlr.V{n}", "x" * (150 if n == 4 else 2)) for n in range(6)]
    async for station in _answering(gateway, limited_station, "ocpp2.0.1", {"Ctrlr.V2"}):
        reply = await gateway.commands.send(
            CommandRequest.of(limited_station, SetVariables(settings), "set-1")
        )
        sizes = [len(p["setVariableData"]) for p in station.calls("SetVariables")]
        frames = [f for f in station.frames if '"SetVariables"' in f]
    # Two per message, and each message within 340 bytes: V4 goes alone
    # since it and V5 would not fit.
    assert sum(sizes) == 6 and max(sizes) <= 2
    assert all(len(f.encode()) <= 340 for f in frames)
    assert sizes == [2, 2, 1, 1]  # V4 with V5 would pass 340 bytes
    assert reply.status == "Rejected"
    assert [(r["key"], r["status"]) for r in reply.data["results"]] == [
        (f"Ctrlr.V{n}", "Rejected" if n == 2 else "Accepted") for n in range(6)
    ]
    async with sqlite_db.sessions() as session:
        stored = {
            v.key for v in await station_variables.of_station(session, limited_station, "Ctrlr.")
        }
    assert stored == {f"Ctrlr.V{n}" for n in (0, 1, 3, 4, 5)}


async def test_get_variables_are_split_by_items_per_message(
    gateway: Gateway, limited_station: str
) -> None:
    keys = [f"Ctrlr.V{n}" for n in range(7)]
    async for station in _answering(gateway, limited_station, "ocpp2.0.1", set()):
        reply = await gateway.commands.send(
            CommandRequest.of(limited_station, GetConfiguration(keys), "get-1")
        )
        sizes = [len(p["getVariableData"]) for p in station.calls("GetVariables")]
    assert sizes == [3, 3, 1]
    assert [v["key"] for v in reply.data["values"]] == keys


async def test_TC_1_6_several_values_are_one_change_configuration_each(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = unique("BATCH16")
    await seed_station(sqlite_db, ident)
    settings = [Setting("HeartbeatInterval", "60"), Setting("SecurityProfile", "2")]
    async for station in _answering(gateway, ident, "ocpp1.6", set()):
        reply = await gateway.commands.send(CommandRequest.of(ident, SetVariables(settings), "s"))
        sent = station.calls("ChangeConfiguration")
    assert sent == [
        {"key": "HeartbeatInterval", "value": "60"},
        {"key": "SecurityProfile", "value": "2"},
    ]
    assert reply.status == "Accepted" and len(reply.response["parts"]) == 2
    # The upgrade among them is kept as the profile the station moves to.
    async with sqlite_db.sessions() as session:
        row = await session.get(Station, ident)
        assert row is not None and row.pending_security_profile == 2


def test_a_password_cannot_travel_in_set_variables() -> None:
    with pytest.raises(ValueError, match="rotate-password"):
        Setting("SecurityCtrlr.basicauthpassword", "x" * 20)


async def test_TC_1_6_get_configuration_keeps_to_get_configuration_max_keys(
    gateway: Gateway, sqlite_db: Database
) -> None:
    ident = unique("BATCH16")
    await seed_station(sqlite_db, ident)
    async with sqlite_db.sessions.begin() as session:
        await station_variables.upsert_many(
            session,
            ident,
            [ReportedVariable("GetConfigurationMaxKeys", "2", True)],
            source="GetConfiguration",
            at=utcnow(),
        )
    keys = ["HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut"]
    async for station in _answering(gateway, ident, "ocpp1.6", set()):
        reply = await gateway.commands.send(CommandRequest.of(ident, GetConfiguration(keys), "g"))
        sent = station.calls("GetConfiguration")
    assert sent == [{"key": keys[:2]}, {"key": keys[2:]}]
    assert [v["key"] for v in reply.data["values"]] == keys
