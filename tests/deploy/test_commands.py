"""Every charger command, API -> Temporal -> gateway node -> strict ocpp-rpc station -> back.

One stack (worker, gateway, API) and one live station per OCPP version serve the
module; each command is checked for what the station received (validated by
ocpp-rpc against the official schemas) and what the API answered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from activities.credentials import verify_password
from activities.persistence.models import Station
from deploy.stack import Stack
from tests.deploy.conftest import api_client, eventually
from tests.deploy.live_stations import booted_station, endpoint, now_iso, tx_started
from tests.gateway.conformance.station import StrictStation
from tests.helpers import seed_station

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One node for the whole module."""
    return module_stack


@pytest.fixture(scope="module")
def http(module_http: httpx.AsyncClient) -> httpx.AsyncClient:
    """Its API."""
    return module_http


@pytest.fixture(scope="module")
async def stations(stack: Stack) -> AsyncIterator[dict[str, StrictStation]]:
    """A booted strict station per version, by subprotocol."""
    connected = {p: await booted_station(stack, sid(p), p) for p in VERSIONS}
    yield connected
    for station in connected.values():
        await station.close()
        assert station.failures == [], station.failures


def sid(protocol: str) -> str:
    """The station id of the module's station speaking ``protocol``."""
    return f"CMD-{protocol.removeprefix('ocpp')}"


# (command, body, 1.6 action and expected params, 2.x action and expected params, reply checks)
CASES: list[
    tuple[
        str,
        dict[str, Any] | None,
        tuple[str, dict[str, Any]],
        tuple[str, dict[str, Any]],
        dict[str, Any],
    ]
] = [
    (
        "remote-stop",
        {"transaction_id": "42"},
        ("RemoteStopTransaction", {"transactionId": 42}),
        ("RequestStopTransaction", {"transactionId": "42"}),
        {"status": "Accepted"},
    ),
    (
        "reset",
        {"kind": "hard", "when": "idle"},
        ("Reset", {"type": "Hard"}),
        ("Reset", {"type": "OnIdle"}),
        {"status": "Accepted"},
    ),
    (
        "unlock-connector",
        {"evse_id": 1, "connector_id": 1},
        ("UnlockConnector", {"connectorId": 1}),
        ("UnlockConnector", {"evseId": 1, "connectorId": 1}),
        {"status": "Unlocked"},
    ),
    (
        "change-availability",
        {"operative": False},
        ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
        ("ChangeAvailability", {"operationalStatus": "Inoperative"}),
        {"status": "Accepted"},
    ),
    (
        "trigger-message",
        {"message": "StatusNotification", "evse_id": 1, "connector_id": 1},
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
        (
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
        ),
        {"status": "Accepted"},
    ),
    ("clear-cache", None, ("ClearCache", {}), ("ClearCache", {}), {"status": "Accepted"}),
    (
        "send-local-list",
        {
            "list_version": 4,
            "update_type": "Full",
            "entries": [{"id_token": "TAG-1"}, {"id_token": "TAG-2", "status": "Blocked"}],
        },
        (
            "SendLocalList",
            {
                "listVersion": 4,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "TAG-1", "idTagInfo": {"status": "Accepted"}},
                    {"idTag": "TAG-2", "idTagInfo": {"status": "Blocked"}},
                ],
            },
        ),
        (
            "SendLocalList",
            {
                "versionNumber": 4,
                "updateType": "Full",
                "localAuthorizationList": [
                    {
                        "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
                        "idTokenInfo": {"status": "Accepted"},
                    },
                    {
                        "idToken": {"idToken": "TAG-2", "type": "ISO14443"},
                        "idTokenInfo": {"status": "Blocked"},
                    },
                ],
            },
        ),
        {"status": "Accepted"},
    ),
    (
        "get-local-list-version",
        None,
        ("GetLocalListVersion", {}),
        ("GetLocalListVersion", {}),
        {"status": "Accepted", "data": {"list_version": 3}},
    ),
    (
        "data-transfer",
        {"vendor_id": "com.acme", "message_id": "ping", "data": "hello"},
        ("DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": "hello"}),
        ("DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": "hello"}),
        {"status": "Accepted", "data": {"data": "pong"}},
    ),
]


@pytest.mark.parametrize("protocol", VERSIONS)
@pytest.mark.parametrize(
    ("command", "body", "v16", "v2", "expect"), CASES, ids=[c[0] for c in CASES]
)
async def test_command_round_trip(
    http: httpx.AsyncClient,
    stations: dict[str, StrictStation],
    protocol: str,
    command: str,
    body: dict[str, Any] | None,
    v16: tuple[str, dict[str, Any]],
    v2: tuple[str, dict[str, Any]],
    expect: dict[str, Any],
) -> None:
    """The station receives the command in its version's form; the API returns its answer."""
    action, params = v16 if protocol == "ocpp1.6" else v2
    response = await http.post(f"/stations/{sid(protocol)}/commands/{command}", json=body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["action"] == action
    assert reply["ocpp_version"] == protocol.removeprefix("ocpp")
    for key, value in expect.items():
        assert reply[key] == value, reply
    assert await stations[protocol].next_command(action) == params


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_configuration_read_and_change(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """1.6 keys and 2.x Component.Variable names read and write the same way."""
    key = "HeartbeatInterval" if protocol == "ocpp1.6" else "OCPPCommCtrlr.HeartbeatInterval"
    base = f"/stations/{sid(protocol)}/commands"
    read = await http.post(f"{base}/get-configuration", json={"keys": [key]})
    assert read.status_code == 200, read.text
    assert read.json()["data"]["values"][0]["key"] == key
    assert read.json()["data"]["values"][0]["value"] == "300"
    change = await http.post(f"{base}/change-configuration", json={"key": key, "value": "60"})
    assert change.status_code == 200, change.text
    assert change.json()["status"] == "Accepted"
    station = stations[protocol]
    if protocol == "ocpp1.6":
        assert await station.next_command("GetConfiguration") == {"key": [key]}
        assert await station.next_command("ChangeConfiguration") == {"key": key, "value": "60"}
    else:
        wanted = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        assert await station.next_command("GetVariables") == {"getVariableData": [wanted]}
        assert await station.next_command("SetVariables") == {
            "setVariableData": [{**wanted, "attributeValue": "60"}]
        }
    stored = (await http.get(f"/stations/{sid(protocol)}/configuration")).json()
    assert {"key": key, "value": "60", "source": "ChangeConfiguration"}.items() <= next(
        v for v in stored if v["key"] == key
    ).items()


async def test_base_report_is_2x_only(
    http: httpx.AsyncClient, stations: dict[str, StrictStation]
) -> None:
    """GetBaseReport reaches a 2.0.1 station; a 1.6 station gets a 422 with the reason."""
    ok = await http.post(f"/stations/{sid('ocpp2.0.1')}/commands/get-base-report", json={})
    assert ok.status_code == 200, ok.text
    sent = await stations["ocpp2.0.1"].next_command("GetBaseReport")
    assert sent["reportBase"] == "FullInventory"
    # The report arrives in parts (tbc); each part's variables are kept.
    for seq, (component, variable, value, mutability) in enumerate(
        [
            ("SecurityCtrlr", "SecurityProfile", "1", "ReadOnly"),
            ("TxCtrlr", "EVConnectionTimeOut", "120", "ReadWrite"),
        ]
    ):
        await stations["ocpp2.0.1"].call(
            "NotifyReport",
            {
                "requestId": sent["requestId"],
                "generatedAt": "2030-01-01T00:00:00Z",
                "tbc": seq == 0,
                "seqNo": seq,
                "reportData": [
                    {
                        "component": {"name": component},
                        "variable": {"name": variable},
                        "variableAttribute": [{"value": value, "mutability": mutability}],
                    }
                ],
            },
        )
    stored = (await http.get(f"/stations/{sid('ocpp2.0.1')}/configuration")).json()
    reported = {
        v["key"]: (v["value"], v["readonly"]) for v in stored if v["source"] == "NotifyReport"
    }
    assert reported == {
        "SecurityCtrlr.SecurityProfile": ("1", True),
        "TxCtrlr.EVConnectionTimeOut": ("120", False),
    }
    refused = await http.post(f"/stations/{sid('ocpp1.6')}/commands/get-base-report", json={})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "CommandNotSupported"
    assert "1.6" in refused.json()["detail"][0]["msg"]


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_charger_rejecting_is_an_answer_not_an_error(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """A Rejected reset is a 200 carrying the charger's Rejected."""
    station = stations[protocol]
    await station.answer("Reset", {"status": "Rejected"})
    try:
        response = await http.post(f"/stations/{sid(protocol)}/commands/reset", json={})
        assert response.status_code == 200
        assert response.json()["status"] == "Rejected"
        assert response.json()["response"] == {"status": "Rejected"}
        await station.next_command("Reset")
    finally:
        await station.answer("Reset", {"status": "Accepted"})


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_charger_call_error_is_a_502_with_its_code(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """A CALLERROR from the charger is a 502 naming the charger's error code."""
    station = stations[protocol]
    await station.answer("ClearCache", {"$error": "InternalError"})
    try:
        response = await http.post(f"/stations/{sid(protocol)}/commands/clear-cache")
        assert response.status_code == 502, response.text
        detail = response.json()["detail"]
        assert detail["error"] == "ChargerError"
        assert detail["code"] == "InternalError"
        await station.next_command("ClearCache")
    finally:
        await station.answer("ClearCache", {"status": "Accepted"})


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_charger_not_answering_is_a_504(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """Silence: a 504 after the requested timeout, not a hang."""
    station = stations[protocol]
    await station.answer("UnlockConnector", {"$silent": True})
    try:
        began = time.monotonic()
        response = await http.post(
            f"/stations/{sid(protocol)}/commands/unlock-connector",
            params={"timeout_s": 1},
            json={},
        )
        assert response.status_code == 504, response.text
        assert response.json()["detail"]["error"] == "CommandTimeout"
        assert time.monotonic() - began < 5
        await station.next_command("UnlockConnector")
    finally:
        await station.answer("UnlockConnector", {"status": "Unlocked"})


async def test_offline_station_is_a_409_within_a_second(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """A registered station with no socket: 409 at once, and nothing is left queued."""
    await seed_station(stack.db, "CMD-OFFLINE")
    began = time.monotonic()
    response = await http.post("/stations/CMD-OFFLINE/commands/reset", json={})
    elapsed = time.monotonic() - began
    assert response.status_code == 409, response.text
    assert response.json()["detail"]["error"] == "StationOffline"
    assert "offline" in response.json()["detail"]["reason"]
    assert elapsed < 1.0, f"took {elapsed:.2f} s"


async def test_unknown_station_and_bad_bodies(http: httpx.AsyncClient) -> None:
    """404 for an unknown station; 422 with the field for a body the command cannot take."""
    assert (await http.post("/stations/NOPE/commands/reset", json={})).status_code == 404
    bad = await http.post(f"/stations/{sid('ocpp1.6')}/commands/reset", json={"kind": "warm"})
    assert bad.status_code == 422
    assert "kind" in bad.text
    negative = await http.post(
        f"/stations/{sid('ocpp1.6')}/commands/change-availability",
        json={"operative": True, "connector_id": -1},
    )
    assert negative.status_code == 422
    not_int = await http.post(
        f"/stations/{sid('ocpp1.6')}/commands/remote-stop", json={"transaction_id": "abc"}
    )
    assert not_int.status_code == 422
    assert not_int.json()["detail"][0]["type"] == "InvalidCommand"


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_remote_start_translates(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """A remote start reaches the station in its version's form."""
    start = await http.post(
        f"/stations/{sid(protocol)}/commands/remote-start",
        json={"id_token": "TAG-1", "evse_id": 1, "remote_start_id": 5},
    )
    assert start.status_code == 200, start.text
    assert start.json()["reply"]["status"] == "Accepted"
    assert start.json()["remote_start_id"] == 5
    station = stations[protocol]
    if protocol == "ocpp1.6":
        assert await station.next_command("RemoteStartTransaction") == {
            "connectorId": 1,
            "idTag": "TAG-1",
        }
    else:
        assert await station.next_command("RequestStartTransaction") == {
            "evseId": 1,
            "remoteStartId": 5,
            "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
        }


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_password_rotation(stack: Stack, protocol: str) -> None:
    """The station gets a generated password, accepts, and must use it from then on."""
    station_id = f"ROT-{protocol.removeprefix('ocpp')}"
    await seed_station(stack.db, station_id)
    station = await StrictStation.connect(endpoint(stack), station_id, protocol)
    try:
        async with api_client(stack) as http:
            response = await http.post(f"/stations/{station_id}/commands/rotate-password")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Accepted"
        if protocol == "ocpp1.6":
            sent = await station.next_command("ChangeConfiguration")
            assert sent["key"] == "AuthorizationKey"
            # The security whitepaper: 16-20 bytes written as hex; the station
            # decodes them and presents the bytes as its password.
            key = bytes.fromhex(sent["value"])
            assert 16 <= len(key) <= 20
            password = key.decode()
        else:
            sent = await station.next_command("SetVariables")
            data = sent["setVariableData"][0]
            assert data["component"] == {"name": "SecurityCtrlr"}
            assert data["variable"] == {"name": "BasicAuthPassword"}
            password = data["attributeValue"]
        assert password not in response.text
    finally:
        await station.close()
    async with stack.db.sessions() as session:
        row = await session.get(Station, station_id)
        assert row is not None and row.password_hash is not None
        assert verify_password(password, row.password_hash)
    with pytest.raises(ConnectionError):
        await StrictStation.connect(endpoint(stack), station_id, protocol, password="wrong" * 4)
    again = await StrictStation.connect(endpoint(stack), station_id, protocol, password=password)
    await again.close()


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_message_log_shows_commands_and_the_chargers_answers(
    stack: Stack, http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """Every exchange either way: the CALL, the answer, its timing; and what went wrong."""
    station = stations[protocol]
    response = await http.post(
        f"/stations/{sid(protocol)}/commands/data-transfer",
        json={"vendor_id": "com.acme", "message_id": "log-me"},
    )
    assert response.status_code == 200
    await station.next_command("DataTransfer")
    await station.answer("ClearCache", {"$error": "InternalError"})
    try:
        failed = await http.post(f"/stations/{sid(protocol)}/commands/clear-cache")
        assert failed.status_code == 502
        await station.next_command("ClearCache")
    finally:
        await station.answer("ClearCache")
    assert stack.gateway is not None
    await stack.gateway.message_log.flush()

    async def log_of(**params: str) -> list[dict[str, Any]]:
        found = await http.get(f"/stations/{sid(protocol)}/messages", params=params)
        assert found.status_code == 200, found.text
        return list(found.json())

    exchange = (await log_of(action="DataTransfer"))[0]
    assert exchange["direction"] == "out"
    assert exchange["request"] == {"vendorId": "com.acme", "messageId": "log-me"}
    assert exchange["response"] == {"status": "Accepted", "data": "pong"}
    assert exchange["error_code"] is None and exchange["duration_ms"] >= 0
    assert exchange["node_id"] == stack.settings.node_id
    refused = (await log_of(action="ClearCache"))[0]
    assert refused["error_code"] == "InternalError" and refused["response"]["description"]
    boot = (await log_of(action="BootNotification", direction="in"))[0]
    assert boot["response"]["status"] == "Accepted" and "interval" in boot["response"]
    assert (await http.get("/stations/NOPE/messages")).status_code == 404
    assert (
        await http.get(f"/stations/{sid(protocol)}/messages", params={"direction": "up"})
    ).status_code == 422


async def _start_and_stop(station: StrictStation, protocol: str, remote_start_id: int) -> str:
    """The charger's side of a remotely started session; its transaction id."""
    now = "2030-01-01T10:00:00Z"
    if protocol == "ocpp1.6":
        started = await station.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-R", "meterStart": 1000, "timestamp": now},
        )
        tx = str(started["transactionId"])
        await station.call(
            "StopTransaction",
            {"transactionId": int(tx), "meterStop": 4000, "timestamp": "2030-01-01T11:00:00Z"},
        )
        return tx
    tx = f"tx-remote-{remote_start_id}"
    common = {
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG-R", "type": "ISO14443"},
    }
    await station.call(
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": now,
            "triggerReason": "RemoteStart",
            "seqNo": 0,
            "transactionInfo": {"transactionId": tx, "remoteStartId": remote_start_id},
            "meterValue": [
                {
                    "timestamp": now,
                    "sampledValue": [{"value": 1000, "context": "Transaction.Begin"}],
                }
            ],
            **common,
        },
    )
    await station.call(
        "TransactionEvent",
        {
            "eventType": "Ended",
            "timestamp": "2030-01-01T11:00:00Z",
            "triggerReason": "EVCommunicationLost",
            "seqNo": 1,
            "transactionInfo": {"transactionId": tx, "stoppedReason": "EVDisconnected"},
            "meterValue": [
                {
                    "timestamp": "2030-01-01T11:00:00Z",
                    "sampledValue": [{"value": 4000, "context": "Transaction.End"}],
                }
            ],
        },
    )
    return tx


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_remote_start_session_is_correlated_to_the_chargers_transaction(
    stack: Stack, http: httpx.AsyncClient, protocol: str
) -> None:
    """The session workflow exists before the transaction; the charger's transaction
    joins it (2.x by remoteStartId, 1.6 by id tag) and it ends with the CDR."""
    station_id = f"RS-{protocol.removeprefix('ocpp')}"
    await seed_station(stack.db, station_id, site_id="rs-site", tokens={"TAG-R": "accepted"})
    station = await StrictStation.connect(endpoint(stack), station_id, protocol)
    try:
        # A local session first: the gateway then stops checking for remote starts
        # on this connection until it sends one itself.
        if protocol == "ocpp1.6":
            local = await station.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": "TAG-R", "meterStart": 0, "timestamp": now_iso()},
            )
            await station.call(
                "StopTransaction",
                {"transactionId": local["transactionId"], "meterStop": 0, "timestamp": now_iso()},
            )
        else:
            await station.call(
                "TransactionEvent",
                tx_started("local-first"),
            )
        response = await http.post(
            f"/stations/{station_id}/commands/remote-start",
            json={"id_token": "TAG-R", "evse_id": 1},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["reply"]["status"] == "Accepted"
        workflow_id = body["workflow_id"]
        assert workflow_id == f"session:{station_id}:remote-{body['remote_start_id']}"
        tx = await _start_and_stop(station, protocol, body["remote_start_id"])
    finally:
        await station.close()
    client = stack.worker.client if stack.worker is not None else None
    assert client is not None
    cdr = await client.get_workflow_handle(workflow_id).result()
    assert cdr["energy_wh"] == 3000 and cdr["transaction_id"] == tx
    sessions = (await http.get("/sessions", params={"station_id": station_id})).json()
    by_workflow = {s["workflow_id"]: s for s in sessions}
    assert workflow_id in by_workflow and len(sessions) == 2


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_remote_start_rejected_or_never_started(
    stack: Stack, http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """Rejected: the API says so and the workflow ends not_started; accepted but no
    transaction within the start timeout: not_started too."""
    station = stations[protocol]
    base = f"/stations/{sid(protocol)}/commands/remote-start"
    action = "RemoteStartTransaction" if protocol == "ocpp1.6" else "RequestStartTransaction"
    await station.answer(action, {"status": "Rejected"})
    try:
        rejected = await http.post(base, json={"id_token": "TAG-X", "evse_id": 1})
    finally:
        await station.answer(action, {"status": "Accepted"})
    assert rejected.status_code == 200 and rejected.json()["reply"]["status"] == "Rejected"
    assert stack.worker is not None
    client = stack.worker.client
    assert await client.get_workflow_handle(rejected.json()["workflow_id"]).result() is None
    never = await http.post(
        base, params={"start_timeout_s": 0.5}, json={"id_token": "TAG-X", "evse_id": 1}
    )
    assert never.status_code == 200 and never.json()["reply"]["status"] == "Accepted"
    handle = client.get_workflow_handle(never.json()["workflow_id"])
    assert await handle.result() is None
    view = await handle.query("state")
    assert view["state"] == "not_started"
    await station.next_command(action)
    await station.next_command(action)


async def test_configuration_push_to_a_mixed_fleet(
    stack: Stack, http: httpx.AsyncClient, stations: dict[str, StrictStation]
) -> None:
    """One change to a 1.6, a 2.0.1 and an offline station: each outcome is reported."""
    await seed_station(stack.db, "CMD-PUSH-OFF")
    targets = [sid("ocpp1.6"), sid("ocpp2.0.1"), "CMD-PUSH-OFF"]
    started = await http.post(
        "/configuration-pushes",
        json={
            "key": "HeartbeatInterval",
            "key_2x": "OCPPCommCtrlr.HeartbeatInterval",
            "value": "120",
            "station_ids": targets,
        },
    )
    assert started.status_code == 202, started.text
    push_id = started.json()["push_id"]
    assert started.json()["total"] == 3

    async def finished() -> dict[str, Any] | None:
        progress = (await http.get(f"/configuration-pushes/{push_id}")).json()
        return progress if progress["done"] else None

    progress = await eventually(finished)
    assert progress["by_status"] == {"Accepted": 2, "StationOffline": 1}
    assert {o["station_id"] for o in progress["outcomes"]} == set(targets)
    assert await stations["ocpp1.6"].next_command("ChangeConfiguration") == {
        "key": "HeartbeatInterval",
        "value": "120",
    }
    set_variables = await stations["ocpp2.0.1"].next_command("SetVariables")
    assert set_variables["setVariableData"][0]["variable"] == {"name": "HeartbeatInterval"}


async def test_configuration_push_refusals(http: httpx.AsyncClient) -> None:
    """No targets, unknown stations, an unknown push: clear 4xx answers."""
    none = await http.post("/configuration-pushes", json={"key": "A", "value": "1"})
    assert none.status_code == 422
    unknown = await http.post(
        "/configuration-pushes", json={"key": "A", "value": "1", "station_ids": ["NOPE-1"]}
    )
    assert unknown.status_code == 422 and "NOPE-1" in unknown.text
    assert (await http.get("/configuration-pushes/nope")).status_code == 404


async def _reservations(http: httpx.AsyncClient, station_id: str) -> dict[int, str]:
    rows = (await http.get(f"/stations/{station_id}/reservations")).json()
    return {r["id"]: r["status"] for r in rows}


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_reservation_holds_the_connector_for_its_token(stack: Stack, protocol: str) -> None:
    """ReserveNow in the version's form; another token is refused on the reserved
    connector; the reserved token's transaction uses the reservation."""
    station_id = f"RSV-{protocol.removeprefix('ocpp')}"
    await seed_station(
        stack.db, station_id, tokens={"TAG-HOLDER": "accepted", "TAG-OTHER": "accepted"}
    )
    station = await StrictStation.connect(endpoint(stack), station_id, protocol)
    async with api_client(stack) as http:
        try:
            made = await http.post(
                f"/stations/{station_id}/reservations",
                json={
                    "id_token": "TAG-HOLDER",
                    "expires_at": "2099-01-01T00:00:00Z",
                    "connector_id": 1,
                    "evse_id": 1,
                },
            )
            assert made.status_code == 200, made.text
            rid = made.json()["reservation_id"]
            assert made.json()["reply"]["status"] == "Accepted"
            sent = await station.next_command("ReserveNow")
            assert sent.get("reservationId", sent.get("id")) == rid
            assert await _reservations(http, station_id) == {rid: "active"}
            if protocol == "ocpp1.6":
                start = {"connectorId": 1, "meterStart": 0, "timestamp": now_iso()}
                other = await station.call("StartTransaction", {**start, "idTag": "TAG-OTHER"})
                assert other["idTagInfo"]["status"] == "Invalid"
                stop = {"meterStop": 0, "timestamp": now_iso()}
                await station.call(
                    "StopTransaction", {**stop, "transactionId": other["transactionId"]}
                )
                mine = await station.call(
                    "StartTransaction", {**start, "idTag": "TAG-HOLDER", "reservationId": rid}
                )
                assert mine["idTagInfo"]["status"] == "Accepted"
            else:
                for n, token in enumerate(("TAG-OTHER", "TAG-HOLDER")):
                    answer = await station.call("TransactionEvent", tx_started(f"rsv-{n}", token))
                    expected = "Invalid" if token == "TAG-OTHER" else "Accepted"
                    assert answer["idTokenInfo"]["status"] == expected
            assert await _reservations(http, station_id) == {rid: "used"}
            assert stack.worker is not None
            handle = stack.worker.client.get_workflow_handle(made.json()["workflow_id"])
            assert await handle.result() == "used"
        finally:
            await station.close()


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_reservation_cancel_expiry_and_rejection(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """Cancel sends CancelReservation; an unused reservation expires on its durable
    timer; a ReserveNow the charger rejects is recorded as rejected."""
    station, station_id = stations[protocol], sid(protocol)
    base = f"/stations/{station_id}/reservations"
    later = {"id_token": "TAG-1", "expires_at": "2099-01-01T00:00:00Z", "evse_id": 1}
    cancelled = (await http.post(base, json=later)).json()["reservation_id"]
    await station.next_command("ReserveNow")
    gone = await http.delete(f"{base}/{cancelled}")
    assert gone.status_code == 200, gone.text
    assert gone.json()["status"] == "Accepted"
    assert await station.next_command("CancelReservation") == {"reservationId": cancelled}
    assert (await http.delete(f"{base}/{cancelled}")).status_code in (404, 409)

    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    expiring = (await http.post(base, json={**later, "expires_at": soon})).json()
    await station.next_command("ReserveNow")

    await station.answer("ReserveNow", {"status": "Occupied"})
    try:
        refused = (await http.post(base, json=later)).json()
    finally:
        await station.answer("ReserveNow", {"status": "Accepted"})
    await station.next_command("ReserveNow")
    assert refused["reply"]["status"] == "Occupied"

    async def settled() -> dict[int, str] | None:
        states = await _reservations(http, station_id)
        return states if states.get(expiring["reservation_id"]) == "expired" else None

    states = await eventually(settled, timeout=15)
    assert states[cancelled] == "cancelled"
    assert states[refused["reservation_id"]] == "rejected"
    past = await http.post(base, json={**later, "expires_at": "2001-01-01T00:00:00Z"})
    assert past.status_code == 422


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_log_upload_from_request_to_file(
    stack: Stack, http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """GetDiagnostics / GetLog with an upload URL; the charger's status notifications are
    tracked; the file arrives at the URL, is downloadable, and ends the workflow."""
    station, station_id = stations[protocol], sid(protocol)
    made = await http.post(f"/stations/{station_id}/log-uploads", json={})
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["reply"]["status"] == "Accepted"
    location, request_id = body["location"], body["request_id"]
    if protocol == "ocpp1.6":
        assert await station.next_command("GetDiagnostics") == {"location": location}
        await station.call("DiagnosticsStatusNotification", {"status": "Uploading"})
    else:
        sent = await station.next_command("GetLog")
        assert sent["log"] == {"remoteLocation": location} and sent["requestId"] == request_id
        await station.call(
            "LogStatusNotification", {"status": "Uploading", "requestId": request_id}
        )

    async def status_is(wanted: str) -> bool:
        rows = (await http.get(f"/stations/{station_id}/log-uploads")).json()
        return any(r["request_id"] == request_id and r["status"] == wanted for r in rows)

    await eventually(lambda: status_is("Uploading"))
    content = b"PK\x03\x04 diagnostics of " + station_id.encode()
    async with httpx.AsyncClient() as charger_http:  # no API key: the URL's token
        put = await charger_http.put(location + "diag.zip", content=content)
    assert put.status_code == 200, put.text
    if protocol == "ocpp1.6":
        await station.call("DiagnosticsStatusNotification", {"status": "Uploaded"})
    else:
        await station.call("LogStatusNotification", {"status": "Uploaded", "requestId": request_id})
    assert stack.worker is not None
    result = await stack.worker.client.get_workflow_handle(body["workflow_id"]).result()
    assert result == "received"
    got = await http.get(f"/stations/{station_id}/log-uploads/{request_id}/file")
    assert got.status_code == 200 and got.content == content
    # One use: a second upload to the same URL is refused and replaces nothing.
    async with httpx.AsyncClient() as charger_http:
        again = await charger_http.put(location + "diag.zip", content=b"replaced")
    assert again.status_code == 410, again.text
    got = await http.get(f"/stations/{station_id}/log-uploads/{request_id}/file")
    assert got.content == content
    rows = (await http.get(f"/stations/{station_id}/log-uploads")).json()
    mine = next(r for r in rows if r["request_id"] == request_id)
    assert mine["size_bytes"] == len(content) and mine["file_name"] == "diag.zip"
    assert "token" not in mine
    async with httpx.AsyncClient() as stranger:
        assert (
            await stranger.put(location.replace("/uploads/", "/uploads/x") + "f.zip", content=b"x")
        ).status_code == 404


async def test_an_upload_url_expires_and_a_slow_upload_holds_no_database_connection(
    stack: Stack, http: httpx.AsyncClient, stations: dict[str, StrictStation]
) -> None:
    """While a charger streams its file slowly, the API keeps answering (SQLite has one
    connection, shared with the gateway); an expired URL is refused."""
    import asyncio

    from sqlalchemy import update

    from activities.persistence.models import LogUpload

    station_id = sid("ocpp1.6")
    made = (await http.post(f"/stations/{station_id}/log-uploads", json={})).json()
    await stations["ocpp1.6"].next_command("GetDiagnostics")

    async def slowly() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 1024
            await asyncio.sleep(1.0)

    async with httpx.AsyncClient(timeout=30) as charger_http:
        upload = asyncio.create_task(
            charger_http.put(made["location"] + "slow.bin", content=slowly())
        )
        await asyncio.sleep(0.5)
        began = time.monotonic()
        assert (await http.get("/cdrs", params={"limit": 1})).status_code == 200
        assert time.monotonic() - began < 1.0, "the API waited behind the upload"
        assert (await upload).status_code == 200
    late = (await http.post(f"/stations/{station_id}/log-uploads", json={})).json()
    await stations["ocpp1.6"].next_command("GetDiagnostics")
    async with stack.db.sessions.begin() as session:
        await session.execute(
            update(LogUpload)
            .where(LogUpload.workflow_id == late["workflow_id"])
            .values(token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    async with httpx.AsyncClient() as charger_http:
        expired = await charger_http.put(late["location"] + "late.bin", content=b"late")
    assert expired.status_code == 410


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_log_upload_refused_by_the_charger(
    stack: Stack, http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    """No diagnostics (1.6: no file name) or Rejected (2.x): recorded as rejected."""
    station, station_id = stations[protocol], sid(protocol)
    action = "GetDiagnostics" if protocol == "ocpp1.6" else "GetLog"
    await station.answer(action, {} if protocol == "ocpp1.6" else {"status": "Rejected"})
    try:
        made = (await http.post(f"/stations/{station_id}/log-uploads", json={})).json()
    finally:
        await station.answer(
            action,
            {"fileName": "diagnostics.zip"} if protocol == "ocpp1.6" else {"status": "Accepted"},
        )
    await station.next_command(action)
    assert made["reply"]["status"] in ("NoLogs", "Rejected")
    assert stack.worker is not None
    assert await stack.worker.client.get_workflow_handle(made["workflow_id"]).result() == "rejected"


async def test_2x_reservation_status_update_ends_the_reservation(
    stack: Stack, http: httpx.AsyncClient, stations: dict[str, StrictStation]
) -> None:
    """A 2.x station that expires or removes a reservation itself says so; the
    reservation is no longer active (and no longer refuses other tokens)."""
    station, station_id = stations["ocpp2.0.1"], sid("ocpp2.0.1")
    made = await http.post(
        f"/stations/{station_id}/reservations",
        json={"id_token": "TAG-1", "expires_at": "2099-01-01T00:00:00Z", "evse_id": 1},
    )
    rid = made.json()["reservation_id"]
    await station.next_command("ReserveNow")
    await station.call(
        "ReservationStatusUpdate", {"reservationId": rid, "reservationUpdateStatus": "Removed"}
    )
    assert (await _reservations(http, station_id))[rid] == "removed"
    workflow = made.json()["workflow_id"]
    assert stack.worker is not None
    assert await stack.worker.client.get_workflow_handle(workflow).result() == "removed"


async def test_oversized_upload_is_refused_and_leaves_nothing(
    stack: Stack,
    http: httpx.AsyncClient,
    stations: dict[str, StrictStation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond the size limit: 413, no partial file kept, the upload not marked received."""
    from api.routers import log_uploads

    monkeypatch.setattr(log_uploads, "MAX_UPLOAD_BYTES", 16)
    station_id = sid("ocpp1.6")
    made = (await http.post(f"/stations/{station_id}/log-uploads", json={})).json()
    await stations["ocpp1.6"].next_command("GetDiagnostics")
    async with httpx.AsyncClient() as charger_http:
        put = await charger_http.put(made["location"] + "big.zip", content=b"x" * 64)
    assert put.status_code == 413
    folder = stack.settings.data_dir / "uploads" / station_id
    assert not list(folder.glob(f"{made['request_id']}-*"))
    rows = (await http.get(f"/stations/{station_id}/log-uploads")).json()
    mine = next(r for r in rows if r["request_id"] == made["request_id"])
    assert mine["status"] != "received" and mine["size_bytes"] is None
